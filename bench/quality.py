"""CPU cost of the per-subscriber quality machinery (`python -m bench.quality [--seconds 1]`).

Each case is timed in rounds (``--rounds``); we print the median and the spread (min..max) in µs, and
the ratio to a peer measured in the same run on the same machine:

- layer switching: ``LayerRewriter.rewrite`` per packet against ``header.rewritten`` (what a plain
  consumer does per packet today);
- bandwidth estimation: ``BandwidthEstimator.on_packet_sent`` per packet, and ``on_feedback`` per
  transport-cc packet (and per packet it reports) against decoding the same feedback alone;
- audio levels: parse + ``ActiveSpeakerDetector.on_level`` per audio packet against the header parse.

Nothing here is asserted; it is for docs/quality.md and for noticing regressions.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import struct
import time
from collections.abc import Callable

from tests.media.bwe.netsim import NetSim, layer_sender, step
from tests.media.simulcast_streams import layer_bases, simulcast_packets

from relayroom.media.active_speaker import ActiveSpeakerDetector
from relayroom.media.bwe.estimator import BandwidthEstimator
from relayroom.media.bwe.probe import ProbeCluster
from relayroom.media.layer_rewriter import LayerRewriter, LayerRewriterParams
from relayroom.media.rtp.audio_level import parse_audio_level
from relayroom.media.rtp.header import parse_header, rewritten
from relayroom.media.rtp.twcc import decode_feedback, with_transport_sequence

PARAMS = LayerRewriterParams(ssrc=0x1234, payload_type=96, clock_rate=90000, mime_type="video/VP8")


def _rounds(fn: Callable[[], int], rounds: int, seconds: float) -> list[float]:
    """µs per item for each round; ``fn`` processes a batch and returns how many items it did."""
    fn()  # warm up
    out = []
    for _ in range(rounds):
        items = 0
        start = time.perf_counter()
        deadline = start + seconds / rounds
        while True:
            items += fn()
            now = time.perf_counter()
            if now >= deadline:
                break
        out.append(1e6 * (now - start) / items)
    return out


def _rewriter_cases() -> dict[str, Callable[[], int]]:
    bases = layer_bases(random.Random(1))
    packets = simulcast_packets(300, [set(), set(), set()], bases, packets_per_frame=(1, 2, 4))
    big = [p.data for p in packets if p.layer == 2]
    every = [(p.layer, p.data) for p in packets]

    def plain() -> int:
        seq = 0
        for data in big:
            seq = (seq + 1) & 0xFFFF
            rewritten(data, 96, seq, 1234, 0x1234)
        return len(big)

    def one_layer(temporal: int) -> Callable[[], int]:
        def run() -> int:
            rw = LayerRewriter(PARAMS)
            rw.set_target(2, temporal)
            for data in big:
                rw.rewrite(2, data, 1.0)
            return len(big)

        return run

    def all_layers() -> int:
        rw = LayerRewriter(PARAMS)
        rw.set_target(2)
        for layer, data in every:
            rw.rewrite(layer, data, 1.0)
        return len(every)

    return {
        "plain consumer rewrite (peer)": plain,
        "LayerRewriter, big layer, all temporal layers": one_layer(3),
        "LayerRewriter, big layer, TL0 only (3/4 dropped)": one_layer(0),
        "LayerRewriter, packets of all 3 layers in": all_layers,
    }


def _recorded_call(feedback_interval_ms: float) -> list[tuple[str, object, float, ProbeCluster | None]]:
    """Every estimator input of a simulated 30 s subscriber (simulcast layers chosen by the estimate,
    2 Mbit/s link dropping to 300 kbit/s at 10 s and back at 20 s)."""
    record: list[tuple[str, object, float, ProbeCluster | None]] = []
    NetSim(
        capacity=step((0, 2_000_000), (10_000, 300_000), (20_000, 2_000_000)),
        send=layer_sender,
        max_bps=1_800_000,
        feedback_interval_ms=feedback_interval_ms,
        record=record,
    ).run(30_000)
    return record


def _estimator_cases() -> dict[str, Callable[[], int]]:
    cases: dict[str, Callable[[], int]] = {}

    def sent() -> int:
        est = BandwidthEstimator()
        for i in range(2000):
            est.on_packet_sent(1200, i * 0.7)
        return 2000

    cases["on_packet_sent, per packet"] = sent
    for interval in (50.0, 100.0):
        record = _recorded_call(interval)
        feedback = [(p, t) for kind, p, t, _ in record if kind == "feedback"]
        sends = [(p, t, c) for kind, p, t, c in record if kind == "sent"]
        per_fb = len(sends) / len(feedback)

        def decode(feedback: list[tuple[object, float]] = feedback) -> int:
            for packet, _t in feedback:
                if isinstance(packet, bytes):
                    decode_feedback(packet)
            return len(feedback)

        def replay(record: list[tuple[str, object, float, ProbeCluster | None]] = record) -> int:
            est = BandwidthEstimator()
            est.set_max_bitrate(1_800_000)
            est.start(0.0)
            n = 0
            for _kind, data, t, cluster in record:
                if isinstance(data, int):
                    est.on_packet_sent(data, t, cluster)
                elif isinstance(data, bytes):
                    est.on_feedback(data, t)
                    n += 1
            return n

        label = f"feedback every {interval:.0f} ms (~{per_fb:.0f} packets each)"
        cases[f"decode_feedback alone, {label} (peer)"] = decode
        cases[f"on_feedback + its on_packet_sent, {label}"] = replay
    return cases


def _audio_cases() -> dict[str, Callable[[], int]]:
    hdr = struct.pack("!BBHII", 0x90, 111, 1, 960, 7)
    ext = b"\xbe\xde\x00\x01" + bytes([0x10, 0x80 | 30, 0, 0])
    packets = [hdr + ext + bytes(40) for _ in range(1000)]

    def parse_only() -> int:
        for data in packets:
            parse_header(data)
        return len(packets)

    def level() -> int:
        det = ActiveSpeakerDetector()
        det.add_producer("p")
        for data in packets:
            parsed = parse_audio_level(data, 1)
            if parsed is not None:
                det.on_level("p", parsed[0])
        return len(packets)

    return {"RTP header parse (peer)": parse_only, "audio level parse + on_level": level}


def _stamping_cases() -> dict[str, Callable[[], int]]:
    """Per packet to a transport-cc subscriber: the transport-wide sequence number written into the
    publisher's element (in place: the usual case) or added (a packet without one), plus the estimator's
    record, against the plain consumer's header rewrite."""
    hdr = struct.pack("!BBHII", 0x90, 96, 1, 3000, 7)
    with_element = hdr + b"\xbe\xde\x00\x02" + bytes([0x32, 1, 2, 3, 0x51, 0, 0, 0]) + bytes(1100)
    without = struct.pack("!BBHII", 0x80, 96, 1, 3000, 7) + bytes(1100)

    def plain() -> int:
        for i in range(1000):
            rewritten(with_element, 96, i, 1234, 0x1234)
        return 1000

    def stamp(data: bytes) -> Callable[[], int]:
        def run() -> int:
            for i in range(1000):
                with_transport_sequence(data, 5, i)
            return 1000

        return run

    def stamp_and_record() -> int:
        est = BandwidthEstimator()
        for i in range(1000):
            with_transport_sequence(with_element, 5, est.on_packet_sent(len(with_element), i * 0.5))
        return 1000

    return {
        "plain consumer rewrite (peer)": plain,
        "with_transport_sequence, element in place": stamp(with_element),
        "with_transport_sequence, element added": stamp(without),
        "stamp + BandwidthEstimator.on_packet_sent": stamp_and_record,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per case (split over the rounds)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    groups = {
        "rewriter": _rewriter_cases(),
        "estimator": _estimator_cases(),
        "audio": _audio_cases(),
        "transport-cc stamping": _stamping_cases(),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for group, cases in groups.items():
        results[group] = {}
        peer = None
        for name, fn in cases.items():
            us = _rounds(fn, args.rounds, args.seconds)
            med = statistics.median(us)
            if "(peer)" in name:
                peer = med
            results[group][name] = {
                "median_us": round(med, 3),
                "min_us": round(min(us), 3),
                "max_us": round(max(us), 3),
                "ratio_to_peer": round(med / peer, 2) if peer else 1.0,
            }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for group, rows in results.items():
        print(f"\n{group}")
        for name, r in rows.items():
            print(
                f"  {name:58s} {r['median_us']:8.2f} µs  ({r['min_us']:.2f}..{r['max_us']:.2f})"
                f"  x{r['ratio_to_peer']:.2f}"
            )


if __name__ == "__main__":
    main()
