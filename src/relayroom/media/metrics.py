"""Prometheus view of the media workers' counters (read from the last values each worker pushed).

A collector, not live gauges: ``collect()`` runs on each scrape of ``/metrics`` and reads what the
workers last reported (``tcpstats`` notifications, at most one per second per worker), so a scrape
never waits for a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class MediaCollector(Collector):
    """ICE-TCP connection counts per worker: accepted, closed by reason, open by state, frames dropped;
    pipe transports (a room spread over workers): producers piped, packets and bytes per pipe."""

    def __init__(
        self,
        tcp_stats: Callable[[], dict[int, dict[str, Any]]],
        pipe_stats: Callable[[], dict[int, list[dict[str, Any]]]] | None = None,
    ) -> None:
        self._tcp_stats = tcp_stats
        self._pipe_stats = pipe_stats

    def collect(self) -> Iterator[Metric]:
        accepted = CounterMetricFamily(
            "relayroom_media_tcp_connections", "ICE-TCP connections accepted", labels=["worker"]
        )
        closed = CounterMetricFamily(
            "relayroom_media_tcp_closed",
            "ICE-TCP connections closed, by reason (bad_framing, oversized, unauthenticated, "
            "auth_timeout, evicted, limit, refused, idle, transport_closed, peer_closed, worker_closed)",
            labels=["worker", "reason"],
        )
        open_ = GaugeMetricFamily(
            "relayroom_media_tcp_open",
            "ICE-TCP connections open: pending (no valid ICE check yet) or bound to a transport",
            labels=["worker", "state"],
        )
        send_dropped = CounterMetricFamily(
            "relayroom_media_tcp_send_dropped",
            "frames not sent on ICE-TCP connections whose peer did not read fast enough",
            labels=["worker"],
        )
        for index, stats in sorted(self._tcp_stats().items()):
            w = str(index)
            accepted.add_metric([w], float(stats.get("accepted", 0)))
            for reason, n in sorted((stats.get("closed") or {}).items()):
                closed.add_metric([w, str(reason)], float(n))
            open_.add_metric([w, "pending"], float(stats.get("pending", 0)))
            open_.add_metric([w, "bound"], float(stats.get("bound", 0)))
            send_dropped.add_metric([w], float(stats.get("sendDropped", 0)))
        yield from (accepted, closed, open_, send_dropped)
        if self._pipe_stats is not None:
            yield from self._collect_pipes(self._pipe_stats())

    @staticmethod
    def _collect_pipes(by_worker: dict[int, list[dict[str, Any]]]) -> Iterator[Metric]:
        producers = GaugeMetricFamily(
            "relayroom_media_pipe_producers",
            "producers carried by pipe transports: sent to another worker (out) or received (in)",
            labels=["worker", "direction"],
        )
        packets = CounterMetricFamily(
            "relayroom_media_pipe_packets",
            "RTP and RTCP packets per pipe transport",
            labels=["worker", "pipe", "direction"],
        )
        octets = CounterMetricFamily(
            "relayroom_media_pipe_bytes", "bytes per pipe transport", labels=["worker", "pipe", "direction"]
        )
        for index, pipes in sorted(by_worker.items()):
            w = str(index)
            producers.add_metric([w, "out"], float(sum(int(p.get("producersPiped", 0)) for p in pipes)))
            producers.add_metric([w, "in"], float(sum(int(p.get("pipeProducers", 0)) for p in pipes)))
            for p in pipes:
                pipe = str(p.get("id", ""))
                packets.add_metric([w, pipe, "tx"], float(p.get("txPackets", 0)))
                packets.add_metric([w, pipe, "rx"], float(p.get("rxPackets", 0)))
                octets.add_metric([w, pipe, "tx"], float(p.get("txBytes", 0)))
                octets.add_metric([w, pipe, "rx"], float(p.get("rxBytes", 0)))
        yield from (producers, packets, octets)


def shedding_metrics(workers: dict[int, dict[str, Any]]) -> Iterator[Metric]:
    """Load shedding and the DTLS handshake cap per worker, from each worker's ``worker.metrics``
    (docs/performance.md, "Load shedding"; docs/observability.md lists the names)."""
    packets = CounterMetricFamily(
        "relayroom_worker_shed_packets",
        "Video packets of non-key frames dropped by load shedding (the worker was behind)",
        labels=["worker"],
    )
    octets = CounterMetricFamily(
        "relayroom_worker_shed_bytes",
        "Bytes of the video packets dropped by load shedding",
        labels=["worker"],
    )
    turns = CounterMetricFamily(
        "relayroom_worker_shed_turns",
        "Event-loop turns that began with the UDP socket backlogged (those turns shed)",
        labels=["worker"],
    )
    keyframes = CounterMetricFamily(
        "relayroom_worker_shed_keyframe_requests",
        "Key frames requested from publishers once a backlog had drained",
        labels=["worker"],
    )
    deferred = CounterMetricFamily(
        "relayroom_worker_dtls_flights_deferred",
        "DTLS handshake flights that waited for a later event-loop turn (the per-turn budget was spent)",
        labels=["worker"],
    )
    for index, m in sorted(workers.items()):
        w = str(index)
        packets.add_metric([w], float(m.get("shedPackets", 0)))
        octets.add_metric([w], float(m.get("shedBytes", 0)))
        turns.add_metric([w], float(m.get("shedTurns", 0)))
        keyframes.add_metric([w], float(m.get("shedKeyframeRequests", 0)))
        deferred.add_metric([w], float(m.get("dtlsFlightsDeferred", 0)))
    yield from (packets, octets, turns, keyframes, deferred)
