"""TRTC PrivateMapKey: a UserSig whose userbuf grants one user privileges in one room.

Userbuf layout and privilege bits per spec §1.5 (Python, Go and Java issuers agree). Tencent's
server-side check is not public, so verification here is the strict reading: the UserSig layer
must pass, the userbuf must name the same app, user and room, and `now <= dwExpTime`.
Pure like usersig.py: no I/O, no clock, no logging.
"""

from __future__ import annotations

import enum
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from relayroom.auth.errors import UserBufError
from relayroom.auth.usersig import (
    ANY_USERBUF,
    UserSigResult,
    VerifyReason,
    gen_usersig,
    verify_usersig,
)

__all__ = [
    "PrivateMapKeyBuf",
    "PrivateMapKeyResult",
    "Privilege",
    "build_userbuf",
    "gen_privatemapkey",
    "parse_privilege",
    "parse_userbuf",
    "privilege_names",
    "verify_privatemapkey",
]

_U16_MAX: Final = 0xFFFF
_U32_MAX: Final = 0xFFFFFFFF
_HEAD = struct.Struct(">BH")  # cVer, wAccountLen
_BODY = struct.Struct(">IIIII")  # dwSdkAppid, dwAuthID, dwExpTime, dwPrivilegeMap, dwAccountType
_ROOM_LEN = struct.Struct(">H")
_VER_NUMERIC_ROOM: Final = 0
_VER_STRING_ROOM: Final = 1


class Privilege(enum.IntFlag):
    """dwPrivilegeMap bits; each gates one action in the room."""

    CREATE_ROOM = 1
    ENTER_ROOM = 2
    SEND_AUDIO = 4
    RECV_AUDIO = 8
    SEND_VIDEO = 16
    RECV_VIDEO = 32
    SEND_SUB = 64  # sub-stream, i.e. screen sharing
    RECV_SUB = 128
    ALL = 255


_SINGLE_BITS: Final = tuple(p for p in Privilege if p is not Privilege.ALL)
_ALIASES: Final = {"create": Privilege.CREATE_ROOM, "enter": Privilege.ENTER_ROOM}


def privilege_names(privilege: int) -> list[str]:
    """Lowercase names of the set bits, lowest first (bits above 128 are not named)."""
    return [p.name.lower() for p in _SINGLE_BITS if privilege & p and p.name]


def parse_privilege(text: str) -> Privilege:
    """Parse `255`, `0xab`, or names such as `enter,recv_audio` (`create`/`enter` are short forms)."""
    value = 0
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        lowered = token.lower()
        if lowered in _ALIASES:
            value |= _ALIASES[lowered]
        elif lowered.upper() in Privilege.__members__:
            value |= Privilege[lowered.upper()]
        else:
            try:
                number = int(lowered, 0)
            except ValueError:
                raise ValueError(f"unknown privilege {token!r}") from None
            if not 0 <= number <= _U32_MAX:
                raise ValueError(f"privilege {token!r} out of range")
            value |= number
    return Privilege(value)


@dataclass(frozen=True, slots=True)
class PrivateMapKeyBuf:
    """Decoded userbuf. `room_id` is dwAuthID (0 for string rooms); `str_room_id` needs version 1."""

    version: int
    userid: str
    sdkappid: int
    room_id: int
    str_room_id: str | None
    expire_at: int
    privilege: Privilege
    account_type: int


def build_userbuf(
    userid: str,
    sdkappid: int,
    *,
    room_id: int | None,
    str_room_id: str | None,
    expire_at: int,
    privilege: int,
) -> bytes:
    """Serialize the §1.5 layout; give exactly one of `room_id` / non-empty `str_room_id`.

    `expire_at` is absolute (Unix seconds). Strings are UTF-8 as in Go; Tencent's Python lib
    writes one byte per char, which is the same for the ASCII userids TRTC allows.
    """
    if (room_id is None) == (not str_room_id):
        raise UserBufError("give exactly one of room_id and a non-empty str_room_id")
    account = _utf8(userid, "userid")
    if len(account) > _U16_MAX:
        raise UserBufError("userid longer than 65535 bytes")
    for name, value in (
        ("sdkappid", sdkappid),
        ("room_id", room_id or 0),
        ("expire_at", expire_at),
        ("privilege", privilege),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U32_MAX:
            raise UserBufError(f"{name} must fit in an unsigned 32-bit integer")
    version = _VER_NUMERIC_ROOM if room_id is not None else _VER_STRING_ROOM
    out = bytearray(_HEAD.pack(version, len(account)))
    out += account
    out += _BODY.pack(sdkappid, room_id or 0, expire_at, int(privilege), 0)
    if str_room_id:
        room = _utf8(str_room_id, "str_room_id")
        if len(room) > _U16_MAX:
            raise UserBufError("str_room_id longer than 65535 bytes")
        out += _ROOM_LEN.pack(len(room)) + room
    return bytes(out)


def parse_userbuf(buf: bytes) -> PrivateMapKeyBuf:
    """Parse and fully check a userbuf; raises UserBufError if truncated or inconsistent."""
    if len(buf) < _HEAD.size:
        raise UserBufError(f"userbuf truncated: {len(buf)} bytes")
    version, account_len = _HEAD.unpack_from(buf, 0)
    if version not in (_VER_NUMERIC_ROOM, _VER_STRING_ROOM):
        raise UserBufError(f"unknown userbuf version {version}")
    body_at = _HEAD.size + account_len
    end = body_at + _BODY.size
    if len(buf) < end:
        raise UserBufError(f"userbuf truncated: {len(buf)} bytes, need {end}")
    userid = _text(buf[_HEAD.size : body_at], "userid")
    sdkappid, auth_id, expire_at, privilege, account_type = _BODY.unpack_from(buf, body_at)
    str_room_id: str | None = None
    if version == _VER_STRING_ROOM:
        if len(buf) < end + _ROOM_LEN.size:
            raise UserBufError("userbuf truncated before the string room length")
        (room_len,) = _ROOM_LEN.unpack_from(buf, end)
        end += _ROOM_LEN.size + room_len
        if len(buf) < end:
            raise UserBufError(f"userbuf truncated: {len(buf)} bytes, need {end}")
        if room_len == 0:
            raise UserBufError("string-room userbuf with an empty room")
        if auth_id != 0:
            raise UserBufError("string-room userbuf with a numeric room id")
        str_room_id = _text(buf[end - room_len : end], "str_room_id")
    if len(buf) != end:
        raise UserBufError(f"userbuf has {len(buf) - end} trailing bytes")
    return PrivateMapKeyBuf(
        version=version,
        userid=userid,
        sdkappid=sdkappid,
        room_id=auth_id,
        str_room_id=str_room_id,
        expire_at=expire_at,
        privilege=Privilege(privilege),
        account_type=account_type,
    )


def _utf8(text: str, name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserBufError(f"{name} is not valid unicode") from None


def _text(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserBufError(f"{name} is not UTF-8") from None


def gen_privatemapkey(
    sdkappid: int,
    key: str,
    userid: str,
    expire: int,
    *,
    room_id: int | None = None,
    str_room_id: str | None = None,
    privilege: int = Privilege.ALL,
    now: int | None = None,
) -> str:
    """Issue a PrivateMapKey as Tencent's `genPrivateMapKey[WithStringRoomID]` does.

    `expire` is relative; dwExpTime is `now + expire`, read from one clock reading (Tencent's
    libs read the clock twice and may differ by a second).
    """
    issued = int(time.time()) if now is None else now
    userbuf = build_userbuf(
        userid,
        sdkappid,
        room_id=room_id,
        str_room_id=str_room_id,
        expire_at=issued + expire,
        privilege=privilege,
    )
    return gen_usersig(sdkappid, key, userid, expire, now=issued, userbuf=userbuf)


@dataclass(frozen=True, slots=True)
class PrivateMapKeyResult:
    """Outcome of `verify_privatemapkey`; `privilege` is empty unless `ok`.

    `usersig` is the UserSig-layer result (decoded fields, matching key); `expires_at` is the
    earlier of the relative and the absolute expiry, when known.
    """

    ok: bool
    reason: VerifyReason
    message: str
    privilege: Privilege
    buf: PrivateMapKeyBuf | None
    usersig: UserSigResult
    expires_at: int | None

    def allows(self, privilege: Privilege) -> bool:
        """True only for a valid key that grants every bit of `privilege`."""
        return self.ok and (self.privilege & privilege) == privilege


def verify_privatemapkey(
    pmk: str | bytes,
    *,
    sdkappid: int,
    userid: str,
    keys: Sequence[str],
    now: int,
    room_id: int | None = None,
    str_room_id: str | None = None,
) -> PrivateMapKeyResult:
    """Check a PrivateMapKey for entering one room; never raises for any token.

    UserSig layer first (appid, userid, relative expiry, signature), so nothing unsigned is
    trusted; then the signed userbuf: its appid and userid, the room (numeric: cVer 0 and
    dwAuthID == room_id; string: cVer 1 and equal text), and `now <= dwExpTime`.
    Give exactly one of room_id / str_room_id (else TypeError: a caller bug, not bad input).
    """
    if (room_id is None) == (str_room_id is None):
        raise TypeError("give exactly one of room_id and str_room_id")
    layer = verify_usersig(pmk, sdkappid=sdkappid, userid=userid, keys=keys, now=now, userbuf=ANY_USERBUF)

    def result(
        reason: VerifyReason, message: str, buf: PrivateMapKeyBuf | None = None
    ) -> PrivateMapKeyResult:
        expires_at = layer.expires_at
        if buf is not None and expires_at is not None:
            expires_at = min(expires_at, buf.expire_at)
        ok = reason is VerifyReason.OK
        privilege = buf.privilege if ok and buf is not None else Privilege(0)
        return PrivateMapKeyResult(ok, reason, message, privilege, buf, layer, expires_at)

    if not layer.ok:
        return result(layer.reason, layer.message)
    userbuf = layer.decoded.userbuf if layer.decoded is not None else None
    if userbuf is None:
        return result(VerifyReason.USERBUF_MISMATCH, "usersig has no userbuf, so it is not a privatemapkey")
    try:
        buf = parse_userbuf(userbuf)
    except UserBufError as exc:
        return result(VerifyReason.MALFORMED, f"malformed privatemapkey userbuf: {exc}")
    if buf.sdkappid != sdkappid:
        return result(VerifyReason.APPID_MISMATCH, f"userbuf sdkappid {buf.sdkappid} does not match", buf)
    if buf.userid != userid:
        return result(VerifyReason.USERID_MISMATCH, "userbuf userid does not match", buf)
    if room_id is not None:
        if buf.version != _VER_NUMERIC_ROOM or buf.room_id != room_id:
            return result(VerifyReason.ROOM_MISMATCH, "privatemapkey is for another room", buf)
    elif buf.version != _VER_STRING_ROOM or buf.str_room_id != str_room_id:
        return result(VerifyReason.ROOM_MISMATCH, "privatemapkey is for another room", buf)
    if now > buf.expire_at:
        return result(VerifyReason.PMK_EXPIRED, f"privatemapkey expired at {buf.expire_at} (now {now})", buf)
    return result(VerifyReason.OK, "ok", buf)
