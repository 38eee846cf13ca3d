"""Validation of the identifiers a client sends (TRTC's rules) and the room key built from them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NewType

from relayroom.control.rooms.errors import ErrorCode, RoomError

RoomKey = NewType("RoomKey", str)
ParticipantId = NewType("ParticipantId", str)

ROOM_ID_MIN = 1
ROOM_ID_MAX = 4294967294
STR_ROOM_ID_MAX_BYTES = 64
USER_ID_MAX_BYTES = 32

# TRTC: [a-zA-Z0-9], space and !#$%&()+-:;<=.>?@[]^_{}|~,
_STR_ROOM_ID_RE = re.compile(r"[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]+")
_USER_ID_RE = re.compile(r"[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class RoomRef:
    """A room as the client named it: numeric and string ids are different rooms (123 != "123")."""

    sdkappid: int
    room_id: int | None = None
    str_room_id: str | None = None

    @property
    def key(self) -> RoomKey:
        if self.room_id is not None:
            return RoomKey(f"{self.sdkappid}:n:{self.room_id}")
        return RoomKey(f"{self.sdkappid}:s:{self.str_room_id}")

    def public_id(self) -> int | str:
        """The id in the type the client used (webhooks and room_info keep it)."""
        return self.room_id if self.room_id is not None else str(self.str_room_id)


# SDKAppIDs are unsigned 32-bit (TRTC).
MAX_SDKAPPID = 0xFFFFFFFF


def validate_sdkappid(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SDKAPPID:
        raise RoomError(ErrorCode.INVALID_PARAMETER, "sdkAppId must be a positive 32-bit integer")
    return value


def validate_user_id(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise RoomError(ErrorCode.INVALID_PARAMETER, "userId is required")
    if len(value.encode()) > USER_ID_MAX_BYTES or not _USER_ID_RE.fullmatch(value):
        raise RoomError(ErrorCode.INVALID_PARAMETER, "userId must be 1..32 bytes of [a-zA-Z0-9_-]")
    return value


def validate_room(sdkappid: int, room_id: object, str_room_id: object) -> RoomRef:
    """Apply TRTC's enterRoom rules: roomId wins when both are given; neither is an error."""
    if room_id is not None:
        if isinstance(room_id, str):
            raise RoomError(
                ErrorCode.ROOM_ID_NOT_NUMBER, "roomId must be a number; use strRoomId for strings"
            )
        if isinstance(room_id, bool) or not isinstance(room_id, int):
            raise RoomError(ErrorCode.ROOM_ID_OUT_OF_RANGE, "roomId must be an integer")
        if not ROOM_ID_MIN <= room_id <= ROOM_ID_MAX:
            raise RoomError(ErrorCode.ROOM_ID_OUT_OF_RANGE, "roomId must be in 1..4294967294")
        return RoomRef(sdkappid, room_id=room_id)
    if str_room_id is not None:
        if (
            not isinstance(str_room_id, str)
            or not str_room_id
            or len(str_room_id.encode()) > STR_ROOM_ID_MAX_BYTES
            or not _STR_ROOM_ID_RE.fullmatch(str_room_id)
        ):
            raise RoomError(
                ErrorCode.STR_ROOM_ID_INVALID, "strRoomId must be 1..64 bytes of TRTC's allowed characters"
            )
        return RoomRef(sdkappid, str_room_id=str_room_id)
    raise RoomError(ErrorCode.ROOM_ID_MISSING, "roomId or strRoomId is required")
