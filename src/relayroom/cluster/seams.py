"""The room manager's cluster seams on Redis: :class:`LeaseRoomRegistry` (its ``RoomRegistry``: a room
is hosted by the node holding its lease) and :class:`ClusterPresence` (its ``Presence``: TRTC's one
room per user, one record for the whole cluster).

Both keep serving the rooms this node holds when Redis is away: a lease this node holds answers from
its own record; presence writes that fail are logged and skipped (the record is rewritten by the
next touch). Only what needs Redis to be right fails: claiming a room this node does not hold is
refused with the retryable CLUSTER_UNAVAILABLE (the entry may be tried again in a few seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from relayroom.cluster.leases import RoomLeases
from relayroom.cluster.redis import ClusterUnavailable
from relayroom.cluster.shared import RedisPresence
from relayroom.control.rooms.errors import ErrorCode, RoomError

log = logging.getLogger(__name__)


class LeaseRoomRegistry:
    """``RoomRegistry`` over :class:`RoomLeases` (room keys are the leases' keys: ``<app>:n|s:<id>``)."""

    def __init__(self, leases: RoomLeases) -> None:
        self._leases = leases

    async def claim(self, room_key: str, node: str) -> str:
        if self._leases.holds_key(room_key):
            return node
        try:
            return await self._leases.acquire_key(room_key)
        except ClusterUnavailable as exc:
            raise RoomError(ErrorCode.CLUSTER_UNAVAILABLE, str(exc)) from None

    async def release(self, room_key: str, node: str) -> None:
        try:
            await self._leases.release_key(room_key)
        except ClusterUnavailable:
            # forgotten here already; the lease runs out by itself within its TTL
            log.warning("room lease not released (Redis unreachable); it expires by itself")

    async def host(self, room_key: str) -> str | None:
        if self._leases.holds_key(room_key):
            return self._leases.node_id
        return await self._leases.owner_key(room_key)

    async def rooms(self, sdkappid: int) -> list[str]:
        """The application's rooms this node hosts (other nodes' rooms: ask them over the bus)."""
        head = f"{sdkappid}:"
        return sorted(k for k in self._leases.held if k.startswith(head))


class ClusterPresence:
    """``Presence`` over :class:`RedisPresence`. The Redis record says which room (on any node) a user
    is in; this node also keeps its own members, touched every ``ttl/3`` so the records of present
    users never expire."""

    def __init__(self, presence: RedisPresence, touch_every_s: float = 40.0) -> None:
        self._p = presence
        self._touch_every_s = touch_every_s
        self._room_of: dict[tuple[int, str], str] = {}
        self._task: asyncio.Task[None] | None = None

    async def join(self, sdkappid: int, user_id: str, room_key: str) -> str | None:
        self._room_of[(sdkappid, user_id)] = room_key
        self._ensure_keeper()
        try:
            before = await self._p.claim(sdkappid, user_id, room_key)
        except ClusterUnavailable:
            log.warning("presence not recorded (Redis unreachable); recorded at the next touch")
            return None
        return before if before != room_key else None

    async def leave(self, sdkappid: int, user_id: str, room_key: str) -> bool:
        if self._room_of.get((sdkappid, user_id)) == room_key:
            del self._room_of[(sdkappid, user_id)]
        try:
            return await self._p.release(sdkappid, user_id, room_key)
        except ClusterUnavailable:
            return True  # the record expires by itself; this node forgot the member already

    async def where(self, sdkappid: int, user_id: str) -> str | None:
        try:
            return await self._p.where(sdkappid, user_id)
        except ClusterUnavailable:
            return self._room_of.get((sdkappid, user_id))

    async def members(self, room_key: str) -> set[str]:
        return {user for (_app, user), key in self._room_of.items() if key == room_key}

    async def touch_all(self) -> None:
        """Renew every present member's record (re-claim it after an outage, unless a newer session
        took the user meanwhile)."""
        for (sdkappid, user_id), room_key in list(self._room_of.items()):
            if not await self._p.touch(sdkappid, user_id, room_key):
                found = await self._p.where(sdkappid, user_id)
                if found is None and self._room_of.get((sdkappid, user_id)) == room_key:
                    await self._p.claim(sdkappid, user_id, room_key)

    def _ensure_keeper(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._keep(), name="presence-keeper")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._touch_every_s)
            try:
                await self.touch_all()
            except ClusterUnavailable:
                pass  # tried again at the next tick
            except Exception:
                log.exception("presence touch failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
