"""What /metrics shows beyond HTTP counters: rooms, members, media workers, entries, webhooks, purges.

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
from sqlalchemy import func, select

from relayroom.media.metrics import shedding_metrics

log = logging.getLogger("relayroom.observability")

# join latency: the server's handling of `enter` (auth, app lookup, room, router on a worker)
JOIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RoomsView(Protocol):
    def list_rooms(self, sdkappid: int | None = None) -> list[dict[str, Any]]: ...


class MediaView(Protocol):
    async def worker_metrics(self, timeout_s: float = 2.0) -> dict[int, dict[str, Any]]: ...

    def workers_running(self) -> tuple[int, int]: ...


class WebhookQueue(Protocol):
    def queue_depth(self) -> int: ...


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

    def entered(self, seconds: float) -> None:
        self.join_seconds.observe(seconds)

    def refused(self, reason: str) -> None:
        self.refusals.labels(reason.lower()).inc()


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
        if media is not None:
            snap.workers = await media.worker_metrics()
            snap.workers_running, snap.workers_configured = media.workers_running()
        webhooks: WebhookQueue | None = getattr(state, "webhooks", None)
        if webhooks is not None:
            snap.webhook_queue = webhooks.queue_depth()
        services = getattr(state, "services", None)
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

    @staticmethod
    def _workers(s: Snapshot) -> Iterator[Metric]:
        up = GaugeMetricFamily("relayroom_media_workers", "Media workers, by state", labels=["state"])
        up.add_metric(["running"], float(s.workers_running))
        up.add_metric(["configured"], float(s.workers_configured))
        yield up
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
