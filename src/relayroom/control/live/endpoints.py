"""Live rooms of an application for the console: members, roles, tracks; remove a user, dismiss a room."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from relayroom.control.deps import PrincipalDep, ReadSession, ServicesDep, WriteSession
from relayroom.control.errors import AppError, NotFound
from relayroom.control.rooms.manager import RoomManager

router = APIRouter(prefix="/api/v1", tags=["live rooms"])


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


def _room_of_app(rooms: RoomManager, sdkappid: int, room_key: str) -> dict[str, Any]:
    info = rooms.room_info(room_key)
    if info is None or info.get("sdkAppId") != sdkappid:
        raise NotFound("no such live room in this application")
    return info


@router.get("/applications/{sdkappid}/rooms")
async def list_live_rooms(
    sdkappid: int, request: Request, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> list[dict[str, Any]]:
    """Rooms of the application live on this node, with members, roles and published tracks."""
    await services.apps.get(session, principal, sdkappid)
    rooms = _rooms(request)
    out = []
    for r in rooms.list_rooms(sdkappid):
        info = rooms.room_info(r["roomKey"])
        if info is not None:
            out.append({**r, "members": info["members"]})
    return out


@router.post("/applications/{sdkappid}/rooms/{room_key}/remove-users")
async def remove_users(
    sdkappid: int,
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
    sdkappid: int,
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
