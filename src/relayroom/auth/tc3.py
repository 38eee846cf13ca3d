"""TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0 (what the official SDKs send).

Pure functions, no I/O: the cloud API endpoint parses the ``Authorization`` header, rebuilds the
canonical request from what it received and compares signatures in constant time. Tests and the docs
use :func:`sign_request` to build requests the way the SDK does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"
TERMINATOR = "tc3_request"
DEFAULT_SIGNED_HEADERS = ("content-type", "host")

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<sid>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z0-9]+)/"
    r"(?P<term>[a-z0-9_]+), ?SignedHeaders=(?P<headers>[a-z0-9\-;]+), ?Signature=(?P<sig>[0-9a-f]{64})$"
)


class Tc3FormatError(ValueError):
    """The Authorization header is not a TC3-HMAC-SHA256 header."""


@dataclass(frozen=True)
class Authorization:
    secret_id: str
    date: str  # YYYY-MM-DD (UTC) of the credential scope
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def credential_scope(self) -> str:
        return f"{self.date}/{self.service}/{self.terminator}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def canonical_request(
    method: str,
    query: str,
    headers: dict[str, str],
    signed_headers: tuple[str, ...],
    payload: bytes,
) -> str:
    """METHOD \\n / \\n query \\n canonical headers \\n signed headers \\n hex(sha256(payload)).

    ``headers`` keys are lower-case, values as received (trimmed). With ``X-TC-Content-SHA256:
    UNSIGNED-PAYLOAD`` the SDK hashes the literal string ``UNSIGNED-PAYLOAD``: pass that as payload.
    """
    lines = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            "/",
            query,
            lines,
            ";".join(signed_headers),
            sha256_hex(payload),
        ]
    )


def string_to_sign(timestamp: int, credential_scope: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{timestamp}\n{credential_scope}\n{sha256_hex(canonical.encode('utf-8'))}"


def signature(secret_key: str, date: str, service: str, to_sign: str) -> str:
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, TERMINATOR)
    return hmac.new(k_signing, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> Authorization:
    m = _AUTH_RE.match(value.strip())
    if m is None:
        raise Tc3FormatError("Authorization is not a TC3-HMAC-SHA256 header")
    return Authorization(
        secret_id=m["sid"],
        date=m["date"],
        service=m["service"],
        terminator=m["term"],
        signed_headers=tuple(m["headers"].split(";")),
        signature=m["sig"],
    )


def parse_timestamp(value: str) -> int:
    """The ``X-TC-Timestamp`` header: Unix seconds as decimal digits."""
    # isdigit() alone admits non-ASCII digits such as "³" that int() refuses
    if not (value.isascii() and value.isdigit() and len(value) <= 20):
        raise Tc3FormatError("X-TC-Timestamp is not a Unix time")
    return int(value)


def expected_signature(
    secret_key: str,
    auth: Authorization,
    *,
    method: str,
    query: str,
    headers: dict[str, str],
    payload: bytes,
    timestamp: int,
) -> str:
    canonical = canonical_request(method, query, headers, auth.signed_headers, payload)
    return signature(
        secret_key, auth.date, auth.service, string_to_sign(timestamp, auth.credential_scope, canonical)
    )


def signatures_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def sign_request(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    payload: bytes,
    timestamp: int,
    service: str = "trtc",
    content_type: str = "application/json",
    method: str = "POST",
    query: str = "",
    also_sign: dict[str, str] | None = None,
) -> str:
    """The Authorization header value the official SDK would send for this request.

    ``also_sign``: more headers to cover (lower-case name -> value), e.g. ``{"x-tc-action": ...}``,
    which binds the signature to the action; the SDK itself signs content-type and host only.
    """
    date = utc_date(timestamp)
    scope = f"{date}/{service}/{TERMINATOR}"
    headers = {"content-type": content_type, "host": host, **(also_sign or {})}
    signed = tuple(sorted(headers))
    canonical = canonical_request(method, query, headers, signed, payload)
    sig = signature(secret_key, date, service, string_to_sign(timestamp, scope, canonical))
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"
