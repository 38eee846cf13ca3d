"""A cluster node at run time: its Redis client, heartbeat, room leases and command bus, started and
stopped with the control plane (``control/container.py`` builds one when ``redis_url`` is set).

:class:`ClusterRuntime` owns the pieces; the room manager reaches them only through its seams
(:class:`LeaseRoomRegistry` is its ``RoomRegistry``, :class:`ClusterPresence` its ``Presence``,
:class:`~relayroom.cluster.placement.RoomPlacement` decides where an entry belongs). A Redis outage
never raises out of the heartbeat or the keeper: they log once and carry on; the rooms this node holds
keep running (docs/cluster.md, decisions 0025 and 0028).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from relayroom.cluster.bus import CommandBus
from relayroom.cluster.leases import RoomLeases
from relayroom.cluster.redis import ClusterUnavailable
from relayroom.cluster.registry import NodeInfo, NodeRegistry, WorkerLoad
from relayroom.cluster.seams import ClusterPresence, LeaseRoomRegistry
from relayroom.cluster.shared import RedisPresence

log = logging.getLogger(__name__)

# What the node reports of itself at each heartbeat: its workers (address and load) and its room count.
LoadProbe = Callable[[], tuple[tuple[WorkerLoad, ...], int]]


@dataclass(frozen=True)
class ClusterTimings:
    """Heartbeat and lease TTLs (seconds): a dead node drops out, and its rooms free up, after these."""

    node_ttl_s: float = 5.0
    lease_ttl_s: float = 5.0
    presence_ttl_s: float = 120.0


@dataclass
class ClusterRuntime:
    """This node's membership of the cluster. ``start`` registers it (heartbeat), starts the lease
    keeper and the command bus; ``close`` leaves: bus, leases released, record removed, client closed."""

    redis: aioredis.Redis
    node_id: str
    region: str
    public_url: str
    registry: NodeRegistry
    leases: RoomLeases
    bus: CommandBus
    presence: RedisPresence
    room_registry: LeaseRoomRegistry  # the room manager's RoomRegistry
    room_presence: ClusterPresence  # the room manager's Presence
    timings: ClusterTimings = field(default_factory=ClusterTimings)
    prefix: str = "relayroom:"  # every Redis key of this deployment starts with it
    probe: LoadProbe | None = None
    draining: bool = False
    redis_ok: bool = True  # the last heartbeat reached Redis
    _heartbeat: asyncio.Task[None] | None = None

    def info(self) -> NodeInfo:
        """This node's record as the next heartbeat writes it."""
        workers, rooms = self.probe() if self.probe is not None else ((), 0)
        return NodeInfo(
            node_id=self.node_id,
            region=self.region,
            public_url=self.public_url,
            workers=workers,
            draining=self.draining,
            rooms=rooms,
        )

    async def start(self) -> None:
        try:
            await self.registry.heartbeat(self.info())
        except ClusterUnavailable:
            self.redis_ok = False
            log.warning("Redis unreachable at start: this node registers when it answers")
        await self.bus.start()
        self.leases.start()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="node-heartbeat")

    async def set_draining(self, draining: bool = True) -> None:
        """Stop (or resume) taking new rooms; other nodes see it at once (a heartbeat now)."""
        self.draining = draining
        with contextlib.suppress(ClusterUnavailable):
            await self.registry.heartbeat(self.info())

    async def public_url_of(self, node_id: str) -> str | None:
        """The public URL of a live node (None: no heartbeat, the node is gone or not yet up)."""
        if node_id == self.node_id:
            return self.public_url
        found = await self.registry.get(node_id)
        return found.public_url if found is not None else None

    async def close(self) -> None:
        """Drain-first: the caller closed the rooms already; leave the cluster, then close Redis."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        await self.bus.close()
        await self.room_presence.close()
        await self.leases.close(release=True)
        with contextlib.suppress(ClusterUnavailable):
            await self.registry.leave(self.node_id)
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def _beat(self) -> None:
        interval = self.timings.node_ttl_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.registry.heartbeat(self.info())
                if not self.redis_ok:
                    log.info("node registered again after a Redis outage")
                self.redis_ok = True
            except ClusterUnavailable:
                if self.redis_ok:
                    log.warning("Redis unreachable: heartbeat skipped, live rooms keep running")
                self.redis_ok = False
            except Exception:
                log.exception("node heartbeat failed")


def build_runtime(
    redis: aioredis.Redis,
    *,
    node_id: str,
    region: str,
    public_url: str,
    timings: ClusterTimings | None = None,
    prefix: str = "relayroom:",
) -> ClusterRuntime:
    """The runtime's pieces on one Redis client (no I/O until ``start``)."""
    t = timings or ClusterTimings()
    leases = RoomLeases(redis, node_id, prefix=prefix, ttl_s=t.lease_ttl_s)
    presence = RedisPresence(redis, prefix=prefix, ttl_s=t.presence_ttl_s)
    return ClusterRuntime(
        redis=redis,
        node_id=node_id,
        region=region,
        public_url=public_url,
        registry=NodeRegistry(redis, prefix=prefix, ttl_s=t.node_ttl_s),
        leases=leases,
        bus=CommandBus(redis, node_id, prefix=prefix),
        presence=presence,
        room_registry=LeaseRoomRegistry(leases),
        room_presence=ClusterPresence(presence, touch_every_s=t.presence_ttl_s / 3),
        timings=t,
        prefix=prefix,
    )
