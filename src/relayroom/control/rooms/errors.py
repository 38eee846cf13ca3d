"""Named errors of room entry and room operations, each carrying the numeric code sent to the client.

Codes mirror TRTC where TRTC has one (5000-series from the Web SDK's ERROR_CODE, -1000xx from the native
SDKs' entry errors); the -1002xx codes are ours. docs/signalling.md lists every code.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ErrorCode(enum.IntEnum):
    INVALID_PARAMETER = 5000
    ROOM_ID_OUT_OF_RANGE = 5012
    STR_ROOM_ID_INVALID = 5013
    ROOM_ID_MISSING = 5015
    ROOM_ID_NOT_NUMBER = 5016
    INVALID_OPERATION = 5100
    NOT_IN_ROOM = 5101
    REMOTE_USER_MISSING = 5102
    SERVER_ERROR = 5400
    OPERATION_FAILED = 5500
    # TRTC native entry errors
    USERSIG_INVALID = -100018
    PRIVATEMAPKEY_INVALID = -100006
    SERVICE_SUSPENDED = -100013
    # RelayRoom's own
    REGION_MISMATCH = -100201
    ROOM_FULL = -100202
    ANCHOR_LIMIT = -100203
    AUDIENCE_CANNOT_PUBLISH = -100204
    CONSENT_REQUIRED = -100205
    APP_NOT_FOUND = -100206
    RATE_LIMITED = -100207
    USER_BLOCKED = -100208
    SESSION_NOT_FOUND = -100209
    E2EE_REQUIRED = -100210
    ROOM_NOT_ENCRYPTED = -100211
    # Cluster (docs/cluster.md): the room runs on another node; the server sent a ``redirect`` message
    # with that node's URL just before this refusal (both SDKs follow it and enter there).
    ROOM_ELSEWHERE = -100212
    # Cluster: shared state (Redis) or the room's node cannot be reached now. Retryable: enter again in
    # a few seconds.
    CLUSTER_UNAVAILABLE = -100213


class RoomError(Exception):
    """A refusal that goes back to the client as ``{code, extraCode, message}``.

    ``message`` is written for the developer using the SDK; it never contains secrets.
    """

    def __init__(
        self, code: ErrorCode, message: str, extra_code: int = 0, details: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra_code = extra_code
        self.details = dict(details or {})  # more fields of the error object (e.g. regionUrl)

    def to_dict(self) -> dict[str, int | str]:
        return {**self.details, "code": int(self.code), "extraCode": self.extra_code, "message": self.message}

    def __repr__(self) -> str:
        return f"RoomError({self.code.name}, {self.message!r})"


class RoomRedirect(RoomError):
    """Enter at ``url`` (another node's public URL) instead: the signalling endpoint sends a
    ``{"type": "redirect", "url", "reason"}`` message, then refuses the request with ROOM_ELSEWHERE."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(ErrorCode.ROOM_ELSEWHERE, f"this room is served by another node: enter at {url}")
        self.url = url
        self.reason = reason
