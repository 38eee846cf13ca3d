"""Network quality on TRTC's 0..6 scale: per-measurement grades, the worst wins."""

from __future__ import annotations

import pytest

from relayroom.media.network_quality import (
    BAD,
    DISCONNECTED,
    EXCELLENT,
    GOOD,
    POOR,
    UNKNOWN,
    VERY_BAD,
    network_quality,
)


def test_nothing_known_is_unknown_and_a_lost_connection_is_disconnected() -> None:
    assert network_quality() == UNKNOWN
    assert network_quality(connected=False, loss=0.0, rtt_ms=10) == DISCONNECTED


@pytest.mark.parametrize(
    ("loss", "grade"),
    [(0.0, EXCELLENT), (0.009, EXCELLENT), (0.01, GOOD), (0.05, POOR), (0.1, BAD), (0.5, VERY_BAD)],
)
def test_loss_grades(loss: float, grade: int) -> None:
    assert network_quality(loss=loss) == grade


@pytest.mark.parametrize(
    ("rtt", "grade"), [(20, EXCELLENT), (150, GOOD), (399, POOR), (500, BAD), (2000, VERY_BAD)]
)
def test_rtt_grades(rtt: float, grade: int) -> None:
    assert network_quality(rtt_ms=rtt) == grade


@pytest.mark.parametrize(
    ("jitter", "grade"), [(5, EXCELLENT), (30, GOOD), (80, POOR), (150, BAD), (300, VERY_BAD)]
)
def test_jitter_grades(jitter: float, grade: int) -> None:
    assert network_quality(jitter_ms=jitter) == grade


@pytest.mark.parametrize(
    ("estimate", "grade"),
    [(2e6, EXCELLENT), (1.5e6, EXCELLENT), (1.3e6, GOOD), (0.9e6, POOR), (0.5e6, BAD), (0.2e6, VERY_BAD)],
)
def test_estimate_against_the_wanted_bitrate(estimate: float, grade: int) -> None:
    assert network_quality(estimate_bps=estimate, wanted_bps=1.5e6) == grade
    assert network_quality(estimate_bps=estimate, wanted_bps=0) == UNKNOWN  # nothing wanted: no grade


def test_the_worst_measurement_decides() -> None:
    assert network_quality(loss=0.0, rtt_ms=30, jitter_ms=5, estimate_bps=2e6, wanted_bps=1e6) == EXCELLENT
    assert network_quality(loss=0.0, rtt_ms=30, jitter_ms=120) == BAD
    assert network_quality(loss=0.2, rtt_ms=30) == VERY_BAD
