"""AckedBitrateEstimator: the throughput the receiver reports having received (libwebrtc's
BitrateEstimator, used by goog_cc as the acknowledged bitrate).

Bytes are summed per window of arrival time (500 ms until the first estimate, then 150 ms) into a
rate sample; samples are merged with a scalar Bayesian update whose sample variance grows with the
distance from the current estimate (UNCERTAINTY_SCALE = 10, symmetric), and whose estimate variance
grows by 5 per sample, so one odd window does not swing it, a lasting change does within a few.
``last_sample_bps`` is the newest window alone: the estimator cuts to it on over-use when it is lower,
so a sudden capacity drop is followed within one window instead of after the smoothing (libwebrtc
gets a similar effect from its robust throughput estimator).
Rates in kbps inside (as in the original), bits per second outside; times in milliseconds.
"""

from __future__ import annotations

INITIAL_WINDOW_MS = 500.0
WINDOW_MS = 150.0
UNCERTAINTY_SCALE = 10.0
INITIAL_VARIANCE = 50.0
VARIANCE_GROWTH = 5.0


class AckedBitrateEstimator:
    __slots__ = ("_estimate_kbps", "_prev_ms", "_sum_bytes", "_variance", "_window_ms", "last_sample_bps")

    def __init__(self) -> None:
        self._sum_bytes = 0
        self._window_ms = 0.0
        self._prev_ms = -1.0
        self._estimate_kbps = -1.0
        self._variance = INITIAL_VARIANCE
        self.last_sample_bps: float | None = None  # the newest window on its own (no smoothing)

    @property
    def bitrate_bps(self) -> float | None:
        return None if self._estimate_kbps < 0 else self._estimate_kbps * 1000

    def update_many(self, arrivals_ms: list[float], sizes: list[int]) -> None:
        """``update`` for each (arrival, size) of one feedback packet, in arrival order. Packets that
        only add to the current window take a fast path with the state in locals."""
        prev = self._prev_ms
        total = self._sum_bytes
        elapsed = self._window_ms
        window = INITIAL_WINDOW_MS if self._estimate_kbps < 0 else WINDOW_MS
        for arrival_ms, size in zip(arrivals_ms, sizes, strict=True):
            gap = arrival_ms - prev
            if prev >= 0 and 0 <= gap <= window and elapsed + gap < window:
                elapsed += gap
                prev = arrival_ms
                total += size
                continue
            self._prev_ms, self._sum_bytes, self._window_ms = prev, total, elapsed
            self.update(arrival_ms, size)
            prev, total, elapsed = self._prev_ms, self._sum_bytes, self._window_ms
            window = INITIAL_WINDOW_MS if self._estimate_kbps < 0 else WINDOW_MS
        self._prev_ms, self._sum_bytes, self._window_ms = prev, total, elapsed

    def update(self, arrival_ms: float, size: int) -> None:
        window = INITIAL_WINDOW_MS if self._estimate_kbps < 0 else WINDOW_MS
        sample = self._sample(arrival_ms, size, window)
        if sample < 0:
            return
        self.last_sample_bps = sample * 1000
        if self._estimate_kbps < 0:
            self._estimate_kbps = sample
            return
        est = self._estimate_kbps
        uncertainty = UNCERTAINTY_SCALE * abs(est - sample) / (est + sample) if est + sample > 0 else 0.0
        sample_var = uncertainty * uncertainty
        pred_var = self._variance + VARIANCE_GROWTH
        self._estimate_kbps = (sample_var * est + pred_var * sample) / (sample_var + pred_var)
        self._variance = sample_var * pred_var / (sample_var + pred_var)

    def _sample(self, now_ms: float, size: int, window: float) -> float:
        if now_ms < self._prev_ms:  # time went backwards (reordered feedback): start the window over
            self._prev_ms = -1.0
            self._sum_bytes = 0
            self._window_ms = 0.0
        if self._prev_ms >= 0:
            self._window_ms += now_ms - self._prev_ms
            if now_ms - self._prev_ms > window:  # nothing for a whole window
                self._sum_bytes = 0
                self._window_ms %= window
        self._prev_ms = now_ms
        sample = -1.0
        if self._window_ms >= window:
            sample = 8.0 * self._sum_bytes / window
            self._window_ms -= window
            self._sum_bytes = 0
        self._sum_bytes += size
        return sample
