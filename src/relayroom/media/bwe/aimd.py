"""AimdRateControl: the delay-based rate, driven by the over-use detector (draft-ietf-rmcat-gcc §5.5).

States: HOLD, INCREASE, DECREASE. OVERUSING -> DECREASE (from any state); UNDERUSING -> HOLD (let the
queue drain); NORMAL -> INCREASE after HOLD.

- DECREASE: rate = BETA (0.85) * acknowledged throughput (what the receiver actually got), never
  upwards; then HOLD. Repeated at most once per RTT (clamped to [10, 200] ms) while over-use lasts,
  sooner if the throughput fell below half of the rate.
- INCREASE: multiplicative, 8 % per second (ALPHA = 1.08 ** seconds), while the link capacity is
  unknown; additive, about one packet per response time (RTT + 100 ms), once a capacity estimate
  exists and the throughput stays near it (``LinkCapacityEstimator``). Never above
  1.5 * throughput + 10 kbps: an application-limited sender (an SFU forwarding a small layer) does not
  learn anything about the capacity above what it sends, so only probes may lift the rate beyond it.
- The link capacity is an exponential average (weight 0.05) of the throughput at each over-use, with
  a normalised variance; a throughput outside estimate +- 3 standard deviations resets it.

Rates in bits per second, times in milliseconds. Constants are libwebrtc's (aimd_rate_control.cc,
link_capacity_estimator.cc).
"""

from __future__ import annotations

import enum
import math

from relayroom.media.bwe.bounded import BoundedRate
from relayroom.media.bwe.trendline import BandwidthUsage

BETA = 0.85
ALPHA = 1.08
MIN_INCREASE_BPS_PER_S = 4000.0
DEFAULT_RTT_MS = 200.0
REACTION_TIME_MS = 100.0
PACKET_BITS = 1200 * 8
FRAME_S = 1 / 30


class RateControlState(enum.IntEnum):
    HOLD = 0
    INCREASE = 1
    DECREASE = 2


class LinkCapacityEstimator:
    __slots__ = ("_deviation_kbps", "estimate_kbps")

    def __init__(self) -> None:
        self.estimate_kbps: float | None = None
        self._deviation_kbps = 0.4

    def upper_bound_bps(self) -> float:
        if self.estimate_kbps is None:
            return math.inf
        return 1000 * (self.estimate_kbps + 3 * math.sqrt(self.estimate_kbps * self._deviation_kbps))

    def lower_bound_bps(self) -> float:
        if self.estimate_kbps is None:
            return 0.0
        return 1000 * max(0.0, self.estimate_kbps - 3 * math.sqrt(self.estimate_kbps * self._deviation_kbps))

    def reset(self) -> None:
        self.estimate_kbps = None

    def on_overuse(self, throughput_bps: float) -> None:
        self._update(throughput_bps / 1000, 0.05)

    def on_probe(self, rate_bps: float) -> None:
        self._update(rate_bps / 1000, 0.5)

    def _update(self, sample_kbps: float, alpha: float) -> None:
        if self.estimate_kbps is None:
            self.estimate_kbps = sample_kbps
        else:
            self.estimate_kbps = (1 - alpha) * self.estimate_kbps + alpha * sample_kbps
        norm = max(self.estimate_kbps, 1.0)
        error = self.estimate_kbps - sample_kbps
        deviation = (1 - alpha) * self._deviation_kbps + alpha * error * error / norm
        self._deviation_kbps = min(max(deviation, 0.4), 2.5)  # ~14 to 35 kbps at 500 kbps


class AimdRateControl(BoundedRate):
    __slots__ = ("_last_change", "_latest_throughput", "link_capacity", "rtt_ms", "state")

    def __init__(self, start_bps: float, min_bps: float, max_bps: float) -> None:
        super().__init__(start_bps, min_bps, max_bps)
        self.state = RateControlState.HOLD
        self.rtt_ms = DEFAULT_RTT_MS
        self.link_capacity = LinkCapacityEstimator()
        self._last_change = -1.0
        self._latest_throughput = 0.0

    def set_estimate(self, bps: float, now_ms: float) -> None:
        """A rate measured by other means (a probe): adopt it."""
        self.rate_bps = self.clamp(bps)
        self._last_change = now_ms

    def time_to_reduce_further(self, now_ms: float, throughput_bps: float) -> bool:
        interval = min(max(self.rtt_ms, 10.0), 200.0)
        if now_ms - self._last_change >= interval:
            return True
        return throughput_bps < 0.5 * self.rate_bps

    def update(self, usage: BandwidthUsage, throughput_bps: float | None, now_ms: float) -> float:
        if throughput_bps is not None:
            self._latest_throughput = throughput_bps
        throughput = self._latest_throughput
        self._change_state(usage, now_ms)
        rate = self.rate_bps
        new_rate: float | None = None
        if self.state == RateControlState.INCREASE:
            if throughput > self.link_capacity.upper_bound_bps():
                self.link_capacity.reset()
            limit = 1.5 * throughput + 10_000
            if rate < limit:
                if self.link_capacity.estimate_kbps is not None:
                    increased = rate + self._additive_increase(now_ms)
                else:
                    increased = rate + self._multiplicative_increase(now_ms, rate)
                new_rate = min(increased, limit)
            self._last_change = now_ms
        elif self.state == RateControlState.DECREASE:
            decreased = BETA * throughput
            if decreased > rate and self.link_capacity.estimate_kbps is not None:
                decreased = BETA * self.link_capacity.estimate_kbps * 1000
            if decreased < rate:
                new_rate = decreased
            if throughput < self.link_capacity.lower_bound_bps():
                self.link_capacity.reset()  # far below what we believed: learn it again
            self.link_capacity.on_overuse(throughput)
            self.state = RateControlState.HOLD  # until the queue has drained
            self._last_change = now_ms
        if new_rate is not None:
            self.rate_bps = self.clamp(new_rate)
        return self.rate_bps

    def _change_state(self, usage: BandwidthUsage, now_ms: float) -> None:
        if usage == BandwidthUsage.NORMAL:
            if self.state == RateControlState.HOLD:
                self._last_change = now_ms
                self.state = RateControlState.INCREASE
        elif usage == BandwidthUsage.OVERUSING:
            self.state = RateControlState.DECREASE
        else:
            self.state = RateControlState.HOLD

    def _multiplicative_increase(self, now_ms: float, rate: float) -> float:
        alpha = ALPHA
        if self._last_change >= 0:
            elapsed_s = min(now_ms - self._last_change, 1000.0) / 1000
            alpha = ALPHA**elapsed_s
        return max(rate * (alpha - 1), 1000.0)

    def _additive_increase(self, now_ms: float) -> float:
        elapsed_s = max(now_ms - self._last_change, 0.0) / 1000 if self._last_change >= 0 else 0.0
        return elapsed_s * self._near_max_increase_per_s()

    def _near_max_increase_per_s(self) -> float:
        """About one average packet per response time (RTT + REACTION_TIME_MS)."""
        frame_bits = self.rate_bps * FRAME_S
        packets = max(math.ceil(frame_bits / PACKET_BITS), 1)
        per_s = (frame_bits / packets) / ((self.rtt_ms + REACTION_TIME_MS) / 1000)
        return max(MIN_INCREASE_BPS_PER_S, per_s)
