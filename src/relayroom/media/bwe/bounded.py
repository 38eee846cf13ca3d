"""BoundedRate: a rate in bits per second kept within the configured [min_bps, max_bps], the state both
halves of GCC (delay-based ``AimdRateControl``, loss-based ``LossBasedControl``) start from."""

from __future__ import annotations


class BoundedRate:
    __slots__ = ("_max_bps", "_min_bps", "rate_bps")

    def __init__(self, start_bps: float, min_bps: float, max_bps: float) -> None:
        self._min_bps = min_bps
        self._max_bps = max_bps
        self.rate_bps = self.clamp(start_bps)

    def clamp(self, bps: float) -> float:
        return min(max(bps, self._min_bps), self._max_bps)
