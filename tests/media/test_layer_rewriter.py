"""LayerRewriter: one continuous VP8/H.264 stream out of simulcast encodings, across layer switches."""

from __future__ import annotations

import itertools
import random
import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayroom.media.codecs.vp8 import parse_descriptor
from relayroom.media.layer_rewriter import ALL_TEMPORAL, LayerRewriter, LayerRewriterParams
from relayroom.media.rtp.header import header_length
from relayroom.media.rtp.seq import seq_diff, ts_diff
from tests.media.simulcast_streams import (
    FRAME_TICKS,
    LayerBases,
    SimulcastPacket,
    layer_bases,
    simulcast_packets,
)

OUT_SSRC = 0xC0FFEE01
OUT_PT = 100
PARAMS = LayerRewriterParams(ssrc=OUT_SSRC, payload_type=OUT_PT, clock_rate=90000, mime_type="video/VP8")


@dataclass
class Out:
    packet: SimulcastPacket
    seq: int
    ts: int
    picture_id: int
    tl0: int
    temporal_target: int  # the target in effect when the first packet of its frame arrived
    segment: int  # the rewriter's sync count: a new segment starts at each switch or resume


@dataclass
class Run:
    outs: list[Out] = field(default_factory=list)
    dropped_first_packets: int = 0


def _parse(buf: bytes | bytearray) -> tuple[int, int, int, int, int, int]:
    _b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", buf, 0)
    desc = parse_descriptor(buf, header_length(buf))
    return b1 & 0x7F, seq, ts, ssrc, desc.picture_id, desc.tl0picidx


def _sr_of(bases: list[LayerBases]) -> dict[int, tuple[float, int]]:
    """Each encoding's sender report: capture index 0 at NTP 1000.0 s, on its own timestamp base."""
    return {layer: (1000.0, b.ts) for layer, b in enumerate(bases)}


def _feed(
    rw: LayerRewriter,
    arrivals: list[SimulcastPacket],
    targets: dict[int, tuple[int, int]],
) -> Run:
    run = Run()
    frame_target: dict[tuple[int, int], int] = {}  # a frame is kept or dropped as a whole
    for i, pkt in enumerate(arrivals):
        if i in targets:
            rw.set_target(*targets[i])
        frame_target.setdefault((pkt.layer, pkt.frame), rw.target_temporal)
        now = 5.0 + pkt.frame / 30 + 0.001 * i
        out = rw.rewrite(pkt.layer, pkt.data, now)
        if out is None:
            continue
        pt, seq, ts, ssrc, pid, tl0 = _parse(out)
        assert (pt, ssrc) == (OUT_PT, OUT_SSRC)
        assert bytes(out[24:]) == pkt.data[24:]  # payload untouched (12 header + 6 descriptor octets)
        run.outs.append(Out(pkt, seq, ts, pid, tl0, frame_target[(pkt.layer, pkt.frame)], rw.syncs))
    return run


def _sorted_by_output(outs: list[Out]) -> list[Out]:
    """Unique outputs in output-sequence order (unwrapped in the order they were sent)."""
    ext: dict[tuple[int, int], tuple[int, Out]] = {}
    highest: int | None = None
    for o in outs:
        key = (o.packet.layer, o.packet.seq)
        if highest is None:
            e = o.seq
        else:
            e = highest + seq_diff(o.seq, highest & 0xFFFF)
        highest = e if highest is None else max(highest, e)
        if key in ext:
            assert ext[key][1].seq == o.seq  # a duplicate gets the same number
            continue
        ext[key] = (e, o)
    return [o for _e, o in sorted(ext.values(), key=lambda x: x[0])]


def _check_continuity(run: Run, window: int, lossless_in_order: bool, late_drops: int) -> None:
    outs = run.outs
    # No backwards jumps beyond the reordering of the input.
    highest: int | None = None
    seen: set[tuple[int, int]] = set()
    for o in outs:
        key = (o.packet.layer, o.packet.seq)
        if key in seen:
            continue  # a duplicate of the input: the same packet again
        seen.add(key)
        if highest is None or seq_diff(o.seq, highest) > 0:
            highest = o.seq
        assert seq_diff(o.seq, highest) >= -window
    ordered = _sorted_by_output(outs)
    seqs = [o.seq for o in ordered]
    assert len(set(seqs)) == len(seqs)
    for prev, cur in itertools.pairwise(ordered):
        p, c = prev.packet, cur.packet
        step = seq_diff(cur.seq, prev.seq)
        assert step >= 1
        if cur.segment != prev.segment:
            assert cur.segment > prev.segment
            assert c.keyframe_start  # switch only at the first packet of a key frame
            assert ts_diff(cur.ts, prev.ts) > 0
            assert seq_diff(cur.picture_id, prev.picture_id) & 0x7FFF == 1 or not lossless_in_order
            continue
        assert seq_diff(c.seq, p.seq) > 0  # the order of each encoding is kept
        assert ts_diff(cur.ts, prev.ts) == ts_diff(c.ts, p.ts)  # same spacing as the input
        if c.frame == p.frame:
            assert (cur.picture_id, cur.tl0) == (prev.picture_id, prev.tl0)
        else:
            pid_step = (cur.picture_id - prev.picture_id) & 0x7FFF
            assert 1 <= pid_step < 0x4000
            assert (cur.tl0 - prev.tl0) & 0xFF in ((0, 1) if lossless_in_order else range(0, 128))
            if lossless_in_order:
                assert pid_step == 1  # dropped temporal-layer frames leave no PictureID gap
        if lossless_in_order and not late_drops:
            assert step == 1  # and no sequence gap
    # Temporal layers: nothing above the target that was in effect.
    for o in outs:
        assert o.packet.tid <= o.temporal_target


@st.composite
def _scenario(
    draw: st.DrawFn,
) -> tuple[list[SimulcastPacket], dict[int, tuple[int, int]], int, bool, list[LayerBases]]:
    rnd = draw(st.randoms(use_true_random=False))
    frames = draw(st.integers(8, 40))
    keyframes = [set(draw(st.lists(st.integers(1, frames - 1), max_size=6))) for _ in range(3)]
    bases = layer_bases(rnd)
    packets = simulcast_packets(frames, keyframes, bases, packets_per_frame=(1, 2, 3))
    window = draw(st.integers(1, 4))
    arrivals = list(packets)
    if window > 1:
        for i in range(0, len(arrivals), window):
            chunk = arrivals[i : i + window]
            rnd.shuffle(chunk)
            arrivals[i : i + window] = chunk
    lossy = draw(st.booleans())
    if lossy:
        arrivals = [p for p in arrivals if rnd.random() > 0.05]
        dups = [i for i in range(len(arrivals)) if rnd.random() < 0.03]
        for i in reversed(dups):
            arrivals.insert(min(i + window, len(arrivals)), arrivals[i])
    changes = draw(
        st.lists(
            st.tuples(st.integers(0, max(0, len(arrivals) - 1)), st.integers(-1, 2), st.integers(0, 3)),
            min_size=1,
            max_size=6,
        )
    )
    targets = {0: (draw(st.integers(0, 2)), draw(st.integers(0, 3)))}
    for i, spatial, temporal in changes:
        targets[i] = (spatial, temporal)
    return arrivals, targets, window, lossy, bases


@settings(max_examples=100, deadline=None)
@given(_scenario(), st.booleans())
def test_switches_keep_sequence_timestamp_and_picture_id_continuous(
    scenario: tuple[list[SimulcastPacket], dict[int, tuple[int, int]], int, bool, list[LayerBases]],
    with_reports: bool,
) -> None:
    arrivals, targets, window, lossy, bases = scenario
    reports = _sr_of(bases)
    rw = LayerRewriter(PARAMS, (lambda layer: reports.get(layer)) if with_reports else (lambda layer: None))
    run = _feed(rw, arrivals, targets)
    _check_continuity(
        run, window, lossless_in_order=not lossy and window == 1, late_drops=rw.dump()["lateDrops"]
    )
    # The switch happens at the first key frame of the target after it was set.
    last_change = max(targets)
    spatial = targets[last_change][0]
    if spatial >= 0 and any(p.layer == spatial and p.keyframe_start for p in arrivals[last_change:]):
        assert rw.current_spatial == spatial and not rw.wants_keyframe
    ordered = _sorted_by_output(run.outs)
    for o in ordered[-1000:]:  # retransmissions find the encoding and its sequence number
        assert rw.lookup(o.seq) == (o.packet.layer, o.packet.seq)


@pytest.mark.parametrize("new_layer_first", [True, False])
def test_aligned_by_sender_reports_a_switch_keeps_the_capture_clock(new_layer_first: bool) -> None:
    rnd = random.Random(7)
    bases = layer_bases(rnd)
    packets = simulcast_packets(12, [set(), {6}, set()], bases, packets_per_frame=(1, 2, 3))
    if new_layer_first:  # the key frame of the new layer arrives before the old layer's same picture
        packets.sort(key=lambda p: (p.frame, -p.layer))
    reports = _sr_of(bases)
    rw = LayerRewriter(PARAMS, lambda layer: reports.get(layer))
    rw.set_target(0)
    run = _feed(rw, packets, {20: (1, ALL_TEMPORAL)})
    ordered = _sorted_by_output(run.outs)
    first = ordered[0]
    assert rw.current_spatial == 1 and rw.switches == 1
    assert {o.packet.layer for o in ordered if o.packet.frame > 6} == {1}
    # One axis: the capture index times the frame interval; if picture 6 already went out from
    # layer 0, layer 1 continues one tick later.
    bump = 0 if new_layer_first else 1
    for o in ordered:
        expected = (o.packet.frame - first.packet.frame) * FRAME_TICKS + (bump if o.packet.layer == 1 else 0)
        assert ts_diff(o.ts, first.ts) == expected


def test_without_reports_a_switch_advances_the_timestamp_by_wall_time() -> None:
    bases = layer_bases(random.Random(3))
    packets = simulcast_packets(12, [set(), set(), {8}], bases)
    rw = LayerRewriter(PARAMS)
    rw.set_target(0)
    run = _feed(rw, packets, {4: (2, ALL_TEMPORAL)})
    ordered = _sorted_by_output(run.outs)
    jump = [(a, b) for a, b in itertools.pairwise(ordered) if a.packet.layer != b.packet.layer]
    assert len(jump) == 1
    a, b = jump[0]
    assert b.packet.frame == 8 and a.packet.frame == 8  # layer 0 sent picture 8 just before
    assert 0 < ts_diff(b.ts, a.ts) <= 2 * FRAME_TICKS


def test_dropping_temporal_layers_leaves_no_sequence_or_picture_id_gap() -> None:
    bases = layer_bases(random.Random(11))
    packets = [p for p in simulcast_packets(40, [set(), set(), set()], bases) if p.layer == 1]
    rw = LayerRewriter(PARAMS)
    rw.set_target(1, 0)  # base layer only: 1 frame in 4
    run = _feed(rw, packets, {})
    assert {o.packet.tid for o in run.outs} == {0}
    assert len({o.packet.frame for o in run.outs}) == 10
    seqs = [o.seq for o in run.outs]
    assert all(seq_diff(b, a) == 1 for a, b in itertools.pairwise(seqs))
    pids = sorted({(o.packet.frame, o.picture_id) for o in run.outs})
    assert all((b[1] - a[1]) & 0x7FFF == 1 for a, b in itertools.pairwise(pids))
    assert rw.temporal_drops == 30 * 2


def test_a_higher_temporal_layer_is_added_only_at_a_layer_sync_frame() -> None:
    bases = layer_bases(random.Random(5))
    packets = [p for p in simulcast_packets(16, [set(), set(), set()], bases) if p.layer == 0]
    rw = LayerRewriter(PARAMS)
    rw.set_target(0, 0)
    # TIDs by frame: 0:0 1:2y 2:1y 3:2 4:0 5:2y 6:1y 7:2 8:0 9:2y 10:1y 11:2 (y = layer sync).
    # The target rises to TL2 just before frame 7, which has no Y: it waits for frame 9.
    run = _feed(rw, packets, {7: (0, 2)})
    frames = [o.packet.frame for o in run.outs]
    assert frames[:6] == [0, 4, 8, 9, 10, 11]
    assert rw.current_temporal == 2


def test_pausing_drops_everything_and_resuming_waits_for_a_key_frame() -> None:
    bases = layer_bases(random.Random(9))
    packets = [p for p in simulcast_packets(30, [set(), {20}, set()], bases) if p.layer == 1]
    rw = LayerRewriter(PARAMS)
    rw.set_target(1)
    targets = {10: (-1, ALL_TEMPORAL), 20: (1, ALL_TEMPORAL)}
    run = _feed(rw, packets, targets)
    frames = sorted({o.packet.frame for o in run.outs})
    assert frames == [*range(0, 5), *range(20, 30)]  # 2 packets per frame: index 10 is frame 5
    assert rw.wants_keyframe is False
    seqs = [o.seq for o in run.outs]
    assert all(seq_diff(b, a) == 1 for a, b in itertools.pairwise(seqs))


def test_wants_a_key_frame_until_the_target_layer_starts() -> None:
    rw = LayerRewriter(PARAMS)
    assert not rw.wants_keyframe
    rw.set_target(2)
    assert rw.wants_keyframe
    bases = layer_bases(random.Random(1))
    key = next(p for p in simulcast_packets(1, [set()] * 3, bases) if p.layer == 2)
    assert rw.rewrite(2, key.data, 1.0) is not None
    assert not rw.wants_keyframe


def test_malformed_packets_are_dropped_and_counted() -> None:
    rw = LayerRewriter(PARAMS)
    rw.set_target(0)
    bad = struct.pack("!BBHII", 0x80, 96, 1, 1, 1) + b"\x80"  # X set, descriptor cut short
    assert rw.rewrite(0, bad, 0.0) is None
    assert rw.malformed == 1


def test_h264_switches_at_an_idr() -> None:
    params = LayerRewriterParams(ssrc=OUT_SSRC, payload_type=OUT_PT, clock_rate=90000, mime_type="video/H264")
    rw = LayerRewriter(params)
    rw.set_target(1)
    hdr = struct.Struct("!BBHII")
    non_idr = hdr.pack(0x80, 96, 10, 1000, 1) + b"\x41" + bytes(20)
    idr = hdr.pack(0x80, 96, 11, 4000, 1) + b"\x65" + bytes(20)
    assert rw.rewrite(1, non_idr, 0.0) is None
    out = rw.rewrite(1, idr, 0.1)
    assert out is not None and struct.unpack_from("!I", out, 8)[0] == OUT_SSRC
    assert bytes(out[12:]) == idr[12:]


def test_only_vp8_and_h264_can_switch_layers() -> None:
    with pytest.raises(ValueError):
        LayerRewriter(LayerRewriterParams(1, 100, 90000, "video/VP9"))


def test_a_retransmission_is_rewritten_like_the_original() -> None:
    bases = layer_bases(random.Random(2))
    packets = [p for p in simulcast_packets(4, [set()] * 3, bases) if p.layer == 2]
    rw = LayerRewriter(PARAMS)
    rw.set_target(2)
    sent = [bytes(b) for p in packets if (b := rw.rewrite(2, p.data, 0.0)) is not None]
    out_seq = struct.unpack_from("!H", sent[4], 2)[0]
    assert rw.lookup(out_seq) == (2, packets[4].seq)
    again = rw.rewrite_retransmission(2, packets[4].data, out_seq)
    assert again is not None and bytes(again) == sent[4]
    assert rw.rewrite_retransmission(1, packets[4].data, out_seq) is None
    assert rw.lookup((out_seq + 500) & 0xFFFF) is None
