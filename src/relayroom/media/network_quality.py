"""Network quality on TRTC's 0..6 scale, from what the SFU measures (loss, RTT, jitter, estimate).

TRTC's ``network-quality`` event grades uplink and downlink: 0 unknown, 1 excellent, 2 good, 3 poor,
4 bad, 5 very bad, 6 disconnected. Each measurement is graded on its own with the thresholds below
(loss and RTT are the browser SDK's, so a grade means the same whichever side computed it) and the
quality is the **worst** of the grades: one bad dimension is enough to hurt a call.

| grade | loss (fraction) | RTT (ms) | jitter (ms) | estimate / wanted bitrate |
|---|---|---|---|---|
| 1 excellent | < 0.01 | < 100 | < 20 | >= 1.0 |
| 2 good | < 0.03 | < 200 | < 50 | >= 0.8 |
| 3 poor | < 0.08 | < 400 | < 100 | >= 0.5 |
| 4 bad | < 0.15 | < 800 | < 200 | >= 0.25 |
| 5 very bad | otherwise | otherwise | otherwise | otherwise |

Uplink: the publisher's loss and jitter as the SFU receives its tracks (and the RTT when known).
Downlink: the subscriber's receiver reports about our streams (loss, jitter, RTT) and the bandwidth
estimate against the bitrate of the layers it asked for. A measurement that is not known (None) does
not count; with none known the quality is 0, and a transport that lost its connection is 6.
"""

from __future__ import annotations

UNKNOWN = 0
EXCELLENT = 1
GOOD = 2
POOR = 3
BAD = 4
VERY_BAD = 5
DISCONNECTED = 6

LOSS_THRESHOLDS = (0.01, 0.03, 0.08, 0.15)
RTT_THRESHOLDS_MS = (100.0, 200.0, 400.0, 800.0)
JITTER_THRESHOLDS_MS = (20.0, 50.0, 100.0, 200.0)
BANDWIDTH_RATIO_THRESHOLDS = (1.0, 0.8, 0.5, 0.25)  # estimate / wanted: higher is better


def _grade_upwards(value: float, thresholds: tuple[float, ...]) -> int:
    for grade, limit in enumerate(thresholds, start=EXCELLENT):
        if value < limit:
            return grade
    return VERY_BAD


def network_quality(
    *,
    connected: bool = True,
    loss: float | None = None,
    rtt_ms: float | None = None,
    jitter_ms: float | None = None,
    estimate_bps: float | None = None,
    wanted_bps: float | None = None,
) -> int:
    if not connected:
        return DISCONNECTED
    grades = []
    if loss is not None:
        grades.append(_grade_upwards(loss, LOSS_THRESHOLDS))
    if rtt_ms is not None:
        grades.append(_grade_upwards(rtt_ms, RTT_THRESHOLDS_MS))
    if jitter_ms is not None:
        grades.append(_grade_upwards(jitter_ms, JITTER_THRESHOLDS_MS))
    if estimate_bps is not None and wanted_bps:
        ratio = estimate_bps / wanted_bps
        grade = VERY_BAD
        for g, limit in enumerate(BANDWIDTH_RATIO_THRESHOLDS, start=EXCELLENT):
            if ratio >= limit:
                grade = g
                break
        grades.append(grade)
    return max(grades) if grades else UNKNOWN
