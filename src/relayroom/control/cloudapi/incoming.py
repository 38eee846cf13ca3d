"""What a cloud-API request carries: who signed it and how, its action and its parameters.

Three shapes reach ``/`` (docs/cloud-api.md, *Protocol*):

- **TC3, POST JSON** (the SDK's default): ``Authorization: TC3-HMAC-SHA256 ...``, ``X-TC-*`` headers,
  the parameters as a JSON body (decoded by the endpoint, after the action and rate-limit checks).
- **TC3, GET** (``HttpProfile(reqMethod="GET")``): the same headers, the parameters flattened in the
  query string, which is the canonical query string of the signature; an empty payload.
- **Signature v1** (``signMethod="HmacSHA1"/"HmacSHA256"``, GET query or form-encoded POST): no
  Authorization header; ``Action``, ``Version``, ``Timestamp``, ``Nonce``, ``SecretId``,
  ``SignatureMethod``, ``Signature`` (and ``Region``, ``RequestClient``, ``Language``, ``Token``)
  among the parameters. The nonce, with the timestamp, is taken once for whatever action
  (:attr:`Incoming.once_key`), against replay.

Checks keep the order of the TC3 path: signature format, timestamp skew (300 s), version, SecretId,
signature. Never logged: SecretKeys, signatures, parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from relayroom.auth import signv1, tc3
from relayroom.control.cloudapi import errors as E
from relayroom.control.cloudapi import form
from relayroom.control.cloudapi.errors import CloudApiError
from relayroom.control.services import Services

VERSION = "2019-07-22"
SERVICE = "trtc"
MAX_SKEW_S = 300
UNSIGNED = "UNSIGNED-PAYLOAD"
FORM = "application/x-www-form-urlencoded"
# The common parameters of a v1 request: not the action's (UnknownParameter does not see them).
V1_COMMON = frozenset(
    {
        "Action",
        "Version",
        "Region",
        "Timestamp",
        "Nonce",
        "SecretId",
        "SignatureMethod",
        "Signature",
        "RequestClient",
        "Language",
        "Token",
    }
)
_NONCE_MAX_DIGITS = 20


@dataclass(frozen=True)
class Incoming:
    secret_id: str
    account_id: str
    action: str
    timestamp: int
    # The replay-cache key of this request: the TC3 signature, or the v1 nonce with its timestamp.
    once_key: str
    # v1: the nonce is taken for every action (TC3: only state-changing actions take their signature).
    always_once: bool
    # GET / form-encoded: the action's parameters, decoded here (values are strings). None: the JSON body.
    params: dict[str, Any] | None

    @property
    def replay_hint(self) -> str:
        return "a new Nonce" if self.always_once else "a later X-TC-Timestamp"


def is_api_request(request: Request) -> bool:
    """A GET of ``/`` that is a cloud-API call (signed or trying to be) rather than a browser visit."""
    if "authorization" in request.headers or any(h.startswith("x-tc-") for h in request.headers):
        return True
    q = request.query_params
    return "Action" in q or "Signature" in q or "SecretId" in q


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _skew(services: Services, ts: int) -> None:
    if abs(services.ctx.clock.time() - ts) > MAX_SKEW_S:
        raise CloudApiError(
            E.AUTH_SIGNATURE_EXPIRE, "The signature expired: the timestamp is more than 300 s off."
        )


async def _credential(services: Services, secret_id: str) -> tuple[str, str]:
    async with services.ctx.db.read() as session:
        found = await services.keys.credential_secret(session, secret_id)
    if found is None:
        raise CloudApiError(E.AUTH_SECRET_ID_NOT_FOUND, "The SecretId is not found or disabled.")
    return found


async def authenticate(request: Request, services: Services, body: bytes) -> Incoming:
    """The verified request, or the TRTC error (CloudApiError) saying why not."""
    fields: list[tuple[str, str]] | None = None
    if request.method == "GET":
        fields = form.pairs(request.url.query)
    elif _media_type(request) == FORM:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CloudApiError(E.INVALID_PARAMETER, "The form-encoded body is not UTF-8.") from None
        fields = form.pairs(text)
    if request.headers.get("authorization"):
        return await _tc3(request, services, body, fields)
    if fields is not None and any(name == "Signature" for name, _ in fields):
        return await _v1(request, services, fields)
    raise CloudApiError(
        E.AUTH_INVALID_AUTHORIZATION,
        "The request is not signed: send an Authorization header (TC3-HMAC-SHA256) or, for signature "
        "v1 (HmacSHA1/HmacSHA256), Signature, SignatureMethod, Nonce, Timestamp and SecretId parameters "
        "in a form-encoded body or GET query.",
    )


async def _tc3(
    request: Request, services: Services, body: bytes, fields: list[tuple[str, str]] | None
) -> Incoming:
    """``x-tc-action`` (and any other header) may be in SignedHeaders: it is then verified."""
    h = request.headers
    try:
        auth = tc3.parse_authorization(h.get("authorization", ""))
    except tc3.Tc3FormatError:
        raise CloudApiError(
            E.AUTH_INVALID_AUTHORIZATION, "Authorization is not a valid TC3-HMAC-SHA256 header."
        ) from None
    if auth.service != SERVICE or auth.terminator != tc3.TERMINATOR:
        raise CloudApiError(
            E.AUTH_INVALID_AUTHORIZATION, "The credential scope must be <date>/trtc/tc3_request."
        )
    if not {"content-type", "host"} <= set(auth.signed_headers):
        raise CloudApiError(E.AUTH_INVALID_AUTHORIZATION, "SignedHeaders must include content-type and host.")
    try:
        ts = tc3.parse_timestamp(h.get("x-tc-timestamp", ""))
    except tc3.Tc3FormatError:
        raise CloudApiError(E.MISSING_PARAMETER, "X-TC-Timestamp is missing or not a Unix time.") from None
    _skew(services, ts)
    if h.get("x-tc-version") != VERSION:
        raise CloudApiError(E.NO_SUCH_VERSION, f"Version must be {VERSION}.")
    account_id, secret_key = await _credential(services, auth.secret_id)
    get = request.method == "GET"
    payload = UNSIGNED.encode() if h.get("x-tc-content-sha256") == UNSIGNED else (b"" if get else body)
    headers = {name: h.get(name, "") for name in auth.signed_headers}
    want = tc3.expected_signature(
        secret_key,
        auth,
        method=request.method,
        query=request.url.query if get else "",
        headers=headers,
        payload=payload,
        timestamp=ts,
    )
    if auth.date != tc3.utc_date(ts) or not tc3.signatures_equal(want, auth.signature):
        raise CloudApiError(E.AUTH_SIGNATURE_FAILURE, "The provided credentials could not be validated.")
    return Incoming(
        secret_id=auth.secret_id,
        account_id=account_id,
        action=h.get("x-tc-action", ""),
        timestamp=ts,
        once_key=f"{auth.secret_id}:{auth.signature}",
        always_once=False,
        params=form.unflatten(fields) if fields is not None else None,
    )


async def _v1(request: Request, services: Services, fields: list[tuple[str, str]]) -> Incoming:
    given = dict(fields)  # form.pairs refused a name given twice
    method = given.get("SignatureMethod", signv1.DEFAULT_METHOD)
    if method not in signv1.METHODS:
        raise CloudApiError(
            E.AUTH_INVALID_AUTHORIZATION,
            "SignatureMethod must be HmacSHA1 or HmacSHA256 (or TC3-HMAC-SHA256 in an Authorization header).",
        )
    try:
        ts = tc3.parse_timestamp(given.get("Timestamp", ""))
    except tc3.Tc3FormatError:
        raise CloudApiError(E.MISSING_PARAMETER, "Timestamp is missing or not a Unix time.") from None
    _skew(services, ts)
    nonce = given.get("Nonce", "")
    if not (nonce.isascii() and nonce.isdigit() and len(nonce) <= _NONCE_MAX_DIGITS):
        raise CloudApiError(E.MISSING_PARAMETER, "Nonce is missing or not a positive integer.")
    if given.get("Version") != VERSION:
        raise CloudApiError(E.NO_SUCH_VERSION, f"Version must be {VERSION}.")
    secret_id = given.get("SecretId", "")
    if not secret_id:
        raise CloudApiError(E.MISSING_PARAMETER, "SecretId is missing.")
    account_id, secret_key = await _credential(services, secret_id)
    signed = {k: v for k, v in given.items() if k != "Signature"}
    to_sign = signv1.string_to_sign(request.method, request.headers.get("host", ""), request.url.path, signed)
    if not signv1.signatures_equal(signv1.signature(secret_key, to_sign, method), given["Signature"]):
        raise CloudApiError(E.AUTH_SIGNATURE_FAILURE, "The provided credentials could not be validated.")
    return Incoming(
        secret_id=secret_id,
        account_id=account_id,
        action=given.get("Action", ""),
        timestamp=ts,
        once_key=f"v1:{secret_id}:{nonce}:{ts}",
        always_once=True,
        params=form.unflatten([(k, v) for k, v in fields if k not in V1_COMMON]),
    )
