"""BandwidthEstimator on synthetic traces through a simulated bottleneck (tests/media/bwe/netsim.py):
ramp-up, a step down from 2 Mbit/s to 300 kbit/s, recovery; an SFU sender choosing simulcast layers by
the estimate; random loss; malformed and foreign feedback; feedback timeout."""

from __future__ import annotations

import statistics

import pytest

from relayroom.media.bwe.estimator import BandwidthEstimator, BweParams
from relayroom.media.rtp.twcc import build_feedback
from tests.media.bwe.netsim import LAYERS, NetSim, Sample, layer_sender, step

STEP_DOWN_MS = 10_000
STEP_UP_MS = 20_000
HIGH = 2_000_000
LOW = 300_000


def _between(samples: list[Sample], start_ms: float, end_ms: float) -> list[Sample]:
    return [s for s in samples if start_ms <= s.t_ms < end_ms]


def _first_time(samples: list[Sample], after_ms: float, cond: object) -> float:
    for s in samples:
        if s.t_ms >= after_ms and cond(s):  # type: ignore[operator]
            return s.t_ms - after_ms
    return float("inf")


@pytest.fixture(scope="module")
def greedy() -> list[Sample]:
    """A sender that sends whatever the estimate allows: 2 Mbit/s, 300 kbit/s at 10 s, 2 Mbit/s at 20 s."""
    _est, samples = NetSim(capacity=step((0, HIGH), (STEP_DOWN_MS, LOW), (STEP_UP_MS, HIGH))).run(32_000)
    return samples


def test_ramp_up_reaches_the_capacity_within_two_seconds_and_stays_near_it(greedy: list[Sample]) -> None:
    assert _first_time(greedy, 0, lambda s: s.target_bps >= 0.8 * HIGH) <= 2000
    steady = [s.target_bps for s in _between(greedy, 2000, STEP_DOWN_MS)]
    assert 0.75 * HIGH <= statistics.median(steady) <= 1.05 * HIGH
    assert max(steady) <= 1.15 * HIGH  # over-use is detected before the queue runs away


def test_a_step_down_converges_below_the_bottleneck_within_two_seconds(greedy: list[Sample]) -> None:
    assert _first_time(greedy, STEP_DOWN_MS, lambda s: s.target_bps < LOW) <= 2000
    settled = [s.target_bps for s in _between(greedy, STEP_DOWN_MS + 2000, STEP_UP_MS)]
    assert statistics.median(settled) <= LOW
    assert max(settled) <= 1.15 * LOW
    assert min(settled) >= 0.5 * LOW  # no collapse after the queue overflowed


def test_recovery_after_the_bottleneck_lifts_within_ten_seconds(greedy: list[Sample]) -> None:
    assert _first_time(greedy, STEP_UP_MS, lambda s: s.target_bps >= 0.75 * HIGH) <= 10_000


def test_an_sfu_sender_moves_down_a_layer_within_two_seconds_and_back_up_after_the_throttle() -> None:
    sim = NetSim(
        capacity=step((0, HIGH), (STEP_DOWN_MS, LOW), (STEP_UP_MS, HIGH)),
        send=layer_sender,
        max_bps=1.1 * (LAYERS[-1] + 40_000),
    )
    est, samples = sim.run(32_000)
    assert _first_time(samples, 0, lambda s: s.layer == 2) <= 2000
    assert all(s.layer == 2 for s in _between(samples, 2000, STEP_DOWN_MS))
    assert _first_time(samples, STEP_DOWN_MS, lambda s: s.layer == 0) <= 2000
    # the small layer fits a 300 kbit/s link: video keeps going (never paused), nothing bigger is tried
    assert all(s.layer == 0 for s in _between(samples, STEP_DOWN_MS + 2000, STEP_UP_MS))
    assert _first_time(samples, STEP_UP_MS, lambda s: s.layer == 2) <= 10_000
    assert est.dump()["probeResults"] >= 3


def test_random_loss_below_two_percent_is_ignored_above_ten_percent_it_cuts_the_rate() -> None:
    clean = NetSim(capacity=step((0, 5_000_000)), max_bps=4_000_000, random_loss=0.01).run(15_000)[1]
    lossy = NetSim(capacity=step((0, 5_000_000)), max_bps=4_000_000, random_loss=0.25).run(15_000)[1]
    clean_rate = statistics.median(s.target_bps for s in _between(clean, 5000, 15_000))
    lossy_rate = statistics.median(s.target_bps for s in _between(lossy, 5000, 15_000))
    assert clean_rate >= 3_000_000
    assert lossy_rate <= 0.6 * clean_rate


def _sent(est: BandwidthEstimator, count: int, start_ms: float = 0.0) -> list[int]:
    return [est.on_packet_sent(1200, start_ms + 5 * i) for i in range(count)]


def test_transport_wide_sequence_numbers_count_up_and_wrap() -> None:
    est = BandwidthEstimator()
    est._next_seq = 65534
    assert _sent(est, 4) == [65534, 65535, 0, 1]


def test_malformed_feedback_raises_valueerror_and_is_counted() -> None:
    est = BandwidthEstimator()
    _sent(est, 10)
    good = build_feedback(1, 2, 0, 0, [1_000_000 + 5000 * i for i in range(10)])
    for bad in (b"", good[:10], good[:-4], b"\x8f\xcd\x00\x01" + bytes(4), good[:1] + b"\xc8" + good[2:]):
        with pytest.raises(ValueError):
            est.on_feedback(bad, 100.0)
    assert est.dump()["feedbackErrors"] == 5
    est.on_feedback(good, 100.0)
    assert est.dump()["feedbackPackets"] == 1


def test_feedback_about_packets_we_never_sent_or_already_reported_changes_nothing() -> None:
    est = BandwidthEstimator()
    _sent(est, 20)
    before = est.dump()
    est.on_feedback(build_feedback(1, 2, 0, 30000, [1_000_000 + 5000 * i for i in range(50)]), 200.0)
    assert est.dump()["ackedBps"] == before["ackedBps"] and est.target_bps == before["targetBps"]
    fb = build_feedback(1, 2, 0, 0, [1_000_000 + 5000 * i for i in range(20)])
    est.on_feedback(fb, 150.0)
    loss_reports = est.loss_based.reports
    est.on_feedback(build_feedback(1, 2, 1, 0, [None] * 19 + [2_000_000]), 160.0)  # reported again
    assert est.loss_based.reports == loss_reports and est.loss_based.loss == 0.0


def test_without_feedback_the_target_halves_each_second_down_to_the_minimum() -> None:
    params = BweParams(start_bps=1_000_000, min_bps=50_000)
    est = BandwidthEstimator(params)
    _sent(est, 20)
    est.on_feedback(build_feedback(1, 2, 0, 0, [1_000_000 + 5000 * i for i in range(20)]), 100.0)
    start = est.target_bps
    t = 100.0
    while t < 10_000:
        t += 100
        est.on_packet_sent(1200, t)
        est.on_tick(t)
    assert est.target_bps == params.min_bps
    est2 = BandwidthEstimator(params)
    _sent(est2, 20)
    est2.on_feedback(build_feedback(1, 2, 0, 0, [1_000_000 + 5000 * i for i in range(20)]), 100.0)
    for t2 in (600.0, 1200.0):
        est2.on_packet_sent(1200, t2)
        est2.on_tick(t2)
    assert est2.target_bps == pytest.approx(start / 2)


def test_start_schedules_two_exponential_probes_capped_at_the_maximum() -> None:
    est = BandwidthEstimator(BweParams(start_bps=300_000))
    est.set_max_bitrate(1_000_000)
    est.start(0.0)
    first, second = est.next_probe(), est.next_probe()
    assert first is not None and second is not None and est.next_probe() is None
    assert (first.bitrate_bps, second.bitrate_bps) == (900_000, 1_000_000)
    assert first.min_bytes == 900_000 * 30 // 8000 and first.min_packets >= 5
