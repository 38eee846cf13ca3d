"""Consent tokens: the customer's backend attests an end user's consent, signed with the app's key.

Same family as UserSig (TLSSigAPIv2): an HMAC-SHA256 keyed by the SDKSecretKey text over LF-terminated
`name:value` lines, a JSON document, zlib, and the url-ish base64. Fields (JSON keys):

    RR.ver "1", RR.sdkappid int, RR.userid str, RR.jurisdiction str (ISO 3166-1 alpha-2 or 3166-2,
    "" if unknown), RR.age int (years; optional when RR.parental_ref is given), RR.parental_ref str
    (reference to the customer's parental-consent evidence; never the evidence itself), RR.notice str
    (notice version the user saw), RR.time int (issue time), RR.expire int (seconds, relative), RR.sig.

String to sign: `RR.ver:1\nRR.sdkappid:<n>\nRR.userid:<u>\nRR.jurisdiction:<j>\nRR.age:<a or "">\n
RR.parental_ref:<p>\nRR.notice:<v>\nRR.time:<t>\nRR.expire:<e>\n`.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from relayroom.auth.usersig import urlish_b64decode, urlish_b64encode
from relayroom.jsonlimits import loads as json_loads

MAX_TOKEN_CHARS = 4096
MAX_JSON_BYTES = 4096


class ConsentTokenReason(enum.StrEnum):
    OK = "ok"
    MISSING = "missing"
    MALFORMED = "malformed"
    APPID_MISMATCH = "appid_mismatch"
    USERID_MISMATCH = "userid_mismatch"
    EXPIRED = "expired"
    SIG_MISMATCH = "sig_mismatch"


@dataclass(frozen=True)
class ConsentClaims:
    sdkappid: int
    userid: str
    jurisdiction: str
    age: int | None
    parental_ref: str
    notice: str
    time: int
    expire: int


@dataclass(frozen=True)
class ConsentTokenResult:
    ok: bool
    reason: ConsentTokenReason
    message: str
    claims: ConsentClaims | None = None


def _string_to_sign(c: ConsentClaims) -> bytes:
    age = "" if c.age is None else str(c.age)
    return (
        f"RR.ver:1\nRR.sdkappid:{c.sdkappid}\nRR.userid:{c.userid}\nRR.jurisdiction:{c.jurisdiction}\n"
        f"RR.age:{age}\nRR.parental_ref:{c.parental_ref}\nRR.notice:{c.notice}\n"
        f"RR.time:{c.time}\nRR.expire:{c.expire}\n"
    ).encode()


def _sig(key: str, c: ConsentClaims) -> bytes:
    return hmac.new(key.encode(), _string_to_sign(c), hashlib.sha256).digest()


def gen_consent_token(
    sdkappid: int,
    key: str,
    userid: str,
    *,
    jurisdiction: str,
    age: int | None,
    parental_ref: str = "",
    notice: str,
    time: int,
    expire: int = 86400,
) -> str:
    c = ConsentClaims(sdkappid, userid, jurisdiction.upper(), age, parental_ref, notice, time, expire)
    doc = {
        "RR.ver": "1",
        "RR.sdkappid": c.sdkappid,
        "RR.userid": c.userid,
        "RR.jurisdiction": c.jurisdiction,
        "RR.age": c.age,
        "RR.parental_ref": c.parental_ref,
        "RR.notice": c.notice,
        "RR.time": c.time,
        "RR.expire": c.expire,
        "RR.sig": base64.b64encode(_sig(key, c)).decode(),
    }
    return urlish_b64encode(zlib.compress(json.dumps(doc).encode()))


def _decode(token: str) -> tuple[ConsentClaims, bytes]:
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError("token too long")
    inflater = zlib.decompressobj()
    raw = inflater.decompress(urlish_b64decode(token), MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES or not inflater.eof:
        raise ValueError("bad zlib stream")
    doc = json_loads(raw)  # ValueError (also JsonTooDeep) for what is not a JSON document
    if not isinstance(doc, dict) or doc.get("RR.ver") != "1":
        raise ValueError("not a version 1 consent token")

    def field(name: str, kind: type) -> object:
        v = doc.get(name)
        if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            raise ValueError(f"{name} missing or not {kind.__name__}")
        return v

    age = doc.get("RR.age")
    if age is not None and (not isinstance(age, int) or isinstance(age, bool) or not 0 <= age <= 150):
        raise ValueError("RR.age must be an integer 0..150 or null")
    claims = ConsentClaims(
        sdkappid=int(field("RR.sdkappid", int)),  # type: ignore[call-overload]
        userid=str(field("RR.userid", str)),
        jurisdiction=str(field("RR.jurisdiction", str)),
        age=age,
        parental_ref=str(field("RR.parental_ref", str)),
        notice=str(field("RR.notice", str)),
        time=int(field("RR.time", int)),  # type: ignore[call-overload]
        expire=int(field("RR.expire", int)),  # type: ignore[call-overload]
    )
    sig = base64.b64decode(str(field("RR.sig", str)), validate=True)
    return claims, sig


def verify_consent_token(
    token: str | None, *, sdkappid: int, userid: str, keys: Sequence[str], now: int
) -> ConsentTokenResult:
    """Never raises: every failure is a typed reason with a message."""
    if not token:
        return ConsentTokenResult(
            False, ConsentTokenReason.MISSING, "a consent token is required for this application"
        )
    try:
        claims, sig = _decode(token)
    except Exception as exc:  # any decoding failure is "malformed"
        return ConsentTokenResult(False, ConsentTokenReason.MALFORMED, f"consent token is malformed: {exc}")
    if claims.sdkappid != sdkappid:
        return ConsentTokenResult(
            False, ConsentTokenReason.APPID_MISMATCH, "consent token is for another application"
        )
    if claims.userid != userid:
        return ConsentTokenResult(
            False, ConsentTokenReason.USERID_MISMATCH, "consent token is for another user"
        )
    if now > claims.time + claims.expire:
        return ConsentTokenResult(False, ConsentTokenReason.EXPIRED, "consent token has expired")
    if not any(hmac.compare_digest(_sig(k, claims), sig) for k in keys):
        return ConsentTokenResult(
            False, ConsentTokenReason.SIG_MISMATCH, "consent token signature does not match"
        )
    return ConsentTokenResult(True, ConsentTokenReason.OK, "ok", claims)
