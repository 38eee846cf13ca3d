"""What the privacy engine asks of live rooms, without importing the room manager."""

from __future__ import annotations

from typing import Any, Protocol


class LiveControl(Protocol):
    async def close_app_rooms(self, sdkappid: int) -> int: ...

    async def remove_user(self, sdkappid: int, userid: str) -> int: ...

    def presence(self, sdkappid: int, userid: str) -> list[dict[str, Any]]: ...


class NoLiveRooms:
    """Control plane without media (tests, tools): nothing is live."""

    async def close_app_rooms(self, sdkappid: int) -> int:
        return 0

    async def remove_user(self, sdkappid: int, userid: str) -> int:
        return 0

    def presence(self, sdkappid: int, userid: str) -> list[dict[str, Any]]:
        return []
