"""The room manager's events: what observers hear (call history, webhooks, usage metering)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from relayroom.control.rooms.client_info import ClientInfo
from relayroom.media.types import MediaKind, TrackSource


class RoomEventType(enum.StrEnum):
    """What the observer hears (future webhooks 101-105/201-206 and usage metering)."""

    ROOM_CREATED = "room_created"
    ROOM_CLOSED = "room_closed"
    USER_ENTERED = "user_entered"
    USER_EXITED = "user_exited"
    ROLE_CHANGED = "role_changed"
    STREAM_STARTED = "stream_started"
    STREAM_STOPPED = "stream_stopped"
    STREAM_MUTED = "stream_muted"
    STREAM_UNMUTED = "stream_unmuted"


@dataclass(frozen=True)
class RoomEvent:
    type: RoomEventType
    room_key: str
    sdkappid: int
    room_id: int | str
    at: float  # wall-clock seconds
    user_id: str | None = None
    role: str | None = None
    reason: str | int | None = None
    kind: MediaKind | None = None
    stream_type: TrackSource | None = None
    client: ClientInfo | None = None  # USER_ENTERED: what the client reported (call history)
