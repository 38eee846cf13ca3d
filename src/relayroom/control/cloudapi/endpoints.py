"""``POST /`` and ``GET /``: the TRTC-compatible server API, where the official SDK sends every action.

Order of checks: body size (at the edge, control/limits.py), the signature (incoming.py: TC3 header or
v1 parameters; format, timestamp skew of 300 s, version, SecretId, signature recomputed from the
request as received), action, rate limit per credential, JSON (depth-limited) or the form/query
parameters, parameters the action does not define (UnknownParameter), then, for state-changing actions
and every v1 request, a signature or nonce already accepted (replay.py), then the action's own
parameter checks. Every outcome is HTTP 200 with ``Content-Type: application/json`` in the API 3.0
envelope (envelope.py). Never logged: SecretKeys, signatures, bodies.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from relayroom.control.cloudapi import envelope
from relayroom.control.cloudapi import errors as E
from relayroom.control.cloudapi.actions import ACTIONS, RATE_LIMITS, ActionContext
from relayroom.control.cloudapi.errors import CloudApiError
from relayroom.control.cloudapi.incoming import MAX_SKEW_S, Incoming, authenticate, is_api_request
from relayroom.control.cloudapi.params import Params
from relayroom.control.cloudapi.replay import ReplayCache, ReplayCacheFull
from relayroom.control.deps import ContainerDep, container_of
from relayroom.control.limits import CLOUD_API_BODY_LIMIT
from relayroom.control.live.ops import room_ops
from relayroom.control.principal import Principal
from relayroom.control.regions import cloud_api_region_error
from relayroom.jsonlimits import JsonTooDeep
from relayroom.jsonlimits import loads as json_loads
from relayroom.storage.models import Role

log = logging.getLogger(__name__)

router = APIRouter()


def too_large(limit: int) -> Response:
    """The answer of the edge limit (control/limits.py) for a body over ``limit``: the envelope."""
    return envelope.error(
        str(uuid.uuid4()),
        E.REQUEST_SIZE_LIMIT_EXCEEDED,
        f"The request body is larger than {limit} bytes.",
    )


async def _take_once(cache: ReplayCache, req: Incoming, now: float) -> None:
    """Refuse a request whose signature (TC3) or nonce (v1) was accepted before, within its window."""
    ttl = req.timestamp + MAX_SKEW_S - now + 1  # the signature verifies until its timestamp is 300 s old
    try:
        fresh = await cache.add(req.once_key, ttl)
    except ReplayCacheFull:
        log.warning("cloud api replay cache full; refusing state-changing requests for now")
        raise CloudApiError(
            E.REQUEST_LIMIT_EXCEEDED, "Too many recent state-changing requests; retry in a few seconds."
        ) from None
    if not fresh:
        raise CloudApiError(
            E.AUTH_SIGNATURE_REPLAY,
            "This signed request was already accepted: a state-changing request (any v1 request) is taken "
            f"once. Sign a new request ({req.replay_hint}) to do it again.",
        )


@router.get("/", include_in_schema=False)
async def cloud_api_get(request: Request) -> Response:
    """A GET without any API parameter or signature is a browser's visit: it goes to the console (even
    while the server is still starting); a signed GET is the SDK's GET mode of the cloud API."""
    if not is_api_request(request):
        return RedirectResponse("/console/", status_code=307)
    return await cloud_api(request, container_of(request.app))


@router.post("/", include_in_schema=False)
async def cloud_api(request: Request, c: ContainerDep) -> Response:
    """Tencent Cloud API 3.0, service trtc, version 2019-07-22 (docs/cloud-api.md)."""
    request_id = str(uuid.uuid4())
    action = request.headers.get("x-tc-action", "")[:64]
    services = c.services
    try:
        body = await request.body()  # at most CLOUD_API_BODY_LIMIT: the edge refused larger ones
        if len(body) > CLOUD_API_BODY_LIMIT:
            raise CloudApiError(E.REQUEST_SIZE_LIMIT_EXCEEDED, "The request body is too large.")
        # Another region's SdkAppId: its URL, before authentication (the caller's credentials live in
        # that region's database, and nothing of the request is kept here).
        wrong_region = cloud_api_region_error(c.regions, body, request.query_params)
        if wrong_region is not None:
            raise wrong_region
        req = await authenticate(request, services, body)
        secret_id, action = req.secret_id, req.action[:64]
        spec = ACTIONS.get(req.action)
        if spec is None:
            raise CloudApiError(E.INVALID_ACTION, f"The action `{action}` is not found.")
        if not await c.rate_limiter.allow(secret_id, spec.rate_class, RATE_LIMITS[spec.rate_class]):
            raise CloudApiError(E.REQUEST_LIMIT_EXCEEDED, "Requests exceed the frequency limit.")
        data: Any = req.params
        if data is None:
            try:
                data = json_loads(body or b"{}")
            except JsonTooDeep as exc:
                raise CloudApiError(
                    E.INVALID_PARAMETER, f"The request body is not accepted: {exc}."
                ) from None
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
        if spec.changes_state or req.always_once:
            await _take_once(c.replay_cache, req, now)
        ctx = ActionContext(
            services=services,
            ops=room_ops(c),
            account_id=req.account_id,
            now=now,
            actor=Principal(actor=f"credential:{secret_id}", roles={req.account_id: Role.OWNER}),
        )
        out = await spec.fn(ctx, Params(data))
    except CloudApiError as exc:
        log.info("cloud api error", extra={"action": action[:64], "code": exc.code})
        return envelope.error(request_id, exc.code, exc.message, exc.details)
    except Exception:
        log.exception("cloud api action failed", extra={"action": action[:64]})
        return envelope.error(request_id, E.INTERNAL_ERROR, "Internal error.")
    log.info("cloud api call", extra={"action": action})
    return envelope.ok(request_id, out)
