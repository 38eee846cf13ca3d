"""Live rooms of an application for the console: members, roles, tracks with live quality; remove a user,
dismiss a room."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.cluster.identity import resolve_node_id
from relayroom.config import Settings
from relayroom.control.deps import (
    MediaDep,
    MediaUnavailable,
    ModerationDep,
    OptionalRoomsDep,
    PrincipalDep,
    ReadSession,
    SdkAppIdPath,
    ServicesDep,
    WriteSession,
)
from relayroom.control.errors import InvalidInput, NotFound
from relayroom.control.principal import Principal
from relayroom.control.rooms.errors import RoomError
from relayroom.control.rooms.ids import validate_user_id
from relayroom.control.rooms.manager import RoomManager
from relayroom.control.rooms.moderation import ModerationService
from relayroom.control.services import Services
from relayroom.media.service import MediaService

router = APIRouter(prefix="/api/v1", tags=["live rooms"])
log = logging.getLogger(__name__)


class RemoveUsersIn(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=10)
    reason: str | None = Field(default=None, max_length=200, description="Recorded in the operation log.")


class DismissIn(BaseModel):  # also the body of a block
    reason: str | None = Field(default=None, max_length=200, description="Recorded in the operation log.")


def _rooms(rooms: RoomManager | None) -> RoomManager:
    """After the caller's rights are checked: a node without media answers 503."""
    if rooms is None:
        raise MediaUnavailable("this node runs without media workers; no rooms are live here")
    return rooms


def _room_of_app(rooms: RoomManager, sdkappid: SdkAppIdPath, room_key: str) -> dict[str, Any]:
    info = rooms.room_info(room_key)
    if info is None or info.get("sdkAppId") != sdkappid:
        raise NotFound("no such live room in this application")
    return info


@dataclass(frozen=True)
class Moderating:
    """An owner acting on one application's live rooms (resolved by :func:`_moderating`)."""

    account_id: str
    rooms: RoomManager
    principal: Principal
    session: AsyncSession | None  # None: the moderation service writes in a transaction of its own


async def _owner(
    s: AsyncSession, sdkappid: int, live: RoomManager | None, principal: Principal, services: Services
) -> Moderating:
    """Owners only: the app must exist and be the caller's, then a node without media answers 503."""
    app = await services.apps.get(s, principal, sdkappid)
    principal.require_owner(app.account_id)
    return Moderating(app.account_id, _rooms(live), principal, None)


async def _moderating(
    sdkappid: SdkAppIdPath,
    live: OptionalRoomsDep,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> Moderating:
    """Recorded in the request's transaction."""
    m = await _owner(session, sdkappid, live, principal, services)
    return replace(m, session=session)


async def _blocking(
    sdkappid: SdkAppIdPath, live: OptionalRoomsDep, principal: PrincipalDep, services: ServicesDep
) -> Moderating:
    """App-wide blocks are committed by the moderation service before anyone is told: the request
    holds no write transaction."""
    async with services.ctx.db.read() as s:
        return await _owner(s, sdkappid, live, principal, services)


ModeratingDep = Annotated[Moderating, Depends(_moderating)]
BlockingDep = Annotated[Moderating, Depends(_blocking)]


async def _media_stats(media: MediaService | None, router_id: Any) -> dict[str, Any]:
    """``MediaService.stats`` of one room; {} when the media layer has none (or fails)."""
    if media is None or not isinstance(router_id, str):
        return {}
    try:
        result = await media.stats(router_id)
    except Exception:
        log.debug("media statistics unavailable for a live room", exc_info=True)
        return {}
    return result if isinstance(result, dict) else {}


def _node_name(settings: Settings) -> str:
    """This node's name in the live-rooms API: its node id (docs/cluster.md), as in call history."""
    return resolve_node_id(settings)


def _placement(media: MediaService | None, router_id: Any) -> dict[str, int]:
    """Worker index serving each participant of a room (``MediaService.placement``); {} without media."""
    if media is None or not isinstance(router_id, str):
        return {}
    try:
        result = media.placement(router_id)
    except Exception:
        return {}
    return result if isinstance(result, dict) else {}


def _with_quality(member: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """Add live quality to a member: per published track (uplink as the SFU receives it) and the
    member's downlink (what its subscriber's receiver reports say about the tracks we send it)."""
    mine = stats.get(str(member.get("participantId"))) or {}
    producers = mine.get("producers") or {}
    tracks = []
    for t in member.get("tracks", []):
        ps = producers.get(t.get("producerId")) or {}
        q: dict[str, Any] = {"bitrate": ps.get("bitrate"), "fractionLost": ps.get("fractionLost")}
        if t.get("kind") == "video":
            q.update(width=ps.get("width"), height=ps.get("height"), frameRate=ps.get("frameRate"))
        tracks.append({**t, **q})
    consumers = [c for c in (mine.get("consumers") or {}).values() if isinstance(c, dict)]
    downlink: dict[str, Any] | None = None
    if consumers:
        losses = [c["fractionLost"] for c in consumers if isinstance(c.get("fractionLost"), int | float)]
        rtts = [c["rttMs"] for c in consumers if isinstance(c.get("rttMs"), int | float)]
        downlink = {
            "bitrate": sum(int(c.get("bitrate") or 0) for c in consumers),
            "fractionLost": max(losses) if losses else None,  # the worst received track
            "rttMs": round(sum(rtts) / len(rtts), 1) if rtts else None,
        }
    return {**member, "tracks": tracks, "downlink": downlink}


@router.get("/applications/{sdkappid}/rooms")
async def list_live_rooms(
    sdkappid: SdkAppIdPath,
    live: OptionalRoomsDep,
    media: MediaDep,
    principal: PrincipalDep,
    services: ServicesDep,
    session: ReadSession,
) -> list[dict[str, Any]]:
    """Rooms of the application live on this node, with members, roles, published tracks and their live
    quality (``bitrate``, ``fractionLost``, video ``width``/``height``/``frameRate``; ``null`` when the
    media layer does not know) and each member's ``downlink`` (``bitrate``, worst ``fractionLost``, mean
    ``rttMs``; ``null`` while it receives nothing), the ``node`` and media ``worker`` (index) serving
    each member (one logical room even when its audience is spread over workers), and whether the room
    is end-to-end encrypted (``e2ee``: its media is ciphertext to this server, docs/e2ee.md)."""
    await services.apps.get(session, principal, sdkappid)
    rooms = _rooms(live)
    out = []
    node = _node_name(services.ctx.settings)
    for r in rooms.list_rooms(sdkappid):
        info = rooms.room_info(r["roomKey"])
        if info is not None:
            stats = await _media_stats(media, info.get("routerId"))
            placement = _placement(media, info.get("routerId"))
            members = [
                {**_with_quality(m, stats), "node": node, "worker": placement.get(str(m["participantId"]))}
                for m in info["members"]
            ]
            out.append({**r, "e2ee": bool(info.get("e2ee")), "members": members})
    return out


@router.post("/applications/{sdkappid}/rooms/{room_key}/remove-users")
async def remove_users(
    sdkappid: SdkAppIdPath, room_key: str, body: RemoveUsersIn, m: ModeratingDep, moderation: ModerationDep
) -> dict[str, Any]:
    """Remove members (they are told `kicked-out` with reason `banned`, as TRTC's RemoveUser)."""
    _room_of_app(m.rooms, sdkappid, room_key)
    removed = await moderation.remove_users(
        m.principal,
        m.account_id,
        sdkappid,
        room_key,
        body.user_ids,
        reason=body.reason,
        via="console",
        session=m.session,
    )
    return {"removed": removed}


@router.post("/applications/{sdkappid}/rooms/{room_key}/dismiss")
async def dismiss_room(
    sdkappid: SdkAppIdPath,
    room_key: str,
    m: ModeratingDep,
    moderation: ModerationDep,
    body: DismissIn | None = None,
) -> dict[str, Any]:
    """End the room for everyone (`kicked-out` with reason `room_disband`, as TRTC's DismissRoom)."""
    _room_of_app(m.rooms, sdkappid, room_key)
    reason = body.reason if body is not None else None
    await moderation.dismiss_room(
        m.principal, m.account_id, sdkappid, room_key, reason=reason, via="console", session=m.session
    )
    return {"dismissed": True}


def _end_user(user_id: str) -> str:
    try:
        return validate_user_id(user_id)
    except RoomError as exc:
        raise InvalidInput(exc.message) from None


@router.get("/applications/{sdkappid}/blocked-users")
async def list_blocked_users(
    sdkappid: SdkAppIdPath,
    live: OptionalRoomsDep,
    moderation: ModerationDep,
    principal: PrincipalDep,
    services: ServicesDep,
    session: ReadSession,
) -> dict[str, Any]:
    """UserIds blocked application-wide (entry refused with -100208 on every node)."""
    await services.apps.get(session, principal, sdkappid)
    _rooms(live)
    return {"user_ids": await moderation.blocked_users(sdkappid)}


@router.put("/applications/{sdkappid}/blocked-users/{user_id}")
async def block_user(
    sdkappid: SdkAppIdPath,
    user_id: str,
    m: BlockingDep,
    moderation: ModerationDep,
    body: DismissIn | None = None,
) -> dict[str, Any]:
    """Block a UserId in the whole application (owners only; recorded): a present member is removed
    (``kicked-out``, reason ``banned``) and every entry is refused with -100208 until unblocked."""
    return await _set_blocked(m, moderation, sdkappid, user_id, True, body.reason if body else None)


@router.delete("/applications/{sdkappid}/blocked-users/{user_id}")
async def unblock_user(
    sdkappid: SdkAppIdPath,
    user_id: str,
    m: BlockingDep,
    moderation: ModerationDep,
    reason: Annotated[str | None, Query(max_length=200, description="Recorded in the operation log.")] = None,
) -> dict[str, Any]:
    """Lift an application-wide block (owners only; recorded)."""
    return await _set_blocked(m, moderation, sdkappid, user_id, False, reason)


async def _set_blocked(
    m: Moderating,
    moderation: ModerationService,
    sdkappid: int,
    user_id: str,
    blocked: bool,
    reason: str | None,
) -> dict[str, Any]:
    user_id = _end_user(user_id)
    await moderation.set_user_blocked(
        m.principal, m.account_id, sdkappid, user_id, blocked, reason=reason, via="console"
    )
    return {"user_id": user_id, "blocked": blocked}
