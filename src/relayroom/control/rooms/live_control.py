"""The privacy engine's handle on live rooms (control/privacy/live.py's LiveControl) over the room
manager: close an application's rooms, remove a withdrawn user, tell where a user is present."""

from __future__ import annotations

from typing import Any

from relayroom.control.rooms.manager import RoomManager


class RoomsLiveControl:
    def __init__(self, rooms: RoomManager) -> None:
        self._rooms = rooms

    async def close_app_rooms(self, sdkappid: int) -> int:
        closed = 0
        for room in self._rooms.list_rooms(sdkappid):
            closed += int(await self._rooms.dismiss_room(room["roomKey"]))
        return closed

    async def remove_user(self, sdkappid: int, userid: str) -> int:
        removed = 0
        for room in self._rooms.list_rooms(sdkappid):
            removed += len(await self._rooms.remove_users(room["roomKey"], [userid]))
        return removed

    def presence(self, sdkappid: int, userid: str) -> list[dict[str, Any]]:
        out = []
        for room in self._rooms.list_rooms(sdkappid):
            r = self._rooms.get_room(room["roomKey"])
            if r is not None and userid in r.participants:
                out.append({"roomId": room["roomId"], "scene": room["scene"], "present": True})
        return out
