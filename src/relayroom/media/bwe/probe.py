"""Probing: send a short cluster of packets (padding) faster than the current estimate and see what
arrives, to find room the application-limited traffic of an SFU would never reveal.

ProbeController decides when and how fast (libwebrtc's ProbeController, simplified for a server):
- at start, two clusters at 3x and 6x the start rate (capped at the most the subscriber could use,
  ``set_max_bitrate``);
- exponential continuation: while a result reaches 70 % of what was probed, probe again at 2x the new
  estimate (within 1 s of the result);
- periodic: while the estimate is below the most the subscriber could use, one probe every
  PERIODIC_INTERVAL_MS at min(2x estimate, that maximum); after a probe that found no room, the next
  one waits BACKOFF_INTERVAL_MS. This is how a subscriber cut down to a small layer climbs back.
- ``request(bps)``: the layer allocator asks for a probe at the rate a higher layer would need.

ProbeBitrateEstimator turns the transport-wide feedback of a cluster into a rate (libwebrtc's
ProbeBitrateEstimator): once >= 80 % of its packets and bytes are reported, send rate = bytes but the
last sent / send interval, receive rate = bytes but the first received / receive interval; a receive
rate more than 2x the send rate is invalid; the result is min(send, receive), or 95 % of the receive
rate when it is below 90 % of the send rate (the link is saturated: that is its capacity).

Our deviation: MIN_PROBE_DURATION_MS = 30 and MIN_PROBE_PACKETS = 6 (libwebrtc: 15 ms, 5 packets), as
a Python pacer's timer granularity (a few ms) would make 15 ms clusters too coarse to measure.
Rates in bits per second, times in milliseconds.
"""

from __future__ import annotations

from typing import NamedTuple

FIRST_EXPONENTIAL_SCALE = 3.0
SECOND_EXPONENTIAL_SCALE = 6.0
FURTHER_SCALE = 2.0
REPEAT_FRACTION = 0.7
MAX_WAIT_FOR_RESULT_MS = 1000.0
PERIODIC_INTERVAL_MS = 3000.0
BACKOFF_INTERVAL_MS = 6000.0
MIN_PROBE_DURATION_MS = 30.0
MIN_PROBE_PACKETS = 6
MIN_RECEIVED_FRACTION = 0.8
MAX_VALID_RATIO = 2.0
MIN_RATIO_UNSATURATED = 0.9
TARGET_UTILIZATION = 0.95
MAX_PROBE_INTERVAL_MS = 1000.0
CLUSTER_HISTORY_MS = 1000.0


class ProbeCluster(NamedTuple):
    id: int
    bitrate_bps: int
    min_packets: int
    min_bytes: int
    duration_ms: float


class ProbeController:
    __slots__ = (
        "_last_probe",
        "_last_probe_bps",
        "_max_bps",
        "_next_id",
        "_pending",
        "_periodic_wait",
        "_waiting_since",
        "_waiting_threshold",
    )

    def __init__(self, max_bps: float) -> None:
        self._max_bps = max_bps
        self._next_id = 1
        self._pending: list[ProbeCluster] = []
        self._waiting_threshold = 0.0  # > 0: exponential probing, continue above this estimate
        self._waiting_since = 0.0
        self._last_probe = -1e12
        self._last_probe_bps = 0.0
        self._periodic_wait = PERIODIC_INTERVAL_MS

    def set_max_bitrate(self, bps: float) -> None:
        self._max_bps = bps

    def on_start(self, start_bps: float, now_ms: float) -> None:
        self._probe([start_bps * FIRST_EXPONENTIAL_SCALE, start_bps * SECOND_EXPONENTIAL_SCALE], now_ms, True)

    def request(self, bps: float, now_ms: float) -> None:
        """Probe at ``bps`` (the layer allocator wants to know whether a higher layer fits)."""
        if not self._pending and now_ms - self._last_probe >= MAX_WAIT_FOR_RESULT_MS:
            self._probe([bps], now_ms, True)

    def on_estimate(self, estimate_bps: float, now_ms: float, probe_result: bool) -> None:
        """Every new estimate: continue exponential probing, or schedule the periodic probe."""
        if self._waiting_threshold > 0:
            if now_ms - self._waiting_since > MAX_WAIT_FOR_RESULT_MS:
                self._waiting_threshold = 0.0
                self._periodic_wait = BACKOFF_INTERVAL_MS  # nothing came of it
            elif estimate_bps > self._waiting_threshold:
                self._probe([estimate_bps * FURTHER_SCALE], now_ms, True)
                return
        if probe_result:
            found_room = estimate_bps >= REPEAT_FRACTION * self._last_probe_bps
            self._periodic_wait = PERIODIC_INTERVAL_MS if found_room else BACKOFF_INTERVAL_MS
        if (
            not self._pending
            and self._waiting_threshold == 0
            and estimate_bps < self._max_bps
            and now_ms - self._last_probe >= self._periodic_wait
        ):
            self._probe([estimate_bps * FURTHER_SCALE], now_ms, True)

    def pop(self) -> ProbeCluster | None:
        return self._pending.pop(0) if self._pending else None

    def _probe(self, rates: list[float], now_ms: float, exponential: bool) -> None:
        sent = False
        for bps in rates:
            bps = min(bps, self._max_bps)
            if bps <= 0 or (sent and bps <= self._last_probe_bps):
                continue
            min_bytes = int(bps * MIN_PROBE_DURATION_MS / 8000)
            self._pending.append(
                ProbeCluster(self._next_id, int(bps), MIN_PROBE_PACKETS, min_bytes, MIN_PROBE_DURATION_MS)
            )
            self._next_id += 1
            self._last_probe_bps = bps
            sent = True
        if sent:
            self._last_probe = now_ms
            if exponential:
                self._waiting_threshold = REPEAT_FRACTION * self._last_probe_bps
                self._waiting_since = now_ms
        if sent and self._last_probe_bps >= self._max_bps:
            self._waiting_threshold = 0.0  # reached the most that could be used: stop here

    @property
    def waiting(self) -> bool:
        return self._waiting_threshold > 0


class _Cluster:
    __slots__ = (
        "first_receive",
        "first_send",
        "last_receive",
        "last_send",
        "min_bytes",
        "min_packets",
        "packets",
        "size_first_receive",
        "size_last_send",
        "total",
    )

    def __init__(self, min_packets: int, min_bytes: int) -> None:
        self.min_packets = min_packets
        self.min_bytes = min_bytes
        self.first_send = float("inf")
        self.last_send = float("-inf")
        self.first_receive = float("inf")
        self.last_receive = float("-inf")
        self.size_last_send = 0
        self.size_first_receive = 0
        self.total = 0
        self.packets = 0


class ProbeBitrateEstimator:
    __slots__ = ("_clusters", "_last_result", "_last_seen")

    def __init__(self) -> None:
        self._clusters: dict[int, tuple[_Cluster, float]] = {}  # id -> (cluster, last update time)
        self._last_result: float | None = None
        self._last_seen = 0.0

    def add(
        self, cluster: ProbeCluster, send_ms: float, arrival_ms: float, size: int, now_ms: float
    ) -> float | None:
        """One reported probe packet of ``cluster``; a rate once the cluster is complete enough."""
        for cid in [c for c, (_, seen) in self._clusters.items() if now_ms - seen > CLUSTER_HISTORY_MS]:
            del self._clusters[cid]
        entry = self._clusters.get(cluster.id)
        c = entry[0] if entry is not None else _Cluster(cluster.min_packets, cluster.min_bytes)
        self._clusters[cluster.id] = (c, now_ms)
        if send_ms < c.first_send:
            c.first_send = send_ms
        if send_ms > c.last_send:
            c.last_send = send_ms
            c.size_last_send = size
        if arrival_ms < c.first_receive:
            c.first_receive = arrival_ms
            c.size_first_receive = size
        if arrival_ms > c.last_receive:
            c.last_receive = arrival_ms
        c.total += size
        c.packets += 1
        if c.packets < c.min_packets * MIN_RECEIVED_FRACTION or c.total < c.min_bytes * MIN_RECEIVED_FRACTION:
            return None
        send_interval = c.last_send - c.first_send
        receive_interval = c.last_receive - c.first_receive
        if not (0 < send_interval <= MAX_PROBE_INTERVAL_MS and 0 < receive_interval <= MAX_PROBE_INTERVAL_MS):
            return None
        send_rate = 8000 * (c.total - c.size_last_send) / send_interval
        receive_rate = 8000 * (c.total - c.size_first_receive) / receive_interval
        if send_rate <= 0 or receive_rate / send_rate > MAX_VALID_RATIO:
            return None
        result = min(send_rate, receive_rate)
        if receive_rate < MIN_RATIO_UNSATURATED * send_rate:
            result = TARGET_UTILIZATION * receive_rate
        self._last_result = result
        return result

    def fetch(self) -> float | None:
        """The newest result since the last call, if any."""
        result, self._last_result = self._last_result, None
        return result
