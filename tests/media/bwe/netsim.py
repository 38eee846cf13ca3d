"""A discrete-time bottleneck for the estimator tests: a sender (greedy, application-limited, or
choosing simulcast layers by the estimate), a drop-tail FIFO link whose capacity follows a schedule,
a receiver that records arrivals with the real TwccRecorder and sends real transport-cc feedback
every ``feedback_interval_ms``, and the BandwidthEstimator under test reading it. Time is simulated
(milliseconds), so the traces are exact and the tests fast and deterministic."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from relayroom.media.bwe.estimator import BandwidthEstimator, BweParams
from relayroom.media.bwe.probe import ProbeCluster
from relayroom.media.rtp.twcc import TwccRecorder

PACKET = 1200
PACE_MS = 5.0
FEEDBACK_INTERVAL_MS = 50.0
TICK_MS = 100.0


@dataclass
class Sample:
    t_ms: float
    target_bps: float
    sending_bps: float
    capacity_bps: float
    layer: int


@dataclass
class NetSim:
    capacity: Callable[[float], float]  # bits per second at time t (ms)
    one_way_ms: float = 20.0
    queue_ms: float = 250.0  # drop-tail: a packet that would wait longer is lost
    feedback_interval_ms: float = FEEDBACK_INTERVAL_MS
    random_loss: float = 0.0
    send: Callable[[float], float] | None = None  # the sender's rate for a given target; None: greedy
    max_bps: float = 2_500_000
    params: BweParams = field(default_factory=BweParams)
    seed: int = 1
    # When given, every estimator input is appended here, to replay it elsewhere (bench/quality.py):
    # ("sent", size, time, probe cluster) and ("feedback", packet, time, None).
    record: list[tuple[str, object, float, ProbeCluster | None]] | None = None

    def run(self, duration_ms: float) -> tuple[BandwidthEstimator, list[Sample]]:
        rnd = random.Random(self.seed)
        est = BandwidthEstimator(self.params)
        est.set_max_bitrate(self.max_bps)
        recorder = TwccRecorder()
        arrivals: list[tuple[float, int]] = []  # (arrival time, transport-wide seq): a heap
        feedback: list[tuple[float, int, bytes]] = []  # (delivery time, tiebreak, packet): a heap
        counter = 0
        link_free = 0.0
        credit = 0.0
        probe: ProbeCluster | None = None  # the cluster being sent
        probe_start, probe_bytes, probe_packets = 0.0, 0, 0
        samples: list[Sample] = []
        sent_bits_window: list[tuple[float, int]] = []
        t = 0.0
        next_fb = self.feedback_interval_ms
        next_tick = TICK_MS
        est.start(0.0)

        def transmit(now: float, size: int, cluster: ProbeCluster | None) -> None:
            nonlocal link_free
            seq = est.on_packet_sent(size, now, cluster)
            if self.record is not None:
                self.record.append(("sent", size, now, cluster))
            sent_bits_window.append((now, size * 8))
            start = max(now, link_free)
            if start - now > self.queue_ms or rnd.random() < self.random_loss:
                return  # dropped at the queue (or by the random-loss model)
            link_free = start + size * 8000 / self.capacity(now)
            heapq.heappush(arrivals, (link_free + self.one_way_ms, seq))

        while t < duration_ms:
            # feedback and arrivals due by now
            while arrivals and arrivals[0][0] <= t:
                arrival, seq = heapq.heappop(arrivals)
                recorder.record(seq, int(arrival * 1000))
            while feedback and feedback[0][0] <= t:
                packet = heapq.heappop(feedback)[2]
                est.on_feedback(packet, t)
                if self.record is not None:
                    self.record.append(("feedback", packet, t, None))
            if t >= next_fb:
                next_fb += self.feedback_interval_ms
                for fb in recorder.feedback(1, 2):
                    counter += 1
                    heapq.heappush(feedback, (t + self.one_way_ms, counter, fb))
            if t >= next_tick:
                next_tick += TICK_MS
                est.on_tick(t)
            if probe is None:
                probe = est.next_probe()
                probe_start, probe_bytes, probe_packets = t, 0, 0
            if t % PACE_MS == 0:
                rate = est.target_bps if self.send is None else self.send(est.target_bps)
                credit = min(credit + rate * PACE_MS / 1000, 10 * PACKET * 8)
                while credit >= PACKET * 8:
                    credit -= PACKET * 8
                    transmit(t, PACKET, probe)  # media sent during a probe belongs to it
                    if probe is not None:
                        probe_bytes += PACKET
                        probe_packets += 1
            if probe is not None:
                # Padding up to the cluster's rate, in packets of at most PACKET octets.
                due = probe.bitrate_bps * (t - probe_start + 1) / 8000 - probe_bytes
                while due > 0:
                    size = int(min(PACKET, max(due, 200)))
                    transmit(t, size, probe)
                    probe_bytes += size
                    probe_packets += 1
                    due -= size
                if (
                    t - probe_start >= probe.duration_ms
                    and probe_bytes >= probe.min_bytes
                    and probe_packets >= probe.min_packets
                ):
                    probe = None
            if t % 100 == 0:
                while sent_bits_window and sent_bits_window[0][0] < t - 500:
                    sent_bits_window.pop(0)
                sending = sum(b for _, b in sent_bits_window) * 2
                layer = -1 if self.send is None else _layer_of(self.send(est.target_bps))
                samples.append(Sample(t, est.target_bps, sending, self.capacity(t), layer))
            t += 1.0
        return est, samples


LAYERS = (150_000, 500_000, 1_500_000)  # a typical three-layer simulcast (bits per second)
AUDIO_BPS = 40_000


def layer_sender(target_bps: float) -> float:
    """An SFU's subscriber: audio plus the highest simulcast layer that fits the estimate."""
    return (
        AUDIO_BPS + LAYERS[_layer_of_target(target_bps)] if _layer_of_target(target_bps) >= 0 else AUDIO_BPS
    )


def _layer_of_target(target_bps: float) -> int:
    fits = [i for i, bps in enumerate(LAYERS) if bps + AUDIO_BPS <= target_bps]
    return fits[-1] if fits else -1


def _layer_of(rate: float) -> int:
    for i, bps in enumerate(LAYERS):
        if abs(rate - AUDIO_BPS - bps) < 1:
            return i
    return -1


def step(*points: tuple[float, float]) -> Callable[[float], float]:
    """Capacity schedule: ((from ms, bps), ...)."""

    def capacity(t: float) -> float:
        bps = points[0][1]
        for start, value in points:
            if t >= start:
                bps = value
        return bps

    return capacity
