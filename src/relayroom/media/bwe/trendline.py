"""TrendlineEstimator: the delay-gradient filter and the over-use detector of GCC.

draft-ietf-rmcat-gcc §5 describes a Kalman filter of the one-way delay gradient; libwebrtc's goog_cc
replaced it with a trendline, and so do we:

1. Per group (``inter_arrival``), ``d = arrival_delta - send_delta`` is the queueing delay added since
   the previous group. We accumulate it and smooth it exponentially (SMOOTHING = 0.9).
2. Over the last WINDOW_SIZE = 20 groups, the least-squares slope of the smoothed delay against
   arrival time is the trend: > 0 the queue is filling (we send above capacity), < 0 it drains.
3. ``modified_trend = min(num_deltas, 60) * trend * THRESHOLD_GAIN (4)`` is compared to an adaptive
   threshold ``gamma`` (starts at 12.5 ms): above it for longer than OVERUSE_TIME_MS = 10 ms, on at
   least two groups, and not falling -> OVERUSING; below -gamma -> UNDERUSING; else NORMAL.
4. ``gamma`` follows |modified_trend|: ``gamma += k * (|m| - gamma) * dt`` with k = K_UP (0.0087) when
   |m| > gamma, K_DOWN (0.039) otherwise, dt <= 100 ms, clamped to [6, 600] ms, and not adapted to
   spikes more than 15 ms above it. So the detector is not starved by a competing TCP flow (the
   threshold rises with their standing queue) yet stays sensitive on a clean path.

Times in milliseconds. Constants are libwebrtc's (trendline_estimator.cc), kept so results compare.
"""

from __future__ import annotations

import enum

WINDOW_SIZE = 20
SMOOTHING = 0.9
THRESHOLD_GAIN = 4.0
MIN_NUM_DELTAS = 60
DELTA_COUNTER_MAX = 1000
INITIAL_THRESHOLD_MS = 12.5
MIN_THRESHOLD_MS = 6.0
MAX_THRESHOLD_MS = 600.0
K_UP = 0.0087
K_DOWN = 0.039
MAX_ADAPT_OFFSET_MS = 15.0
OVERUSE_TIME_MS = 10.0
MAX_THRESHOLD_STEP_MS = 100.0


class BandwidthUsage(enum.IntEnum):
    NORMAL = 0
    UNDERUSING = 1
    OVERUSING = 2


class TrendlineEstimator:
    __slots__ = (
        "_accumulated",
        "_first_arrival",
        "_hist_x",
        "_hist_y",
        "_last_threshold_update",
        "_num_deltas",
        "_origin",
        "_origin_y",
        "_overuse_count",
        "_prev_trend",
        "_smoothed",
        "_sx",
        "_sxx",
        "_sxy",
        "_sy",
        "_time_over_using",
        "_updates",
        "modified_trend",
        "state",
        "threshold",
    )

    def __init__(self) -> None:
        self._num_deltas = 0
        self._first_arrival = -1.0
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._hist_x: list[float] = []
        self._hist_y: list[float] = []
        self._prev_trend = 0.0
        self._time_over_using = -1.0
        self._overuse_count = 0
        self._last_threshold_update = -1.0
        self.threshold = INITIAL_THRESHOLD_MS
        self.modified_trend = 0.0
        self.state = BandwidthUsage.NORMAL
        self._origin = self._origin_y = 0.0
        self._sx = self._sy = self._sxx = self._sxy = 0.0
        self._updates = 0

    def update(self, recv_delta_ms: float, send_delta_ms: float, arrival_ms: float) -> None:
        delta = recv_delta_ms - send_delta_ms
        self._num_deltas = min(self._num_deltas + 1, DELTA_COUNTER_MAX)
        if self._first_arrival < 0:
            self._first_arrival = arrival_ms
        self._accumulated += delta
        self._smoothed = SMOOTHING * self._smoothed + (1 - SMOOTHING) * self._accumulated
        xs, ys = self._hist_x, self._hist_y
        x = arrival_ms - self._first_arrival
        y = self._smoothed
        xs.append(x)
        ys.append(y)
        # Running sums for the regression, about an origin re-anchored at each full recount (so
        # arrival times hours into a call lose no precision and rounding does not accumulate).
        if len(xs) > WINDOW_SIZE:
            ox = xs.pop(0) - self._origin
            oy = ys.pop(0) - self._origin_y
            self._sx -= ox
            self._sy -= oy
            self._sxx -= ox * ox
            self._sxy -= ox * oy
        dx = x - self._origin
        dy = y - self._origin_y
        self._sx += dx
        self._sy += dy
        self._sxx += dx * dx
        self._sxy += dx * dy
        self._updates += 1
        if self._updates >= WINDOW_SIZE:
            self._recount()
        trend = self._prev_trend
        n = len(xs)
        if n == WINDOW_SIZE:
            den = self._sxx - self._sx * self._sx / n
            if den > 1e-9:
                trend = (self._sxy - self._sx * self._sy / n) / den
        self._detect(trend, send_delta_ms, arrival_ms)

    def _recount(self) -> None:
        xs, ys = self._hist_x, self._hist_y
        self._origin = origin = xs[0]
        self._origin_y = origin_y = ys[0]
        self._sx = sum(x - origin for x in xs)
        self._sy = sum(y - origin_y for y in ys)
        self._sxx = sum((x - origin) ** 2 for x in xs)
        self._sxy = sum((x - origin) * (y - origin_y) for x, y in zip(xs, ys, strict=True))
        self._updates = 0

    def _detect(self, trend: float, send_delta_ms: float, now_ms: float) -> None:
        if self._num_deltas < 2:
            self.state = BandwidthUsage.NORMAL
            return
        modified = min(self._num_deltas, MIN_NUM_DELTAS) * trend * THRESHOLD_GAIN
        self.modified_trend = modified
        if modified > self.threshold:
            if self._time_over_using < 0:
                self._time_over_using = send_delta_ms / 2  # assume half the interval was over-use
            else:
                self._time_over_using += send_delta_ms
            self._overuse_count += 1
            if (
                self._time_over_using > OVERUSE_TIME_MS
                and self._overuse_count > 1
                and trend >= self._prev_trend
            ):
                self._time_over_using = 0.0
                self._overuse_count = 0
                self.state = BandwidthUsage.OVERUSING
        elif modified < -self.threshold:
            self._time_over_using = -1.0
            self._overuse_count = 0
            self.state = BandwidthUsage.UNDERUSING
        else:
            self._time_over_using = -1.0
            self._overuse_count = 0
            self.state = BandwidthUsage.NORMAL
        self._prev_trend = trend
        self._update_threshold(modified, now_ms)

    def _update_threshold(self, modified: float, now_ms: float) -> None:
        if self._last_threshold_update < 0:
            self._last_threshold_update = now_ms
        magnitude = abs(modified)
        if magnitude > self.threshold + MAX_ADAPT_OFFSET_MS:
            self._last_threshold_update = now_ms  # a spike (e.g. a capacity drop): do not adapt to it
            return
        k = K_DOWN if magnitude < self.threshold else K_UP
        dt = min(now_ms - self._last_threshold_update, MAX_THRESHOLD_STEP_MS)
        self.threshold = min(
            max(self.threshold + k * (magnitude - self.threshold) * dt, MIN_THRESHOLD_MS), MAX_THRESHOLD_MS
        )
        self._last_threshold_update = now_ms
