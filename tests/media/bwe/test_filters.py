"""The estimator's parts on their own: send-time grouping, the trendline and its detector, AIMD,
loss-based control, probe results, the acknowledged-throughput estimator."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayroom.media.bwe.acked_bitrate import AckedBitrateEstimator
from relayroom.media.bwe.aimd import AimdRateControl, RateControlState
from relayroom.media.bwe.inter_arrival import InterArrival
from relayroom.media.bwe.loss_based import LossBasedControl
from relayroom.media.bwe.probe import ProbeBitrateEstimator, ProbeCluster
from relayroom.media.bwe.trendline import WINDOW_SIZE, BandwidthUsage, TrendlineEstimator


def test_packets_sent_within_5_ms_form_one_group() -> None:
    ia = InterArrival()
    # group 1: sent 0..4 ms; group 2: sent 10..12 ms; group 3 starts at 20 ms and completes group 2
    packets = [(0, 50), (2, 51), (4, 53), (10, 62), (12, 65), (20, 71)]
    out = [ia.compute(s, a, 0.0, 1000) for s, a in packets]
    assert out[:5] == [None] * 5  # the first group has no predecessor
    assert out[5] == (12 - 4, 65 - 53, 2000 - 3000)  # send, arrival and size deltas: group 2 - group 1


def test_compute_many_matches_compute_packet_by_packet() -> None:
    rnd = random.Random(4)
    t_send = 0.0
    t_arr = 40.0
    sends, arrivals, sizes = [], [], []
    for _ in range(500):
        t_send += rnd.choice([0.0, 0.5, 1.0, 3.0, 7.0, 20.0])
        t_arr = max(t_arr + rnd.uniform(-1, 8), t_send + 20)
        sends.append(t_send)
        arrivals.append(t_arr)
        sizes.append(rnd.randint(100, 1200))
    one, many = InterArrival(), InterArrival()
    expected = []
    for s, a, z in zip(sends, arrivals, sizes, strict=True):
        d = one.compute(s, a, 5.0, z)
        if d is not None:
            expected.append((d[0], d[1], a))
    assert many.compute_many(sends, arrivals, sizes, 5.0) == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=WINDOW_SIZE, max_size=200), st.floats(0, 1e8))
def test_the_running_regression_equals_a_direct_least_squares_fit(deltas: list[float], start: float) -> None:
    tl = TrendlineEstimator()
    xs: list[float] = []
    ys: list[float] = []
    acc = smoothed = 0.0
    arrival = start
    for d in deltas:
        arrival += 7.0 + abs(d)
        tl.update(d + 5.0, 5.0, arrival)
        acc += d
        smoothed = 0.9 * smoothed + 0.1 * acc
        xs.append(arrival - start - 7.0 - abs(deltas[0]))
        ys.append(smoothed)
    xs, ys = xs[-WINDOW_SIZE:], ys[-WINDOW_SIZE:]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    gain = min(len(deltas), 60) * 4.0
    assert tl.modified_trend == pytest.approx(gain * slope, rel=1e-6, abs=1e-6)


def test_a_growing_queue_is_overuse_a_draining_one_underuse() -> None:
    tl = TrendlineEstimator()
    t = 0.0
    states = []
    for recv_delta, groups in ((10.0, 40), (13.0, 30), (7.0, 30)):  # steady, +3 ms a group, -3 ms
        for _ in range(groups):
            t += recv_delta
            tl.update(recv_delta, 10.0, t)
        states.append(tl.state)
    assert states == [BandwidthUsage.NORMAL, BandwidthUsage.OVERUSING, BandwidthUsage.UNDERUSING]


def test_aimd_decreases_to_085_of_throughput_then_holds_then_increases() -> None:
    aimd = AimdRateControl(1_000_000, 30_000, 10_000_000)
    assert aimd.update(BandwidthUsage.OVERUSING, 600_000, 0.0) == pytest.approx(510_000)
    assert aimd.state == RateControlState.HOLD
    assert aimd.update(BandwidthUsage.UNDERUSING, 600_000, 100.0) == pytest.approx(510_000)
    aimd.update(BandwidthUsage.NORMAL, 600_000, 200.0)
    rate = aimd.update(BandwidthUsage.NORMAL, 600_000, 1200.0)
    assert 510_000 < rate <= 1.5 * 600_000 + 10_000


def test_aimd_never_increases_far_above_the_throughput() -> None:
    aimd = AimdRateControl(100_000, 30_000, 10_000_000)
    t = 0.0
    for _ in range(200):
        t += 100
        aimd.update(BandwidthUsage.NORMAL, 100_000, t)
    assert 1.5 * 100_000 < aimd.rate_bps <= 1.5 * 100_000 + 10_000


def test_loss_based_holds_between_2_and_10_percent_and_cuts_above() -> None:
    lb = LossBasedControl(1_000_000, 30_000, 10_000_000)
    lb.set_delay_based_limit(1_000_000)
    t = 3000.0  # past the start phase
    lb.update(0.0, 50.0)
    lb.on_packets(5, 100)
    assert lb.update(t, 50.0) == pytest.approx(1_000_000)
    lb.on_packets(20, 100)
    assert lb.update(t + 1000, 50.0) == pytest.approx(900_000)  # x (1 - 0.2 / 2)
    lb.set_delay_based_limit(5_000_000)
    lb.on_packets(0, 100)
    assert lb.update(t + 3000, 50.0) == pytest.approx(900_000 * 1.08 + 1000)  # 8 % of the 1-s minimum


def test_a_probe_through_a_narrower_link_reads_its_capacity() -> None:
    est = ProbeBitrateEstimator()
    cluster = ProbeCluster(1, 2_000_000, 6, 7500, 30.0)
    result = None
    for i in range(10):  # 1000 bytes every 4 ms sent (2 Mbit/s), arriving every 8 ms (1 Mbit/s)
        result = est.add(cluster, i * 4.0, 100 + i * 8.0, 1000, 200.0) or result
    assert result == pytest.approx(0.95 * 1_000_000, rel=0.01)
    assert est.fetch() == result and est.fetch() is None


def test_the_acknowledged_throughput_settles_on_the_received_rate() -> None:
    acked = AckedBitrateEstimator()
    for i in range(400):  # 1250 bytes every 10 ms: 1 Mbit/s
        acked.update(i * 10.0, 1250)
    assert acked.bitrate_bps == pytest.approx(1_000_000, rel=0.05)
    assert acked.last_sample_bps == pytest.approx(1_000_000, rel=0.1)
