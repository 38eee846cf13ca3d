"""What /metrics shows beyond HTTP counters: rooms, members, media workers, entries, webhooks, purges,
and the node itself (its id and region, draining, Redis and PostgreSQL health, the cluster's nodes as
this node sees them, entries redirected to another node).

The numbers come from the running services through small typed calls, gathered by ``refresh()`` (the
/metrics handler awaits it before rendering: a scrape asks each worker once, ``worker.metrics``, with a
short timeout) and rendered by ``ControlPlaneCollector.collect()`` from that snapshot. Entry counts
(join latency, refusals by reason) are recorded as they happen by the signalling endpoint through
``EntryMetrics``. docs/observability.md lists every name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from relayroom.control.rooms.errors import ErrorCode
from relayroom.media.metrics import shedding_metrics

log = logging.getLogger("relayroom.observability")

# join latency: the server's handling of `enter` (auth, app lookup, room, router on a worker)
JOIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RoomsView(Protocol):
    def list_rooms(self, sdkappid: int | None = None) -> list[dict[str, Any]]: ...


class MediaView(Protocol):
    async def worker_metrics(self, timeout_s: float = 2.0) -> dict[int, dict[str, Any]]: ...

    def workers_running(self) -> tuple[int, int]: ...

    def consumer_loads(self) -> dict[int, int]: ...


class WebhookQueue(Protocol):
    def queue_depth(self) -> int: ...


REDIS_TIMEOUT_S = 1.0
DB_TIMEOUT_S = 2.0


@dataclass
class NodeHealth:
    """This node and what it depends on. ``redis_up`` is -1 on a single node (no ``redis_url``)."""

    node_id: str = ""
    region: str = ""
    draining: bool = False
    database_up: bool = False
    redis_up: int = -1
    nodes: dict[str, int] = field(default_factory=dict)  # "live" / "draining" -> nodes in the registry


@dataclass
class Snapshot:
    rooms: dict[str, int] = field(default_factory=dict)  # scene -> rooms
    members: dict[str, int] = field(default_factory=dict)  # role -> members
    workers: dict[int, dict[str, Any]] = field(default_factory=dict)
    workers_running: int = 0
    workers_configured: int = 0
    webhook_queue: int = 0  # events not yet in the outbox
    webhook_deliveries: dict[str, int] = field(default_factory=dict)  # state -> rows
    purges_due: int = 0
    purges_overdue: int = 0
    worker_loads: dict[int, float] = field(default_factory=dict)  # consumers / worker_capacity
    node: NodeHealth = field(default_factory=NodeHealth)
    refreshed: bool = False


class EntryMetrics:
    """Recorded by the signalling endpoint for every `enter` request."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.join_seconds = Histogram(
            "relayroom_join_seconds",
            "Time the server took to handle an accepted enter request (auth, room, media router)",
            buckets=JOIN_BUCKETS,
            registry=registry,
        )
        self.refusals = Counter(
            "relayroom_entry_refusals",
            "Enter requests refused, by reason (the error code's name, e.g. usersig_invalid)",
            ["reason"],
            registry=registry,
        )
        self.redirects = Counter(
            "relayroom_entry_redirects",
            "Enter requests answered with a redirect to the node that owns the room (cluster)",
            registry=registry,
        )

    def entered(self, seconds: float) -> None:
        self.join_seconds.observe(seconds)

    def refused(self, reason: str) -> None:
        """A refused enter; ROOM_ELSEWHERE is a redirect (the answer names the owner's URL): counted
        as both, so refusals stay the whole of what was not admitted here."""
        reason = reason.lower()
        self.refusals.labels(reason).inc()
        if reason == ErrorCode.ROOM_ELSEWHERE.name.lower():
            self.redirects.inc()


async def webhook_delivery_states(db: Any) -> dict[str, int]:
    from relayroom.storage.models.webhooks import WebhookDelivery

    async with db.read() as s:
        rows = await s.execute(select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state))
        return {str(state): int(n) for state, n in rows}


async def purge_jobs(db: Any, now: datetime) -> tuple[int, int]:
    """(due, overdue) purge jobs: not completed and past their target time / their hard deadline."""
    from relayroom.storage.models.privacy import RetentionJob

    open_ = RetentionJob.state != "completed"
    async with db.read() as s:
        due = await s.scalar(select(func.count()).where(open_, RetentionJob.due_at <= now))
        overdue = await s.scalar(select(func.count()).where(open_, RetentionJob.deadline_at <= now))
    return int(due or 0), int(overdue or 0)


async def database_up(db: Any) -> bool:
    """PostgreSQL (or SQLite) answers ``SELECT 1`` within two seconds."""
    try:
        async with asyncio.timeout(DB_TIMEOUT_S):
            async with db.read() as s:
                await s.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def node_health(state: Any) -> NodeHealth:
    """Who this node is and whether its database, Redis and cluster answer (each bounded in time)."""
    services = getattr(state, "services", None)
    cluster = getattr(state, "cluster", None)
    connections = getattr(state, "signal_connections", None)
    health = NodeHealth(
        node_id=str(getattr(state, "node_id", "") or ""),
        region=str(getattr(getattr(getattr(services, "ctx", None), "settings", None), "region", "") or ""),
        draining=bool(getattr(cluster, "draining", False) or getattr(connections, "closing", False)),
        database_up=await database_up(services.ctx.db) if services is not None else False,
    )
    if cluster is None:
        health.nodes = {"live": 1, "draining": int(health.draining)}  # a single node: itself
        return health
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            await cluster.redis.ping()
            nodes = await cluster.registry.live_nodes()
        health.redis_up = 1
        health.nodes = {"live": len(nodes), "draining": sum(1 for n in nodes if n.draining)}
    except Exception:
        health.redis_up = 0
    return health


class ControlPlaneCollector(Collector):
    """Renders the last snapshot (``refresh`` fills it)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    async def refresh(self, state: Any) -> None:
        snap = Snapshot(refreshed=True)
        rooms: RoomsView | None = getattr(state, "rooms", None)
        if rooms is not None:
            for r in rooms.list_rooms():
                snap.rooms[r["scene"]] = snap.rooms.get(r["scene"], 0) + 1
                anchors = int(r["anchors"])
                snap.members["anchor"] = snap.members.get("anchor", 0) + anchors
                snap.members["audience"] = snap.members.get("audience", 0) + int(r["members"]) - anchors
        media: MediaView | None = getattr(state, "media", None)
        services = getattr(state, "services", None)
        if media is not None:
            snap.workers = await media.worker_metrics()
            snap.workers_running, snap.workers_configured = media.workers_running()
            capacity = services.ctx.settings.media.worker_capacity if services is not None else 0
            if capacity > 0:
                snap.worker_loads = {i: n / capacity for i, n in media.consumer_loads().items()}
        webhooks: WebhookQueue | None = getattr(state, "webhooks", None)
        if webhooks is not None:
            snap.webhook_queue = webhooks.queue_depth()
        snap.node = await node_health(state)
        if services is not None:
            ctx = services.ctx
            with contextlib.suppress(Exception):  # a database that does not answer: /readyz says so
                async with asyncio.timeout(2.0):
                    snap.webhook_deliveries = await webhook_delivery_states(ctx.db)
                    snap.purges_due, snap.purges_overdue = await purge_jobs(ctx.db, ctx.clock.now())
        self.snapshot = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        rooms = GaugeMetricFamily("relayroom_rooms", "Rooms open on this node, by scene", labels=["scene"])
        for scene in ("rtc", "live"):
            rooms.add_metric([scene], float(s.rooms.get(scene, 0)))
        members = GaugeMetricFamily(
            "relayroom_members", "Members in rooms on this node, by role", labels=["role"]
        )
        for role in ("anchor", "audience"):
            members.add_metric([role], float(s.members.get(role, 0)))
        yield from (rooms, members)
        yield from self._workers(s)
        queue = GaugeMetricFamily(
            "relayroom_webhook_queue_depth",
            "Room events not yet written to the callback outbox, plus outbox rows still pending",
        )
        queue.add_metric([], float(s.webhook_queue + s.webhook_deliveries.get("pending", 0)))
        deliveries = GaugeMetricFamily(
            "relayroom_webhook_deliveries",
            "Callback outbox rows by state (pending, delivered, failed = given up, dropped = no URL)",
            labels=["state"],
        )
        for st in ("pending", "delivered", "failed", "dropped"):
            deliveries.add_metric([st], float(s.webhook_deliveries.get(st, 0)))
        due = GaugeMetricFamily("relayroom_purge_jobs_due", "Purge jobs past their target time, not done")
        due.add_metric([], float(s.purges_due))
        overdue = GaugeMetricFamily(
            "relayroom_purge_jobs_overdue", "Purge jobs past their hard deadline, not done (an SLA breach)"
        )
        overdue.add_metric([], float(s.purges_overdue))
        yield from (queue, deliveries, due, overdue)
        yield from self._node(s.node)

    @staticmethod
    def _node(n: NodeHealth) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "relayroom_node_info", "This node: its id and region (always 1)", labels=["node", "region"]
        )
        info.add_metric([n.node_id, n.region], 1.0)
        draining = GaugeMetricFamily(
            "relayroom_node_draining", "1 while this node drains (takes no new rooms, moves its members)"
        )
        draining.add_metric([], float(n.draining))
        db = GaugeMetricFamily(
            "relayroom_database_up", "The database answers SELECT 1 within 2 s (1) or not (0)"
        )
        db.add_metric([], float(n.database_up))
        redis = GaugeMetricFamily(
            "relayroom_redis_up",
            "Redis answers PING within 1 s: 1 yes, 0 no, -1 not configured (single node)",
        )
        redis.add_metric([], float(n.redis_up))
        nodes = GaugeMetricFamily(
            "relayroom_cluster_nodes",
            "Nodes whose heartbeat is current, as this node sees them (live), and those draining",
            labels=["state"],
        )
        for st in ("live", "draining"):
            nodes.add_metric([st], float(n.nodes.get(st, 0)))
        yield from (info, draining, db, redis, nodes)

    @staticmethod
    def _workers(s: Snapshot) -> Iterator[Metric]:
        up = GaugeMetricFamily("relayroom_media_workers", "Media workers, by state", labels=["state"])
        up.add_metric(["running"], float(s.workers_running))
        up.add_metric(["configured"], float(s.workers_configured))
        yield up
        load = GaugeMetricFamily(
            "relayroom_worker_load",
            "Consumers on each worker as a share of media.worker_capacity (what placement compares)",
            labels=["worker"],
        )
        for index, share in sorted(s.worker_loads.items()):
            load.add_metric([str(index)], share)
        yield load
        gauges = {
            "producers": GaugeMetricFamily(
                "relayroom_media_producers", "Producers (published tracks) per worker", labels=["worker"]
            ),
            "consumers": GaugeMetricFamily(
                "relayroom_media_consumers", "Consumers (subscribed tracks) per worker", labels=["worker"]
            ),
            "transports": GaugeMetricFamily(
                "relayroom_media_transports", "WebRTC transports per worker", labels=["worker"]
            ),
            "routers": GaugeMetricFamily(
                "relayroom_media_routers", "Routers (rooms) per worker", labels=["worker"]
            ),
            "rssBytes": GaugeMetricFamily(
                "relayroom_worker_resident_memory_bytes", "Resident memory of each worker", labels=["worker"]
            ),
        }
        counters = {
            "cpuSeconds": CounterMetricFamily(
                "relayroom_worker_cpu_seconds", "CPU time (user + system) of each worker", labels=["worker"]
            ),
            "rxPackets": CounterMetricFamily(
                "relayroom_worker_received_packets",
                "Datagrams received on the worker's UDP socket",
                labels=["worker"],
            ),
            "rxBytes": CounterMetricFamily(
                "relayroom_worker_received_bytes",
                "Bytes received on the worker's UDP socket",
                labels=["worker"],
            ),
            "txPackets": CounterMetricFamily(
                "relayroom_worker_sent_packets",
                "Datagrams sent on the worker's UDP socket",
                labels=["worker"],
            ),
            "txBytes": CounterMetricFamily(
                "relayroom_worker_sent_bytes", "Bytes sent on the worker's UDP socket", labels=["worker"]
            ),
            "rtxSent": CounterMetricFamily(
                "relayroom_worker_rtx_sent_packets",
                "Retransmissions (RTX) sent to subscribers",
                labels=["worker"],
            ),
        }
        drops = CounterMetricFamily(
            "relayroom_worker_dropped_packets",
            "Datagrams dropped: kernel (receive buffer full), worker (not ours / malformed), send (errors)",
            labels=["worker", "where"],
        )
        feedback = CounterMetricFamily(
            "relayroom_worker_rtcp_feedback_received",
            "RTCP feedback from subscribers: nack (NACK messages), pli, fir",
            labels=["worker", "type"],
        )
        for index, m in sorted(s.workers.items()):
            w = str(index)
            for key, g in gauges.items():
                g.add_metric([w], float(m.get(key, 0)))
            for key, c in counters.items():
                c.add_metric([w], float(m.get(key, 0)))
            drops.add_metric([w, "kernel"], float(m.get("droppedKernel", 0)))
            drops.add_metric([w, "worker"], float(m.get("droppedWorker", 0)))
            drops.add_metric([w, "send"], float(m.get("sendErrors", 0)))
            feedback.add_metric([w, "nack"], float(m.get("nacks", 0)))
            feedback.add_metric([w, "pli"], float(m.get("plis", 0)))
            feedback.add_metric([w, "fir"], float(m.get("firs", 0)))
        yield from gauges.values()
        yield from counters.values()
        yield from (drops, feedback)
        yield from shedding_metrics(s.workers)


def register(registry: CollectorRegistry) -> tuple[ControlPlaneCollector, EntryMetrics]:
    """The control plane's collectors on the app's registry (process_* for the control plane itself)."""
    ProcessCollector(registry=registry)
    collector = ControlPlaneCollector()
    registry.register(collector)
    return collector, EntryMetrics(registry)
