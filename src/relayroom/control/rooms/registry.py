"""Which rooms exist and which node hosts each (``RoomRegistry``), and which room each user is in
(``Presence``: TRTC's one room per user at a time).

These are the room manager's seams for a cluster: here in process (one node knows everything), later in
Redis, where several nodes must agree on a room's host and on a user's one room. The manager claims a
room before creating its router and releases it when the room closes; it records a member's room on
entry and forgets it on exit, and asks the presence where a user is before admitting them elsewhere.

All methods are coroutines (a shared store answers over the network); the in-process implementations
never await, so each call is atomic on the event loop.
"""

from __future__ import annotations

from typing import Protocol

from relayroom.control.rooms.errors import RoomError


class RoomRegistry(Protocol):
    async def claim(self, room_key: str, node: str) -> str:
        """Host ``room_key`` on ``node`` unless another node hosts it already; returns the host."""
        ...

    async def release(self, room_key: str, node: str) -> None:
        """``node`` no longer hosts ``room_key`` (no-op when another node does)."""
        ...

    async def host(self, room_key: str) -> str | None:
        """The node hosting ``room_key``, or None when no room of that key exists."""
        ...

    async def rooms(self, sdkappid: int) -> list[str]:
        """Keys of the application's rooms on any node."""
        ...


class Presence(Protocol):
    async def join(self, sdkappid: int, user_id: str, room_key: str) -> str | None:
        """Record that the user is in ``room_key``; returns the room they were in before, if another."""
        ...

    async def leave(self, sdkappid: int, user_id: str, room_key: str) -> bool:
        """Forget the user's membership of ``room_key``; False (and nothing changes) when the user is
        recorded in another room by now (they entered it after leaving this one)."""
        ...

    async def where(self, sdkappid: int, user_id: str) -> str | None:
        """The room the user is in, or None."""
        ...

    async def members(self, room_key: str) -> set[str]:
        """UserIds recorded in ``room_key``."""
        ...


def _sdkappid_of(room_key: str) -> int | None:
    head = room_key.split(":", 1)[0]
    return int(head) if head.isdigit() else None


class LocalRoomRegistry:
    """One node's registry: a dict of room key to host."""

    def __init__(self) -> None:
        self._hosts: dict[str, str] = {}

    async def claim(self, room_key: str, node: str) -> str:
        return self._hosts.setdefault(room_key, node)

    async def release(self, room_key: str, node: str) -> None:
        if self._hosts.get(room_key) == node:
            del self._hosts[room_key]

    async def host(self, room_key: str) -> str | None:
        return self._hosts.get(room_key)

    async def rooms(self, sdkappid: int) -> list[str]:
        return [key for key in self._hosts if _sdkappid_of(key) == sdkappid]


class LocalPresence:
    """One node's presence: user to room, and room to users."""

    def __init__(self) -> None:
        self._room_of: dict[tuple[int, str], str] = {}
        self._members: dict[str, set[str]] = {}

    async def join(self, sdkappid: int, user_id: str, room_key: str) -> str | None:
        before = self._room_of.get((sdkappid, user_id))
        if before is not None and before != room_key:
            self._drop(before, user_id)
        self._room_of[(sdkappid, user_id)] = room_key
        self._members.setdefault(room_key, set()).add(user_id)
        return before if before != room_key else None

    async def leave(self, sdkappid: int, user_id: str, room_key: str) -> bool:
        if self._room_of.get((sdkappid, user_id)) != room_key:
            return False
        del self._room_of[(sdkappid, user_id)]
        self._drop(room_key, user_id)
        return True

    async def where(self, sdkappid: int, user_id: str) -> str | None:
        return self._room_of.get((sdkappid, user_id))

    async def members(self, room_key: str) -> set[str]:
        return set(self._members.get(room_key, ()))

    def _drop(self, room_key: str, user_id: str) -> None:
        users = self._members.get(room_key)
        if users is not None:
            users.discard(user_id)
            if not users:
                del self._members[room_key]


class EntryPlacement(Protocol):
    """Where an entry belongs in a cluster (``relayroom.cluster.placement.RoomPlacement``); a single node
    has none and enters everything here."""

    async def check(self, room_key: str, *, settled: bool) -> None:
        """Return to enter here; raise ``RoomRedirect`` (the room runs, or should start, on another node)
        or a retryable ``RoomError``. ``settled``: the client followed a redirect already."""
        ...

    async def hosted_elsewhere(self, owner: str) -> RoomError:
        """The refusal for an entry whose room ``owner`` claimed first (a redirect there)."""
        ...

    async def evict(self, sdkappid: int, user_id: str, room_key: str) -> None:
        """The user is entering here while in ``room_key`` on another node: that node kicks the old
        session (best effort: a node that cannot be asked is logged, the entry goes on)."""
        ...


class UserBlocks(Protocol):
    async def is_blocked(self, sdkappid: int, user_id: str) -> bool:
        """Whether the application blocked this UserId (entry is refused with -100208)."""
        ...
