"""``POST /``: the TRTC-compatible server API, where the official SDK sends every action.

Order of checks: Authorization format, timestamp skew (300 s), version, SecretId, signature (TC3,
recomputed from the request as received), rate limit per credential, action, parameters. Every outcome
is HTTP 200 with ``Content-Type: application/json`` in the API 3.0 envelope (envelope.py).
Never logged: SecretKeys, signatures, bodies.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from relayroom.auth import tc3
from relayroom.control.cloudapi import envelope
from relayroom.control.cloudapi import errors as E
from relayroom.control.cloudapi.actions import ACTIONS, RATE_LIMITS, ActionContext
from relayroom.control.cloudapi.errors import CloudApiError
from relayroom.control.cloudapi.params import Params
from relayroom.control.cloudapi.ratelimit import RateLimiter
from relayroom.control.services import Services

log = logging.getLogger(__name__)

router = APIRouter()

VERSION = "2019-07-22"
SERVICE = "trtc"
MAX_SKEW_S = 300
MAX_BODY = 1 << 20
UNSIGNED = "UNSIGNED-PAYLOAD"


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "cloudapi_limiter", None)
    if limiter is None:
        limiter = RateLimiter()
        request.app.state.cloudapi_limiter = limiter
    return limiter


async def _authenticate(request: Request, services: Services, body: bytes) -> tuple[str, str]:
    """Returns (SecretId, account id) or raises the TRTC auth error."""
    h = request.headers
    raw = h.get("authorization")
    if not raw:
        raise CloudApiError(E.AUTH_INVALID_AUTHORIZATION, "The Authorization header is missing.")
    try:
        auth = tc3.parse_authorization(raw)
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
    if abs(services.ctx.clock.time() - ts) > MAX_SKEW_S:
        raise CloudApiError(
            E.AUTH_SIGNATURE_EXPIRE, "The signature expired: X-TC-Timestamp is more than 300 s off."
        )
    version = h.get("x-tc-version")
    if version != VERSION:
        raise CloudApiError(E.NO_SUCH_VERSION, f"Version must be {VERSION}.")
    async with services.ctx.db.read() as session:
        found = await services.keys.credential_secret(session, auth.secret_id)
    if found is None:
        raise CloudApiError(E.AUTH_SECRET_ID_NOT_FOUND, "The SecretId is not found or disabled.")
    account_id, secret_key = found
    payload = UNSIGNED.encode() if h.get("x-tc-content-sha256") == UNSIGNED else body
    query = request.url.query if request.method == "GET" else ""
    headers = {name: h.get(name, "") for name in auth.signed_headers}
    want = tc3.expected_signature(
        secret_key, auth, method=request.method, query=query, headers=headers, payload=payload, timestamp=ts
    )
    if auth.date != tc3.utc_date(ts) or not tc3.signatures_equal(want, auth.signature):
        raise CloudApiError(E.AUTH_SIGNATURE_FAILURE, "The provided credentials could not be validated.")
    return auth.secret_id, account_id


@router.post("/", include_in_schema=False)
async def cloud_api(request: Request) -> Response:
    """Tencent Cloud API 3.0, service trtc, version 2019-07-22 (docs/cloud-api.md)."""
    request_id = str(uuid.uuid4())
    action = request.headers.get("x-tc-action", "")
    services: Services = request.app.state.services
    try:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise CloudApiError(E.INVALID_PARAMETER, "The request body is too large.")
        secret_id, account_id = await _authenticate(request, services, body)
        entry = ACTIONS.get(action)
        if entry is None:
            raise CloudApiError(E.INVALID_ACTION, f"The action `{action}` is not found.")
        fn, cls = entry
        if not _limiter(request).allow(secret_id, cls, RATE_LIMITS[cls]):
            raise CloudApiError(E.REQUEST_LIMIT_EXCEEDED, "Requests exceed the frequency limit.")
        try:
            data: Any = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            raise CloudApiError(E.INVALID_PARAMETER, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise CloudApiError(E.INVALID_PARAMETER, "The request body must be a JSON object.")
        ctx = ActionContext(
            services=services,
            rooms=getattr(request.app.state, "rooms", None),
            history=getattr(request.app.state, "call_history", None),
            meter=getattr(request.app.state, "usage_meter", None),
            account_id=account_id,
            now=services.ctx.clock.time(),
        )
        out = await fn(ctx, Params(data))
    except CloudApiError as exc:
        log.info("cloud api error", extra={"action": action[:64], "code": exc.code})
        return envelope.error(request_id, exc.code, exc.message)
    except Exception:
        log.exception("cloud api action failed", extra={"action": action[:64]})
        return envelope.error(request_id, E.INTERNAL_ERROR, "Internal error.")
    log.info("cloud api call", extra={"action": action})
    return envelope.ok(request_id, out)
