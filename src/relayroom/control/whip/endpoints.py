"""WHIP (RFC 9725) and WHEP endpoints: ``/whip/{room}``, ``/whep/{room}/{userId}`` and their sessions.

Auth: ``Authorization: Bearer <UserSig>`` (the UserSig names the SDKAppID and UserID); the query adds
what an SDK's enterRoom would (``scene``, ``privateMapKey``, ``consentToken``). docs/whip-whep.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from relayroom.control.deps import ContainerDep
from relayroom.control.whip.protocol import (
    CORS_HEADERS,
    SDP_TYPE,
    TRICKLE_TYPE,
    WhipError,
    bearer,
    media_type,
)
from relayroom.control.whip.service import Created, EntryOptions, WhipService

# 415: an offer or a trickle fragment sent with another Content-Type than the protocol's (RFC 9725)
router = APIRouter(
    tags=["whip"],
    responses={
        415: {
            "description": "The body's Content-Type is not application/sdp (offers) or "
            "application/trickle-ice-sdpfrag (PATCH)"
        }
    },
)


def get_whip(c: ContainerDep) -> WhipService:
    """The node's WhipService (the container's, over its room manager and media workers)."""
    if c.whip is None:
        raise WhipError(503, "unavailable", "rooms are not available on this node")
    return c.whip


WhipDep = Annotated[WhipService, Depends(get_whip)]
Scene = Annotated[Literal["rtc", "live"], Query(description="Scene of the room if this entry creates it")]
PrivateMapKey = Annotated[str | None, Query(alias="privateMapKey", max_length=4096)]
ConsentToken = Annotated[str | None, Query(alias="consentToken", max_length=4096)]
Authorization = Annotated[str | None, Header()]


async def _body(request: Request, expected: str) -> str:
    if media_type(request.headers.get("content-type")) != expected:
        raise WhipError(
            415,
            "unsupported_media_type",
            f"send the body as Content-Type: {expected}",
            headers={"Accept-Post" if expected == SDP_TYPE else "Accept-Patch": expected},
        )
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WhipError(400, "invalid_sdp", "the body is not UTF-8") from None


def _created(request: Request, c: Created) -> Response:
    # An absolute URL: RFC 9110 allows a relative one, but some encoders only follow absolute ones.
    location = str(request.base_url).rstrip("/") + c.location
    headers = {**CORS_HEADERS, "Location": location, "ETag": c.etag, "Accept-Patch": TRICKLE_TYPE}
    if c.link:
        headers["Link"] = c.link
    return Response(c.answer_sdp, status_code=201, media_type=SDP_TYPE, headers=headers)


def _options(allow: str, accept: dict[str, str]) -> Response:
    return Response(status_code=204, headers={**CORS_HEADERS, "Allow": allow, **accept})


@router.post("/whip/{room}", status_code=201, response_class=Response)
async def whip_publish(
    request: Request,
    room: str,
    whip: WhipDep,
    authorization: Authorization = None,
    scene: Scene = "rtc",
    private_map_key: PrivateMapKey = None,
    consent_token: ConsentToken = None,
) -> Response:
    """Publish one audio and/or video track into a room as the UserSig's user (main stream)."""
    offer = await _body(request, SDP_TYPE)
    token = bearer(authorization)
    opts = EntryOptions(scene, private_map_key, consent_token)
    return _created(request, await whip.publish(room, token, offer, opts))


@router.post("/whep/{room}/{user_id}", status_code=201, response_class=Response)
async def whep_play(
    request: Request,
    room: str,
    user_id: str,
    whip: WhipDep,
    authorization: Authorization = None,
    stream: Annotated[Literal["main", "sub"], Query()] = "main",
    small: Annotated[
        bool, Query(description="small stream; plays the big one until simulcast lands")
    ] = False,
    scene: Scene = "rtc",
    private_map_key: PrivateMapKey = None,
    consent_token: ConsentToken = None,
) -> Response:
    """Play a user's main (or sub) stream to a WHEP client, as the UserSig's user (audience)."""
    offer = await _body(request, SDP_TYPE)
    token = bearer(authorization)
    opts = EntryOptions(scene, private_map_key, consent_token)
    return _created(request, await whip.play(room, user_id, token, offer, opts, stream))


@router.options("/whip/sessions/{resource_id}", include_in_schema=False)
@router.options("/whep/sessions/{resource_id}", include_in_schema=False)
async def session_options() -> Response:
    return _options("PATCH, DELETE, OPTIONS", {"Accept-Patch": TRICKLE_TYPE})


# after the sessions' OPTIONS: /whep/sessions/<id> also matches /whep/{room}/{user_id}
@router.options("/whip/{room}", include_in_schema=False)
@router.options("/whep/{room}/{user_id}", include_in_schema=False)
async def endpoint_options() -> Response:
    return _options("POST, OPTIONS", {"Accept-Post": SDP_TYPE})


def _protocol(request: Request) -> Literal["whip", "whep"]:
    return "whep" if request.url.path.startswith("/whep/") else "whip"


@router.delete("/whip/sessions/{resource_id}")
@router.delete("/whep/sessions/{resource_id}")
async def delete_session(
    request: Request, resource_id: str, whip: WhipDep, authorization: Authorization = None
) -> Response:
    """End the session: the publisher or viewer leaves the room."""
    await whip.delete(resource_id, _protocol(request), bearer(authorization))
    return Response(status_code=200, headers=CORS_HEADERS)


@router.patch("/whip/sessions/{resource_id}")
@router.patch("/whep/sessions/{resource_id}")
async def patch_session(
    request: Request,
    resource_id: str,
    whip: WhipDep,
    authorization: Authorization = None,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Trickle ICE (RFC 8840 fragment): accepted and ignored, 204; an ICE restart is refused (422)."""
    token = bearer(authorization)
    fragment = await _body(request, TRICKLE_TYPE)
    await whip.patch(resource_id, _protocol(request), token, if_match, fragment)
    return Response(status_code=204, headers=CORS_HEADERS)
