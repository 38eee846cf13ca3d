"""Node registry: each node heartbeats its facts into Redis with a TTL; whoever reads sees live nodes.

A node's record (``<prefix>node:<id>``, JSON) expires ``ttl_s`` after its last heartbeat: a node that
dies (or loses Redis) drops out of the list within ``ttl_s``. The set ``<prefix>nodes`` indexes the
records; members whose record expired are pruned by readers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis

from relayroom import jsonlimits
from relayroom.cluster.redis import unavailable_as_error


@dataclass(frozen=True)
class WorkerLoad:
    index: int
    address: str  # the worker's announced address (host:port) clients send media to
    load: float  # 0..1: the share of its capacity in use (rooms, members, CPU: the node decides)


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    region: str
    public_url: str
    workers: tuple[WorkerLoad, ...] = field(default_factory=tuple)
    draining: bool = False
    rooms: int = 0

    @property
    def load(self) -> float:
        """Mean worker load (1.0 with no workers: a node without media takes no rooms first)."""
        if not self.workers:
            return 1.0
        return sum(w.load for w in self.workers) / len(self.workers)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> NodeInfo:
        d: dict[str, Any] = jsonlimits.loads(raw)
        workers = tuple(WorkerLoad(**w) for w in d.pop("workers", ()))
        return cls(workers=workers, **d)


class NodeRegistry:
    def __init__(self, redis: aioredis.Redis, *, prefix: str = "relayroom:", ttl_s: float = 5.0) -> None:
        self._r = redis
        self._prefix = prefix
        self.ttl_ms = max(1, int(ttl_s * 1000))

    def _key(self, node_id: str) -> str:
        return f"{self._prefix}node:{node_id}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}nodes"

    async def heartbeat(self, info: NodeInfo) -> None:
        """Write this node's record with a fresh TTL (every ttl/3 or so)."""
        async with unavailable_as_error("node heartbeat"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.set(self._key(info.node_id), info.to_json(), px=self.ttl_ms)
                pipe.sadd(self._index, info.node_id)
                await pipe.execute()

    async def leave(self, node_id: str) -> None:
        """Remove this node's record at once (a clean shutdown)."""
        async with unavailable_as_error("node leave"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(node_id))
                pipe.srem(self._index, node_id)
                await pipe.execute()

    async def get(self, node_id: str) -> NodeInfo | None:
        async with unavailable_as_error("node lookup"):
            raw = await self._r.get(self._key(node_id))
        return NodeInfo.from_json(str(raw)) if raw else None

    async def live_nodes(self) -> list[NodeInfo]:
        """Every node whose heartbeat has not expired, by node id."""
        async with unavailable_as_error("node list"):
            ids = sorted(str(i) for i in await self._r.smembers(self._index))
            if not ids:
                return []
            raws = await self._r.mget([self._key(i) for i in ids])
            gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
            if gone:
                await self._r.srem(self._index, *gone)
        return [NodeInfo.from_json(str(raw)) for raw in raws if raw is not None]

    async def least_loaded(self, region: str) -> NodeInfo | None:
        """The live, not draining node of ``region`` with the lowest load (ties: fewer rooms, then id)."""
        candidates = [n for n in await self.live_nodes() if n.region == region and not n.draining]
        if not candidates:
            return None
        return min(candidates, key=lambda n: (n.load, n.rooms, n.node_id))
