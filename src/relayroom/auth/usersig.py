"""TRTC UserSig (TLSSigAPIv2, HMAC "v2" scheme): generate, decode, verify.

Byte-compatible with Tencent's `tls-sig-api-v2` (spec §1.2) and verified in the order of
Tencent's Go `userSig.verify` (spec §1.4), the only public verifier. Pure: no I/O, no clock
(callers pass `now`), no cache, no logging, so the secret key and the token never leak here.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from relayroom.auth.errors import UserSigDecodeError
from relayroom.jsonlimits import loads as json_loads

__all__ = [
    "ANY_USERBUF",
    "DEFAULT_EXPIRE",
    "MAX_JSON_BYTES",
    "MAX_USERSIG_CHARS",
    "TLS_VERSION",
    "DecodedUserSig",
    "UserBufCheck",
    "UserSigResult",
    "VerifyReason",
    "decode_usersig",
    "gen_usersig",
    "string_to_sign",
    "urlish_b64decode",
    "urlish_b64encode",
    "usersig_hmac",
    "verify_usersig",
]

TLS_VERSION: Final = "2.0"
DEFAULT_EXPIRE: Final = 180 * 86400
# A real UserSig is ~200 chars and a PrivateMapKey ~300; anything far beyond is not a token.
MAX_USERSIG_CHARS: Final = 4096
# Caps inflation so a zlib bomb cannot allocate more than this, whatever the compression ratio.
MAX_JSON_BYTES: Final = 16384

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1

_T = TypeVar("_T")

_TO_URLISH: Final = str.maketrans("+/=", "*-_")
_TO_URLISH_BYTES: Final = bytes.maketrans(b"+/=", b"*-_")
_FROM_URLISH: Final = bytes.maketrans(b"*-_", b"+/=")


class VerifyReason(enum.StrEnum):
    """Why a UserSig or PrivateMapKey was accepted or refused (stable codes for APIs and logs)."""

    OK = enum.auto()
    MALFORMED = enum.auto()
    APPID_MISMATCH = enum.auto()
    USERID_MISMATCH = enum.auto()
    EXPIRED = enum.auto()
    USERBUF_MISMATCH = enum.auto()
    SIG_MISMATCH = enum.auto()
    # PrivateMapKey checks on the userbuf (privatemapkey.py).
    ROOM_MISMATCH = enum.auto()
    PMK_EXPIRED = enum.auto()
    # Not produced here: for callers that look the app up before verifying.
    APP_DISABLED = enum.auto()
    APP_NOT_FOUND = enum.auto()
    KEY_MISSING = enum.auto()


class UserBufCheck(enum.Enum):
    """Sentinel type for `verify_usersig(userbuf=ANY_USERBUF)`: accept any userbuf or none."""

    ANY = "any"


ANY_USERBUF: Final = UserBufCheck.ANY


@dataclass(frozen=True, slots=True)
class DecodedUserSig:
    """The JSON fields of a UserSig, typed; `sig` is the raw 32-byte HMAC-SHA256 it claims."""

    ver: str
    identifier: str
    sdkappid: int
    expire: int
    time: int
    userbuf: bytes | None
    sig: bytes

    @property
    def expires_at(self) -> int:
        """Last Unix second at which the UserSig is still valid (`TLS.time + TLS.expire`)."""
        return self.time + self.expire

    @property
    def fingerprint(self) -> str:
        """Loggable id of a verified token's signed content, the same for all its re-encodings.

        Key deny-lists and logs on this, never on the token string: zlib allows several
        encodings of the same document, and the sig itself is enough to rebuild the token.
        """
        return hashlib.sha256(b"relayroom-usersig-fingerprint\0" + self.sig).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class UserSigResult:
    """Outcome of `verify_usersig`; `decoded` and `expires_at` are None only if undecodable."""

    ok: bool
    reason: VerifyReason
    message: str
    decoded: DecodedUserSig | None = None
    expires_at: int | None = None
    # Index in `keys` of the key that matched, so callers can see who still uses a rotated key.
    key_index: int | None = None


# --- encoding helpers (shared with privatemapkey) --------------------------------------------


def urlish_b64encode(data: bytes) -> str:
    """Standard base64 with `+`→`*`, `/`→`-`, `=`→`_` (padding kept), as every TLSSigAPIv2 does."""
    return base64.b64encode(data).decode("ascii").translate(_TO_URLISH)


def urlish_b64decode(text: str | bytes) -> bytes:
    """Strict inverse of `urlish_b64encode`.

    Only the canonical encoding is accepted (url-ish alphabet only, padding present, unused
    bits zero; Go's decoder is laxer), so no two
    strings decode to the same bytes. (zlib itself still has equivalent encodings of one
    document; see `DecodedUserSig.fingerprint`.)
    """
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise UserSigDecodeError("not ascii") from None
    else:
        raw = bytes(text)
    try:
        data = base64.b64decode(raw.translate(_FROM_URLISH), validate=True)
    except binascii.Error:
        raise UserSigDecodeError("not url-ish base64") from None
    if base64.b64encode(data).translate(_TO_URLISH_BYTES) != raw:
        raise UserSigDecodeError("not canonical url-ish base64")
    return data


def string_to_sign(identifier: str, sdkappid: int, time: int, expire: int, userbuf: bytes | None) -> bytes:
    """The LF-terminated lines that TLSSigAPIv2 signs (spec §1.2 step 2)."""
    text = f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    if userbuf is not None:
        text += "TLS.userbuf:" + base64.b64encode(userbuf).decode("ascii") + "\n"
    return text.encode("utf-8")


def usersig_hmac(
    key: str, identifier: str, sdkappid: int, time: int, expire: int, userbuf: bytes | None
) -> bytes:
    """HMAC-SHA256 keyed by the SDKSecretKey *text* (Tencent does not hex-decode it)."""
    msg = string_to_sign(identifier, sdkappid, time, expire, userbuf)
    return hmac.new(key.encode("utf-8"), msg, hashlib.sha256).digest()


# --- generation ------------------------------------------------------------------------------


def gen_usersig(
    sdkappid: int,
    key: str,
    userid: str,
    expire: int = DEFAULT_EXPIRE,
    *,
    now: int | None = None,
    userbuf: bytes | None = None,
) -> str:
    """Issue a UserSig byte-identical to `TLSSigAPIv2(sdkappid, key).gen_sig*` at the same time.

    `expire` is relative (seconds after `now`). Raises ValueError for arguments that would give
    a token our own verifier refuses.
    """
    issued = int(time.time()) if now is None else now
    _check_fields(userid, sdkappid, issued, expire)
    if not key:
        raise ValueError("key is empty")
    sig = usersig_hmac(key, userid, sdkappid, issued, expire, userbuf)
    # Insertion order and json.dumps defaults are what make the bytes match the Python lib.
    doc: dict[str, Any] = {
        "TLS.ver": TLS_VERSION,
        "TLS.identifier": userid,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": issued,
    }
    if userbuf is not None:
        doc["TLS.userbuf"] = base64.b64encode(userbuf).decode("ascii")
    doc["TLS.sig"] = base64.b64encode(sig).decode("ascii")
    raw = json.dumps(doc).encode("utf-8")
    token = urlish_b64encode(zlib.compress(raw))
    if len(raw) > MAX_JSON_BYTES or len(token) > MAX_USERSIG_CHARS:
        raise ValueError(f"usersig too long ({len(token)} chars, limit {MAX_USERSIG_CHARS})")
    return token


def _check_fields(identifier: str, sdkappid: int, issued: int, expire: int) -> None:
    """Shared by gen and decode, so whatever we issue we can also decode."""
    if "\n" in identifier:
        # A newline would let one string-to-sign stand for two different field sets.
        raise ValueError("identifier contains a newline")
    if not _is_int(sdkappid) or not 0 <= sdkappid <= _UINT64_MAX:
        raise ValueError("sdkappid must be an unsigned 64-bit integer")
    for name, value in (("time", issued), ("expire", expire)):
        if not _is_int(value) or not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{name} must be a signed 64-bit integer")


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int subclass and JSON true must not pass as 1


# --- decoding --------------------------------------------------------------------------------


def decode_usersig(usersig: str | bytes) -> DecodedUserSig:
    """Decode without verifying; raises UserSigDecodeError on anything that is not a v2 token.

    Accepts any zlib level (Go issues level 0) and parses the JSON rather than comparing bytes.
    Size is bounded before and during inflation.
    """
    if len(usersig) > MAX_USERSIG_CHARS:
        raise UserSigDecodeError(f"longer than {MAX_USERSIG_CHARS} chars")
    if not usersig:
        raise UserSigDecodeError("empty")
    compressed = urlish_b64decode(usersig)
    raw = _inflate(compressed)
    try:
        doc = json_loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, digit limit, JsonTooDeep
        if isinstance(exc, UserSigDecodeError):
            raise
        raise UserSigDecodeError("not a JSON document") from None
    if not isinstance(doc, dict):
        raise UserSigDecodeError("JSON is not an object")

    ver = _field(doc, "TLS.ver", str)
    if ver != TLS_VERSION:
        # Not signed, but every v2 issuer writes "2.0"; refusing others removes a free variant.
        raise UserSigDecodeError(f"unsupported TLS.ver {ver[:8]!r}")
    identifier = _field(doc, "TLS.identifier", str)
    sdkappid = _field(doc, "TLS.sdkappid", int)
    expire = _field(doc, "TLS.expire", int)
    issued = _field(doc, "TLS.time", int)
    sig = _std_b64decode(_field(doc, "TLS.sig", str), "TLS.sig")
    userbuf: bytes | None = None
    if "TLS.userbuf" in doc:
        userbuf = _std_b64decode(_field(doc, "TLS.userbuf", str), "TLS.userbuf")
    try:
        _check_fields(identifier, sdkappid, issued, expire)
    except ValueError as exc:
        raise UserSigDecodeError(str(exc)) from None
    return DecodedUserSig(
        ver=ver,
        identifier=identifier,
        sdkappid=sdkappid,
        expire=expire,
        time=issued,
        userbuf=userbuf,
        sig=sig,
    )


def _inflate(compressed: bytes) -> bytes:
    """zlib-inflate (RFC 1950 only, checksum verified) at most MAX_JSON_BYTES of output."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, MAX_JSON_BYTES + 1)
    except zlib.error:
        raise UserSigDecodeError("not a zlib stream") from None
    if len(raw) > MAX_JSON_BYTES:
        raise UserSigDecodeError(f"inflates to more than {MAX_JSON_BYTES} bytes")
    if not inflater.eof:
        raise UserSigDecodeError("truncated zlib stream")
    if inflater.unused_data:
        raise UserSigDecodeError("data after the zlib stream")
    return raw


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse duplicate keys: parsers disagree on which one wins."""
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise UserSigDecodeError("duplicate JSON key")
    return doc


def _field(doc: dict[str, Any], name: str, kind: type[_T]) -> _T:
    value = doc.get(name)
    if value is None:
        raise UserSigDecodeError(f"missing {name}")
    if (kind is int and not _is_int(value)) or not isinstance(value, kind):
        raise UserSigDecodeError(f"{name} is not a {kind.__name__}")
    return value


def _std_b64decode(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise UserSigDecodeError(f"{name} is not base64") from None


# --- verification ----------------------------------------------------------------------------


def verify_usersig(
    usersig: str | bytes,
    *,
    sdkappid: int,
    userid: str,
    keys: Sequence[str],
    now: int,
    userbuf: bytes | Literal[UserBufCheck.ANY] | None = None,
) -> UserSigResult:
    """Check a UserSig for (sdkappid, userid) at `now`; never raises for any token.

    Order as Tencent's Go verifier: appid, userid, expiry (`now > time + expire` fails, so the
    boundary second passes), userbuf, then the HMAC recomputed from the decoded values under each
    of `keys` (several during a key rotation's grace period), compared in constant time.
    `userbuf=None` requires a token without userbuf (Go `VerifyUserSig`), bytes require exactly
    that userbuf, ANY_USERBUF accepts either (the PrivateMapKey layer checks it itself).
    Only a bare str passed as `keys` raises (TypeError), as that is a caller bug.
    """
    if isinstance(keys, str):
        raise TypeError("keys must be a sequence of keys, not one str")
    try:
        decoded = decode_usersig(usersig)
    except UserSigDecodeError as exc:
        return UserSigResult(False, VerifyReason.MALFORMED, f"malformed usersig: {exc}")
    except (TypeError, ValueError):  # not a str/bytes at all
        return UserSigResult(False, VerifyReason.MALFORMED, "malformed usersig: not a string")

    def fail(reason: VerifyReason, message: str) -> UserSigResult:
        return UserSigResult(False, reason, message, decoded, decoded.expires_at)

    if decoded.sdkappid != sdkappid:
        return fail(VerifyReason.APPID_MISMATCH, f"sdkappid {decoded.sdkappid} does not match {sdkappid}")
    if decoded.identifier != userid:
        return fail(VerifyReason.USERID_MISMATCH, "userid does not match the usersig identifier")
    if now > decoded.expires_at:
        return fail(VerifyReason.EXPIRED, f"usersig expired at {decoded.expires_at} (now {now})")
    if userbuf is not ANY_USERBUF:
        if (userbuf is None) != (decoded.userbuf is None):
            wanted = "no userbuf" if userbuf is None else "a userbuf"
            return fail(VerifyReason.USERBUF_MISMATCH, f"expected {wanted}")
        if userbuf is not None and userbuf != decoded.userbuf:
            return fail(VerifyReason.USERBUF_MISMATCH, "userbuf does not match")
    if not keys:
        return fail(VerifyReason.KEY_MISSING, "no key to verify the signature with")
    for index, key in enumerate(keys):
        try:
            expected = usersig_hmac(
                key, decoded.identifier, decoded.sdkappid, decoded.time, decoded.expire, decoded.userbuf
            )
        except UnicodeEncodeError:  # lone surrogates in the identifier or key cannot be signed
            return fail(VerifyReason.MALFORMED, "malformed usersig: identifier or key is not valid unicode")
        if hmac.compare_digest(expected, decoded.sig):
            return UserSigResult(True, VerifyReason.OK, "ok", decoded, decoded.expires_at, index)
    return fail(VerifyReason.SIG_MISMATCH, "signature does not match")
