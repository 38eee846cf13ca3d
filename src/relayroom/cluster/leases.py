"""Room ownership: one node per room, recorded in Redis as a lease (``SET NX PX``).

A room is (SDKAppID, room id) with numeric and string room ids apart (room ``123`` and room ``"123"``
are two rooms, as in TRTC). The owner renews its leases every ``ttl/3``; a node that dies stops
renewing and its rooms' leases expire after ``ttl_s``, after which another node may take them.

A Redis outage must not take a node's live rooms down: the node keeps the list of rooms it holds and
goes on serving them; when Redis answers again, :meth:`RoomLeases.refresh` re-asserts every held lease
in one script per room (take it if free, extend it if ours, report it lost if another node took it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis

from relayroom.cluster.redis import ClusterUnavailable, unavailable_as_error

log = logging.getLogger(__name__)

# KEYS[1] lease, ARGV[1] node id, ARGV[2] ttl ms -> 1 held (taken or extended), 0 another node holds it
_ASSERT = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS[1] lease, ARGV[1] node id -> 1 released, 0 not ours
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

RoomId = int | str


def room_key(sdkappid: int, room_id: RoomId) -> str:
    """Numeric and string room ids apart: ``<sdkappid>:n:<id>`` / ``<sdkappid>:s:<id>``."""
    if isinstance(room_id, bool):
        raise TypeError("a room id is an int or a str")
    kind = "s" if isinstance(room_id, str) else "n"
    return f"{sdkappid}:{kind}:{room_id}"


class RoomLeases:
    def __init__(
        self,
        redis: aioredis.Redis,
        node_id: str,
        *,
        prefix: str = "relayroom:",
        ttl_s: float = 5.0,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._r = redis
        self.node_id = node_id
        self._prefix = prefix
        self.ttl_s = ttl_s
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._held: set[str] = set()  # room keys this node owns, kept through Redis outages
        self._on_lost = on_lost
        self._assert = redis.register_script(_ASSERT)
        self._release = redis.register_script(_RELEASE)
        self._task: asyncio.Task[None] | None = None
        self.redis_ok = True

    def _key(self, rk: str) -> str:
        return f"{self._prefix}room:{rk}"

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    async def acquire(self, sdkappid: int, room_id: RoomId) -> str:
        """Take the room if nobody owns it (or we do). Returns the owner's node id: ours when we hold
        it now. Raises ClusterUnavailable when Redis cannot be reached (the caller may still serve a
        room it already holds: see :meth:`holds`)."""
        return await self.acquire_key(room_key(sdkappid, room_id))

    async def acquire_key(self, rk: str) -> str:
        """:meth:`acquire` by room key (``room_key(...)``, the room manager's ``RoomRef.key``)."""
        for _ in range(3):
            async with unavailable_as_error("room lease"):
                if await self._r.set(self._key(rk), self.node_id, nx=True, px=self.ttl_ms):
                    self._held.add(rk)
                    return self.node_id
                if await self._assert(keys=[self._key(rk)], args=[self.node_id, self.ttl_ms]):
                    self._held.add(rk)
                    return self.node_id
                owner = await self._r.get(self._key(rk))
            if owner is not None:
                return str(owner)
            # expired between the two calls: try again
        raise ClusterUnavailable("room lease: the owner changes too fast; retry shortly")

    def holds(self, sdkappid: int, room_id: RoomId) -> bool:
        """Whether this node holds the room (from its own record: answers during a Redis outage)."""
        return self.holds_key(room_key(sdkappid, room_id))

    def holds_key(self, rk: str) -> bool:
        return rk in self._held

    async def owner(self, sdkappid: int, room_id: RoomId) -> str | None:
        return await self.owner_key(room_key(sdkappid, room_id))

    async def owner_key(self, rk: str) -> str | None:
        async with unavailable_as_error("room owner lookup"):
            found = await self._r.get(self._key(rk))
        return str(found) if found is not None else None

    async def release(self, sdkappid: int, room_id: RoomId) -> None:
        """The room closed here: drop the lease if it is still ours."""
        await self.release_key(room_key(sdkappid, room_id))

    async def release_key(self, rk: str) -> None:
        self._held.discard(rk)
        async with unavailable_as_error("room lease release"):
            await self._release(keys=[self._key(rk)], args=[self.node_id])

    async def refresh(self) -> list[str]:
        """Renew (or, after an outage, re-assert) every held lease. Returns the room keys lost to
        another node (they are forgotten here and ``on_lost`` is called for each)."""
        lost: list[str] = []
        async with unavailable_as_error("room lease renewal"):
            for rk in sorted(self._held):
                if not await self._assert(keys=[self._key(rk)], args=[self.node_id, self.ttl_ms]):
                    lost.append(rk)
        for rk in lost:
            self._held.discard(rk)
            log.warning("room lease lost to another node", extra={"room": rk})
            if self._on_lost is not None:
                self._on_lost(rk)
        return lost

    # --- the keeper -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="room-leases")

    async def close(self, release: bool = True) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release:
            for rk in sorted(self._held):
                with contextlib.suppress(ClusterUnavailable):
                    async with unavailable_as_error("room lease release"):
                        await self._release(keys=[self._key(rk)], args=[self.node_id])
            self._held.clear()

    async def _keep(self) -> None:
        interval = self.ttl_s / 3
        while True:
            try:
                await self.refresh()
                if not self.redis_ok:
                    log.info("room leases re-asserted after a Redis outage", extra={"rooms": len(self._held)})
                self.redis_ok = True
            except ClusterUnavailable:
                if self.redis_ok:
                    log.warning("Redis unreachable: serving held rooms, leases re-asserted on return")
                self.redis_ok = False
            except Exception:
                log.exception("room lease renewal failed")
            await asyncio.sleep(interval)
