"""BandwidthEstimator: the send-side estimate of one subscriber transport's downlink (GCC).

The transport stamps a transport-wide sequence number (``on_packet_sent`` hands it out) on every RTP
packet it sends to the subscriber and remembers (send time, size, probe cluster) in a ring. The
subscriber's browser answers with transport-wide CC feedback (RTPFB FMT 15): which of them arrived,
and when by its clock. Per feedback packet (``on_feedback``):

1. received packets, in arrival order, feed the acknowledged-throughput estimator, the probe
   estimator (packets of a probe cluster) and, grouped by send time, the delay-gradient filter and
   over-use detector (``inter_arrival``, ``trendline``);
2. the delay-based rate (``aimd``) moves with the detector's verdict: a probe result sets it directly
   unless over-using; over-use cuts it to 0.85x the throughput; otherwise it increases;
3. reported losses feed the loss-based rate (``loss_based``), capped by the delay-based one; only
   packets sent after the last decrease count, since the loss of packets sent at the old rate says
   nothing about the new one (without this, one queue overflow cuts the rate several times over);
4. the target is the loss-based rate; the probe controller may schedule a probe (``next_probe``).

``on_tick`` (every ~100 ms): when packets went out but no feedback came back for FEEDBACK_TIMEOUT_MS,
the target halves once per timeout (a blackholed downlink must not keep getting video).

Everything is in milliseconds and bits per second. Nothing here does I/O or reads a clock; the
worker passes ``now_ms``. Per-packet work (``on_packet_sent``) is four list stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relayroom.media.bwe.acked_bitrate import AckedBitrateEstimator
from relayroom.media.bwe.aimd import AimdRateControl
from relayroom.media.bwe.inter_arrival import InterArrival
from relayroom.media.bwe.loss_based import LossBasedControl
from relayroom.media.bwe.probe import ProbeBitrateEstimator, ProbeCluster, ProbeController
from relayroom.media.bwe.trendline import BandwidthUsage, TrendlineEstimator
from relayroom.media.rtp.twcc import NOT_RECEIVED, decode_feedback

HISTORY_SIZE = 1 << 13  # sent packets remembered for feedback: ~8 s at 1000 packets/s
STREAM_TIMEOUT_MS = 2000.0  # feedback gap after which the delay filter starts over
FEEDBACK_TIMEOUT_MS = 1000.0
RTT_SAMPLES = 32
PROBE_DROP_THROUGHPUT_FRACTION = 0.85


@dataclass(frozen=True)
class BweParams:
    start_bps: int = 300_000  # what libwebrtc starts a video call at
    min_bps: int = 30_000
    max_bps: int = 20_000_000


class BandwidthEstimator:
    def __init__(self, params: BweParams | None = None) -> None:
        p = params or BweParams()
        self.params = p
        self._next_seq = 0  # extended transport-wide sequence number of the next packet
        self._h_seq = [-1] * HISTORY_SIZE
        self._h_send = [0.0] * HISTORY_SIZE
        self._h_size = [0] * HISTORY_SIZE
        self._h_probe: list[ProbeCluster | None] = [None] * HISTORY_SIZE
        self._inter_arrival = InterArrival()
        self.trendline = TrendlineEstimator()
        self.acked = AckedBitrateEstimator()
        self.aimd = AimdRateControl(p.start_bps, p.min_bps, p.max_bps)
        self.loss_based = LossBasedControl(p.start_bps, p.min_bps, p.max_bps)
        self.probes = ProbeController(p.max_bps)
        self._probe_estimator = ProbeBitrateEstimator()
        self._probing: ProbeCluster | None = None  # cluster the sender is sending now
        self.target_bps = float(min(max(p.start_bps, p.min_bps), p.max_bps))
        self._started = False
        self._rtt_from_reports = False
        self._rtt_samples: list[float] = []
        self._last_feedback = -1.0
        self._last_sent = -1.0
        self._last_timeout_cut = -1.0
        self._loss_epoch = -1.0  # losses of packets sent before this (the last decrease) are ignored
        self.feedback_packets = 0
        self.feedback_errors = 0
        self.probe_results = 0
        self.overuses = 0

    # -- send side (per packet) ------------------------------------------------------------------
    def on_packet_sent(self, size: int, now_ms: float, probe: ProbeCluster | None = None) -> int:
        """Record an outgoing packet of ``size`` octets; returns the 16-bit transport-wide sequence
        number to stamp on it."""
        seq = self._next_seq
        self._next_seq = seq + 1
        i = seq & (HISTORY_SIZE - 1)
        self._h_seq[i] = seq
        self._h_send[i] = now_ms
        self._h_size[i] = size
        self._h_probe[i] = probe
        self._last_sent = now_ms
        return seq & 0xFFFF

    @property
    def next_seq(self) -> int:
        """The extended transport-wide sequence number the next packet gets (packets sent so far)."""
        return self._next_seq

    def start(self, now_ms: float) -> None:
        """The first media went out: schedule the start-up probes."""
        if not self._started:
            self._started = True
            self.probes.on_start(self.params.start_bps, now_ms)

    def set_max_bitrate(self, bps: float) -> None:
        """The most this subscriber's consumers could use at the layers they asked for: the estimator
        does not probe above it."""
        self.probes.set_max_bitrate(max(bps, self.params.min_bps))

    def request_probe(self, bps: float, now_ms: float) -> None:
        self.probes.request(bps, now_ms)

    def next_probe(self) -> ProbeCluster | None:
        """A cluster the sender should send now (padding at ``bitrate_bps`` for ``duration_ms``)."""
        return self.probes.pop()

    def on_rtt(self, rtt_ms: float) -> None:
        """Round-trip time from RTCP receiver reports: preferred to the feedback-based one."""
        self._rtt_from_reports = True
        self.aimd.rtt_ms = rtt_ms

    # -- feedback ----------------------------------------------------------------------------------
    def on_feedback(self, packet: bytes | bytearray, now_ms: float) -> None:
        """One transport-cc feedback packet from the subscriber; ValueError when malformed."""
        try:
            base_seq, _fb_count, arrivals = decode_feedback(packet)
        except ValueError:
            self.feedback_errors += 1
            raise
        self.feedback_packets += 1
        newest = self._next_seq - 1
        if newest < 0:
            return
        base = newest - ((newest - base_seq) & 0xFFFF)  # unwrap against what we sent
        h_seq, h_send, h_size, h_probe = self._h_seq, self._h_send, self._h_size, self._h_probe
        mask = HISTORY_SIZE - 1
        arrivals_ms: list[float] = []
        sends: list[float] = []
        sizes: list[int] = []
        probes: list[tuple[ProbeCluster, float, float, int]] = []
        lost = 0
        counted = 0  # received packets that count for the loss rate
        epoch = self._loss_epoch
        in_order = True
        last_arrival = -1.0
        seq = base - 1
        for arrival in arrivals:
            seq += 1
            i = seq & mask
            if h_seq[i] != seq:
                continue  # not ours, too old, or already reported
            h_seq[i] = -1
            send = h_send[i]
            if arrival == NOT_RECEIVED:
                if send >= epoch:
                    lost += 1
                continue
            if send >= epoch:
                counted += 1
            arrival_ms = arrival / 1000
            if arrival_ms < last_arrival:
                in_order = False
            last_arrival = arrival_ms
            arrivals_ms.append(arrival_ms)
            sends.append(send)
            sizes.append(h_size[i])
            probe = h_probe[i]
            if probe is not None:
                probes.append((probe, send, arrival_ms, h_size[i]))
        if not arrivals_ms and not lost:
            return
        if sends:
            # The newest packet reported came back fastest: feedback time minus its send time.
            self._rtt_sample(now_ms - max(sends))
        if self._last_feedback >= 0 and now_ms - self._last_feedback > STREAM_TIMEOUT_MS:
            self._inter_arrival.reset()
            self.trendline = TrendlineEstimator()
        self._last_feedback = now_ms
        if not in_order:  # reordered on the path: the filters want arrival order
            order = sorted(range(len(arrivals_ms)), key=arrivals_ms.__getitem__)
            arrivals_ms = [arrivals_ms[k] for k in order]
            sends = [sends[k] for k in order]
            sizes = [sizes[k] for k in order]
        prev_state = self.trendline.state
        self.acked.update_many(arrivals_ms, sizes)
        for probe, send_ms, arrival_ms, size in probes:
            self._probe_estimator.add(probe, send_ms, arrival_ms, size, now_ms)
        trendline = self.trendline
        for send_delta, arrival_delta, arrival_ms in self._inter_arrival.compute_many(
            sends, arrivals_ms, sizes, now_ms
        ):
            trendline.update(arrival_delta, send_delta, arrival_ms)
        self._update(now_ms, prev_state, lost, lost + counted)

    def _update(self, now_ms: float, prev_state: BandwidthUsage, lost: int, expected: int) -> None:
        state = self.trendline.state
        throughput = self.acked.bitrate_bps
        probe = self._probe_estimator.fetch()
        aimd = self.aimd
        if state == BandwidthUsage.OVERUSING:
            if prev_state != BandwidthUsage.OVERUSING:
                self.overuses += 1
            sample = self.acked.last_sample_bps
            if throughput is not None and sample is not None and sample < throughput:
                throughput = sample  # the queue is growing: what got through just now counts
            if throughput is not None and aimd.time_to_reduce_further(now_ms, throughput):
                aimd.update(state, throughput, now_ms)
            elif throughput is None and aimd.time_to_reduce_further(now_ms, aimd.rate_bps / 2 - 1):
                aimd.set_estimate(aimd.rate_bps / 2, now_ms)  # no throughput known yet: halve
            probe = None
        elif probe is not None:
            self.probe_results += 1
            if throughput is not None:
                # A probe lost in cross traffic may read low: never below what is getting through.
                probe = max(probe, min(aimd.rate_bps, PROBE_DROP_THROUGHPUT_FRACTION * throughput))
            aimd.set_estimate(probe, now_ms)
            aimd.link_capacity.on_probe(probe)
        else:
            aimd.update(state, throughput, now_ms)
        loss_based = self.loss_based
        loss_based.set_delay_based_limit(aimd.rate_bps)
        if probe is not None:
            loss_based.set_rate(aimd.rate_bps, now_ms)
        loss_based.on_packets(lost, expected)
        target = loss_based.update(now_ms, aimd.rtt_ms)
        if target < self.target_bps:
            # Packets sent at the old rate say nothing about the new one: their losses do not count.
            self._loss_epoch = now_ms
        self.target_bps = target
        self.probes.on_estimate(self.target_bps, now_ms, probe is not None)

    def _rtt_sample(self, rtt_ms: float) -> None:
        if self._rtt_from_reports:
            return
        samples = self._rtt_samples
        samples.append(rtt_ms)
        if len(samples) > RTT_SAMPLES:
            del samples[0]
        self.aimd.rtt_ms = sum(samples) / len(samples)

    def on_tick(self, now_ms: float) -> None:
        """Periodic: cut the target when feedback stopped while we kept sending."""
        last = max(self._last_feedback, self._last_timeout_cut)
        if last >= 0 and self._last_sent - last > FEEDBACK_TIMEOUT_MS and now_ms - last > FEEDBACK_TIMEOUT_MS:
            self._last_timeout_cut = now_ms
            half = max(self.target_bps / 2, self.params.min_bps)
            self.aimd.set_estimate(half, now_ms)
            self.loss_based.set_delay_based_limit(half)
            self.target_bps = half

    @property
    def state(self) -> BandwidthUsage:
        return self.trendline.state

    def dump(self) -> dict[str, Any]:
        return {
            "targetBps": int(self.target_bps),
            "delayBasedBps": int(self.aimd.rate_bps),
            "lossBasedBps": int(self.loss_based.rate_bps),
            "ackedBps": None if self.acked.bitrate_bps is None else int(self.acked.bitrate_bps),
            "loss": round(self.loss_based.loss, 4),
            "rttMs": round(self.aimd.rtt_ms, 1),
            "usage": self.trendline.state.name.lower(),
            "threshold": round(self.trendline.threshold, 2),
            "feedbackPackets": self.feedback_packets,
            "feedbackErrors": self.feedback_errors,
            "probeResults": self.probe_results,
            "overuses": self.overuses,
        }
