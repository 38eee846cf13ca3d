"""The cloud API's and console's hooks into live rooms: dismiss, remove, block, list, describe."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from relayroom.control.rooms.core import RoomManagerCore
from relayroom.control.rooms.ids import RoomKey
from relayroom.control.rooms.participant import ExitReason, KickReason
from relayroom.control.rooms.room import Room


class CloudHooks(RoomManagerCore):
    # ------------------------------------------------------------------ cloud API hooks

    async def dismiss_room(self, room_key: str) -> bool:
        room = self._rooms.get(RoomKey(room_key))
        if room is None:
            return False
        await self._close_room(room, KickReason.ROOM_DISBAND)
        return True

    async def remove_users(self, room_key: str, user_ids: Iterable[str]) -> list[str]:
        room = self._rooms.get(RoomKey(room_key))
        if room is None:
            return []
        removed = []
        async with room.lock:
            for user_id in user_ids:
                p = room.participants.get(user_id)
                if p is not None and not p.closed:
                    await self._remove(room, p, ExitReason.KICK, kick=KickReason.BANNED)
                    removed.append(user_id)
        return removed

    async def set_user_blocked(self, sdkappid: int, user_id: str, blocked: bool) -> None:
        """Block (or unblock) a UserId of an application; a present user is removed. With a shared
        store (``RoomManagerParams.blocks``) the caller has written the block there first, and this
        node keeps no copy of its own (an unblock from another node or the CLI must hold here too)."""
        if self._blocks is None:
            if blocked:
                self._blocked.add((sdkappid, user_id))
            else:
                self._blocked.discard((sdkappid, user_id))
        if not blocked:
            return
        for p in self._sessions_of(sdkappid, user_id):
            room = self._rooms.get(p.room_key)
            if room is not None:
                async with room.lock:
                    if not p.closed:
                        await self._remove(room, p, ExitReason.KICK, kick=KickReason.BANNED)

    def is_user_blocked(self, sdkappid: int, user_id: str) -> bool:
        """Blocked in this node's memory (without a shared store)."""
        return (sdkappid, user_id) in self._blocked

    def blocked_users(self, sdkappid: int) -> list[str]:
        """UserIds of the application blocked in this node's memory (without a shared store), sorted."""
        return sorted(u for a, u in self._blocked if a == sdkappid)

    def list_rooms(self, sdkappid: int | None = None) -> list[dict[str, Any]]:
        return [
            {
                "roomKey": r.key,
                "roomId": r.ref.public_id(),
                "scene": r.scene.value,
                "members": len(r.participants),
                "anchors": len(r.anchors()),
            }
            for r in self._rooms.values()
            if sdkappid is None or r.ref.sdkappid == sdkappid
        ]

    def room_info(self, room_key: str) -> dict[str, Any] | None:
        room = self._rooms.get(RoomKey(room_key))
        return room.dump() if room is not None else None

    def get_room(self, room_key: str) -> Room | None:
        return self._rooms.get(RoomKey(room_key))
