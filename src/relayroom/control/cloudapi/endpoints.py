"""``POST /``: the TRTC-compatible server API, where the official SDK sends every action.

Order of checks: body size (at the edge, control/limits.py), Authorization format, timestamp skew
(300 s), version, SecretId, signature (TC3, recomputed from the request as received), action, rate
limit per credential, JSON (depth-limited), parameters the action does not define (UnknownParameter),
then, for state-changing actions, a signature already accepted (replay.py), then the action's own
parameter checks. Every outcome is HTTP 200 with ``Content-Type: application/json`` in the API 3.0
envelope (envelope.py). Never logged: SecretKeys, signatures, bodies.
"""

from __future__ import annotations

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
from relayroom.control.cloudapi.replay import ReplayCache, ReplayCacheFull
from relayroom.control.deps import ContainerDep
from relayroom.control.limits import CLOUD_API_BODY_LIMIT
from relayroom.control.principal import Principal
from relayroom.control.services import Services
from relayroom.jsonlimits import JsonTooDeep
from relayroom.jsonlimits import loads as json_loads
from relayroom.storage.models import Role

log = logging.getLogger(__name__)

router = APIRouter()

VERSION = "2019-07-22"
SERVICE = "trtc"
MAX_SKEW_S = 300
UNSIGNED = "UNSIGNED-PAYLOAD"


def too_large(limit: int) -> Response:
    """The answer of the edge limit (control/limits.py) for a body over ``limit``: the envelope."""
    return envelope.error(
        str(uuid.uuid4()),
        E.REQUEST_SIZE_LIMIT_EXCEEDED,
        f"The request body is larger than {limit} bytes.",
    )


async def _take_once(
    cache: ReplayCache, secret_id: str, auth: tc3.Authorization, ts: int, now: float
) -> None:
    """Refuse a state-changing request whose signature was accepted before (within its window)."""
    ttl = ts + MAX_SKEW_S - now + 1  # the signature verifies until its timestamp is 300 s old
    try:
        fresh = await cache.add(f"{secret_id}:{auth.signature}", ttl)
    except ReplayCacheFull:
        log.warning("cloud api replay cache full; refusing state-changing requests for now")
        raise CloudApiError(
            E.REQUEST_LIMIT_EXCEEDED, "Too many recent state-changing requests; retry in a few seconds."
        ) from None
    if not fresh:
        raise CloudApiError(
            E.AUTH_SIGNATURE_REPLAY,
            "This signed request was already accepted: a state-changing request is taken once. "
            "Sign a new request (a later X-TC-Timestamp) to do it again.",
        )


async def _authenticate(
    request: Request, services: Services, body: bytes
) -> tuple[str, str, tc3.Authorization, int]:
    """Returns (SecretId, account id, the parsed Authorization, X-TC-Timestamp) or raises the TRTC
    auth error. ``x-tc-action`` (and any other header) may be in SignedHeaders: it is then verified."""
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
    return auth.secret_id, account_id, auth, ts


@router.post("/", include_in_schema=False)
async def cloud_api(request: Request, c: ContainerDep) -> Response:
    """Tencent Cloud API 3.0, service trtc, version 2019-07-22 (docs/cloud-api.md)."""
    request_id = str(uuid.uuid4())
    action = request.headers.get("x-tc-action", "")
    services = c.services
    try:
        body = await request.body()  # at most CLOUD_API_BODY_LIMIT: the edge refused larger ones
        if len(body) > CLOUD_API_BODY_LIMIT:
            raise CloudApiError(E.REQUEST_SIZE_LIMIT_EXCEEDED, "The request body is too large.")
        secret_id, account_id, auth, ts = await _authenticate(request, services, body)
        spec = ACTIONS.get(action)
        if spec is None:
            raise CloudApiError(E.INVALID_ACTION, f"The action `{action}` is not found.")
        if not await c.rate_limiter.allow(secret_id, spec.rate_class, RATE_LIMITS[spec.rate_class]):
            raise CloudApiError(E.REQUEST_LIMIT_EXCEEDED, "Requests exceed the frequency limit.")
        try:
            data: Any = json_loads(body or b"{}")
        except JsonTooDeep as exc:
            raise CloudApiError(E.INVALID_PARAMETER, f"The request body is not accepted: {exc}.") from None
        except ValueError:
            raise CloudApiError(E.INVALID_PARAMETER, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise CloudApiError(E.INVALID_PARAMETER, "The request body must be a JSON object.")
        unknown = sorted(set(data) - spec.params)
        if unknown:
            raise CloudApiError(
                E.UNKNOWN_PARAMETER,
                f"The parameter `{unknown[0][:64]}` is not recognized by the action `{action}`.",
            )
        now = services.ctx.clock.time()
        if spec.changes_state:
            await _take_once(c.replay_cache, secret_id, auth, ts, now)
        ctx = ActionContext(
            services=services,
            rooms=c.rooms,
            history=c.history,
            meter=c.meter,
            account_id=account_id,
            now=now,
            moderation=c.moderation,
            actor=Principal(actor=f"credential:{secret_id}", roles={account_id: Role.OWNER}),
        )
        out = await spec.fn(ctx, Params(data))
    except CloudApiError as exc:
        log.info("cloud api error", extra={"action": action[:64], "code": exc.code})
        return envelope.error(request_id, exc.code, exc.message)
    except Exception:
        log.exception("cloud api action failed", extra={"action": action[:64]})
        return envelope.error(request_id, E.INTERNAL_ERROR, "Internal error.")
    log.info("cloud api call", extra={"action": action})
    return envelope.ok(request_id, out)
