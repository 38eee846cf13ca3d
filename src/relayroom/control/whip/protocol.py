"""The HTTP side of WHIP/WHEP: CORS, ``Link`` ICE servers, room ids in URLs, trickle fragments, errors.

Error bodies have the console API's shape, ``{"error": {"code", "message", "details"}}``; when a room
rule refused the request, ``details.trtcCode`` carries the code an SDK would have got at enterRoom.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from relayroom.control.errors import AppError
from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.ids import RoomRef, validate_room

SDP_TYPE = "application/sdp"
TRICKLE_TYPE = "application/trickle-ice-sdpfrag"
STR_ROOM_PREFIX = "str:"

# Browsers call from any page (a player, OBS's browser source...): the bearer token is the credential,
# never a cookie, so any origin may call.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch, Accept-Post",
    "Access-Control-Max-Age": "600",
    "Cache-Control": "no-store",  # answers carry ICE credentials, Link headers TURN credentials
}


class WhipError(AppError):
    """A refusal with CORS headers (the app's error handler copies ``headers``)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status_code = status
        self.code = code
        self.headers = {**CORS_HEADERS, **(headers or {})}


def unauthorized(message: str) -> WhipError:
    return WhipError(401, "bad_token", message, headers={"WWW-Authenticate": 'Bearer realm="relayroom"'})


# Room rules' refusals as HTTP: the status says what kind of problem it is, the body says which.
_ROOM_ERRORS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.USERSIG_INVALID: (401, "bad_token"),
    ErrorCode.PRIVATEMAPKEY_INVALID: (403, "privatemapkey_refused"),
    ErrorCode.CONSENT_REQUIRED: (403, "consent_required"),
    ErrorCode.SERVICE_SUSPENDED: (403, "application_suspended"),
    ErrorCode.APP_NOT_FOUND: (403, "unknown_application"),
    ErrorCode.REGION_MISMATCH: (403, "wrong_region"),
    ErrorCode.USER_BLOCKED: (403, "user_blocked"),
    ErrorCode.ROOM_FULL: (409, "room_full"),
    ErrorCode.ANCHOR_LIMIT: (409, "room_full"),
    ErrorCode.E2EE_REQUIRED: (409, "room_encrypted"),
    ErrorCode.ROOM_NOT_ENCRYPTED: (409, "room_not_encrypted"),
    ErrorCode.AUDIENCE_CANNOT_PUBLISH: (403, "audience_cannot_publish"),
    ErrorCode.SERVER_ERROR: (503, "unavailable"),
    ErrorCode.OPERATION_FAILED: (503, "unavailable"),
}


def from_room_error(exc: RoomError) -> WhipError:
    status, code = _ROOM_ERRORS.get(exc.code, (400, "invalid_request"))
    headers = {"WWW-Authenticate": 'Bearer realm="relayroom"'} if status == 401 else None
    details: dict[str, Any] = {"trtcCode": int(exc.code), **exc.details}  # regionUrl of a wrong region
    return WhipError(status, code, exc.message, details=details, headers=headers)


def parse_room(sdkappid: int, room: str) -> RoomRef:
    """``{room}`` of the URL: a numeric roomId, or ``str:<strRoomId>`` (TRTC keeps the two apart)."""
    try:
        if room.startswith(STR_ROOM_PREFIX):
            return validate_room(sdkappid, None, room[len(STR_ROOM_PREFIX) :])
        if not room.isascii() or not room.isdigit():
            raise WhipError(
                400,
                "invalid_room",
                "room must be a numeric roomId or str:<strRoomId>",
                details={"room": room[:80]},
            )
        return validate_room(sdkappid, int(room), None)
    except RoomError as exc:
        raise WhipError(400, "invalid_room", exc.message, details={"trtcCode": int(exc.code)}) from None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("send 'Authorization: Bearer <UserSig>'")
    return token.strip()


def link_header(ice_servers: list[dict[str, object]]) -> str | None:
    """RFC 9725 §4.6: one ``Link: <url>; rel="ice-server"`` per URL, with its TURN credential."""
    links = []
    for server in ice_servers:
        urls = server.get("urls")
        for url in urls if isinstance(urls, list) else [urls]:
            link = f'<{url}>; rel="ice-server"'
            if "username" in server:
                link += f'; username="{server["username"]}"; credential="{server["credential"]}"'
                link += '; credential-type="password"'
            links.append(link)
    return ", ".join(links) or None


@dataclass(frozen=True)
class TrickleFragment:
    ice_ufrag: str | None
    ice_pwd: str | None
    candidates: int


_ATTR = re.compile(r"a=(ice-ufrag|ice-pwd|candidate):(.*)")


def parse_trickle(body: str) -> TrickleFragment:
    """An RFC 8840 SDP fragment: its ICE credentials (an ICE restart when they change) and candidates."""
    ufrag = pwd = None
    candidates = 0
    for line in body.splitlines():
        m = _ATTR.fullmatch(line.strip())
        if m is None:
            continue
        if m[1] == "ice-ufrag":
            ufrag = m[2].strip()
        elif m[1] == "ice-pwd":
            pwd = m[2].strip()
        else:
            candidates += 1
    return TrickleFragment(ufrag, pwd, candidates)
