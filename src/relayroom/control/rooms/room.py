"""A room: its members keyed by UserId, its router on a media worker, and its close deadline."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any

from relayroom.control.rooms.ids import RoomRef
from relayroom.control.rooms.participant import Participant, Role


class Scene(enum.StrEnum):
    RTC = "rtc"
    LIVE = "live"


@dataclass
class Room:
    ref: RoomRef
    scene: Scene
    router_id: str
    created_at: float
    participants: dict[str, Participant] = field(default_factory=dict)
    close_at: float | None = None  # set while empty, for the live-room grace period
    # End-to-end encrypted media (docs/e2ee.md): None until the first member declares it or not.
    e2ee: bool | None = None
    closed: bool = False
    # Membership and publish changes of one room are serialised; rooms proceed in parallel.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def key(self) -> str:
        return self.ref.key

    def anchors(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.role is Role.ANCHOR]

    def audience_count(self) -> int:
        return sum(1 for p in self.participants.values() if p.role is Role.AUDIENCE)

    def is_visible(self, p: Participant) -> bool:
        """TRTC: in live rooms only anchors produce enter/exit events for others."""
        return self.scene is Scene.RTC or p.role is Role.ANCHOR

    def others(self, p: Participant) -> list[Participant]:
        return [o for o in self.participants.values() if o is not p]

    def dump(self) -> dict[str, Any]:
        return {
            "roomKey": self.key,
            "sdkAppId": self.ref.sdkappid,
            "roomId": self.ref.public_id(),
            "scene": self.scene.value,
            "e2ee": bool(self.e2ee),
            "routerId": self.router_id,
            "members": [p.dump() for p in self.participants.values()],
        }
