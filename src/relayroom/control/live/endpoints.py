"""Live rooms of an application for the console: members, roles, tracks with live quality; remove a user,
dismiss a room."""

from __future__ import annotations

import logging
import socket
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from relayroom.control.deps import PrincipalDep, ReadSession, SdkAppIdPath, ServicesDep, WriteSession
from relayroom.control.errors import AppError, NotFound
from relayroom.control.rooms.manager import RoomManager

router = APIRouter(prefix="/api/v1", tags=["live rooms"])
log = logging.getLogger(__name__)


class MediaUnavailable(AppError):
    status_code = 503
    code = "media_unavailable"


class RemoveUsersIn(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=10)


def _rooms(request: Request) -> RoomManager:
    rooms: RoomManager | None = getattr(request.app.state, "rooms", None)
    if rooms is None:
        raise MediaUnavailable("this node runs without media workers; no rooms are live here")
    return rooms


def _room_of_app(rooms: RoomManager, sdkappid: SdkAppIdPath, room_key: str) -> dict[str, Any]:
    info = rooms.room_info(room_key)
    if info is None or info.get("sdkAppId") != sdkappid:
        raise NotFound("no such live room in this application")
    return info


async def _media_stats(request: Request, router_id: Any) -> dict[str, Any]:
    """``MediaService.stats`` of one room; {} when the media layer has none (or fails)."""
    stats = getattr(getattr(request.app.state, "media", None), "stats", None)
    if stats is None or not isinstance(router_id, str):
        return {}
    try:
        result = await stats(router_id)
    except Exception:
        log.debug("media statistics unavailable for a live room", exc_info=True)
        return {}
    return result if isinstance(result, dict) else {}


def _node_name(request: Request) -> str:
    """This node's name in the live-rooms API (the cluster's node id once configured, else the host)."""
    settings = getattr(request.app.state, "settings", None)
    node = getattr(settings, "node_id", None)
    return str(node) if node else socket.gethostname()


def _placement(request: Request, router_id: Any) -> dict[str, int]:
    """Worker index serving each participant of a room (``MediaService.placement``); {} without media."""
    placement = getattr(getattr(request.app.state, "media", None), "placement", None)
    if placement is None or not isinstance(router_id, str):
        return {}
    try:
        result = placement(router_id)
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
    request: Request,
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
    rooms = _rooms(request)
    out = []
    for r in rooms.list_rooms(sdkappid):
        info = rooms.room_info(r["roomKey"])
        if info is not None:
            stats = await _media_stats(request, info.get("routerId"))
            placement = _placement(request, info.get("routerId"))
            node = _node_name(request)
            members = [
                {**_with_quality(m, stats), "node": node, "worker": placement.get(str(m["participantId"]))}
                for m in info["members"]
            ]
            out.append({**r, "e2ee": bool(info.get("e2ee")), "members": members})
    return out


@router.post("/applications/{sdkappid}/rooms/{room_key}/remove-users")
async def remove_users(
    sdkappid: SdkAppIdPath,
    room_key: str,
    body: RemoveUsersIn,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> dict[str, Any]:
    """Remove members (they are told `kicked-out` with reason `banned`, as TRTC's RemoveUser)."""
    app = await services.apps.get(session, principal, sdkappid)
    principal.require_owner(app.account_id)
    rooms = _rooms(request)
    info = _room_of_app(rooms, sdkappid, room_key)
    removed = await rooms.remove_users(room_key, body.user_ids)
    await services.oplog.append(
        session,
        principal=principal,
        action="room.remove_users",
        account_id=app.account_id,
        obj={"type": "application", "id": sdkappid},
        after={"room": info["roomId"], "removed": removed},
    )
    return {"removed": removed}


@router.post("/applications/{sdkappid}/rooms/{room_key}/dismiss")
async def dismiss_room(
    sdkappid: SdkAppIdPath,
    room_key: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> dict[str, Any]:
    """End the room for everyone (`kicked-out` with reason `room_disband`, as TRTC's DismissRoom)."""
    app = await services.apps.get(session, principal, sdkappid)
    principal.require_owner(app.account_id)
    rooms = _rooms(request)
    info = _room_of_app(rooms, sdkappid, room_key)
    await rooms.dismiss_room(room_key)
    await services.oplog.append(
        session,
        principal=principal,
        action="room.dismiss",
        account_id=app.account_id,
        obj={"type": "application", "id": sdkappid},
        after={"room": info["roomId"]},
    )
    return {"dismissed": True}
