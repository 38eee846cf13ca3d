"""LossBasedControl: the loss-driven half of GCC (draft-ietf-rmcat-gcc §6, libwebrtc's classic
SendSideBandwidthEstimation).

Loss is the fraction of packets the transport-wide feedback reports missing, computed once at least
LOSS_MIN_PACKETS = 20 packets were reported since the last computation:

- loss <= 2 %: increase to 1.08 * (the lowest rate of the last second) + 1 kbps, i.e. at most 8 %/s;
- 2 % < loss <= 10 %: hold;
- loss > 10 %: rate *= 1 - loss / 2, at most once per (300 ms + RTT) and once per loss report.

The result never exceeds the delay-based rate (the final target is the smaller of the two). During
the first 2 s without any loss the target follows the delay-based rate up, so start-up probing can
lift it at once. Rates in bits per second, times in milliseconds.
"""

from __future__ import annotations

from collections import deque

from relayroom.media.bwe.bounded import BoundedRate

LOW_LOSS = 0.02
HIGH_LOSS = 0.10
INCREASE_INTERVAL_MS = 1000.0
DECREASE_INTERVAL_MS = 300.0
LOSS_MIN_PACKETS = 20
START_PHASE_MS = 2000.0


class LossBasedControl(BoundedRate):
    __slots__ = (
        "_decreased_since_report",
        "_delay_limit",
        "_expected",
        "_first_update",
        "_history",
        "_last_decrease",
        "_lost",
        "loss",
        "reports",
    )

    def __init__(self, start_bps: float, min_bps: float, max_bps: float) -> None:
        super().__init__(start_bps, min_bps, max_bps)
        self._delay_limit = max_bps
        self._lost = 0
        self._expected = 0
        self.loss = 0.0  # the last computed loss fraction
        self.reports = 0
        self._decreased_since_report = False
        self._last_decrease = -1e12
        self._first_update = -1.0
        self._history: deque[tuple[float, float]] = deque()  # (time, rate): sliding minimum over 1 s

    def set_rate(self, bps: float, now_ms: float) -> None:
        """Adopt a rate measured by other means (a probe)."""
        self.rate_bps = min(self.clamp(bps), self._delay_limit)
        self._history.clear()

    def set_delay_based_limit(self, bps: float) -> None:
        self._delay_limit = bps
        if self.rate_bps > bps:
            self.rate_bps = max(bps, self._min_bps)

    def on_packets(self, lost: int, expected: int) -> None:
        self._lost += lost
        self._expected += expected
        if self._expected >= LOSS_MIN_PACKETS:
            self.loss = self._lost / self._expected
            self._lost = self._expected = 0
            self.reports += 1
            self._decreased_since_report = False

    def update(self, now_ms: float, rtt_ms: float) -> float:
        if self._first_update < 0:
            self._first_update = now_ms
        if self.reports == 0 or (self.loss == 0 and now_ms - self._first_update < START_PHASE_MS):
            if now_ms - self._first_update < START_PHASE_MS and self._delay_limit > self.rate_bps:
                self._set(self._delay_limit, now_ms)
                self._history.clear()
            self._push_history(now_ms)
            return self.rate_bps
        self._push_history(now_ms)
        if self.loss <= LOW_LOSS:
            self._set(self._history[0][1] * 1.08 + 1000, now_ms)
        elif self.loss > HIGH_LOSS and not self._decreased_since_report:
            if now_ms - self._last_decrease >= DECREASE_INTERVAL_MS + rtt_ms:
                self._last_decrease = now_ms
                self._decreased_since_report = True
                self._set(self.rate_bps * (1 - self.loss / 2), now_ms)
        return self.rate_bps

    def _set(self, bps: float, now_ms: float) -> None:
        self.rate_bps = min(self.clamp(bps), max(self._delay_limit, self._min_bps))

    def _push_history(self, now_ms: float) -> None:
        history = self._history
        while history and now_ms - history[0][0] + 1 > INCREASE_INTERVAL_MS:
            history.popleft()
        while history and self.rate_bps <= history[-1][1]:
            history.pop()
        history.append((now_ms, self.rate_bps))
