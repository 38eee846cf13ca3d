"""Live rooms of an application for the console: members, roles, tracks with live quality; remove a user,
dismiss a room."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.cluster.bus import CommandFailed
from relayroom.cluster.redis import ClusterUnavailable
from relayroom.control.deps import (
    ContainerDep,
    MediaUnavailable,
    ModerationDep,
    PrincipalDep,
    ReadSession,
    SdkAppIdPath,
    ServicesDep,
)
from relayroom.control.errors import InvalidInput, NotFound
from relayroom.control.live.ops import Acting, RoomOps, room_ops, sdkappid_of
from relayroom.control.principal import Principal
from relayroom.control.rooms.errors import RoomError
from relayroom.control.rooms.ids import validate_user_id
from relayroom.control.rooms.moderation import ModerationService
from relayroom.control.services import Services

router = APIRouter(prefix="/api/v1", tags=["live rooms"])
log = logging.getLogger(__name__)


class ClusterBusy(MediaUnavailable):
    """503: the node that hosts the room (or the cluster's shared state) cannot be reached now."""

    code = "cluster_unavailable"


class RemoveUsersIn(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=10)
    reason: str | None = Field(default=None, max_length=200, description="Recorded in the operation log.")


class DismissIn(BaseModel):  # also the body of a block
    reason: str | None = Field(default=None, max_length=200, description="Recorded in the operation log.")


@contextlib.contextmanager
def _cluster_errors() -> Iterator[None]:
    try:
        yield
    except (ClusterUnavailable, CommandFailed) as exc:
        raise ClusterBusy(f"{exc}; retry in a few seconds") from None


def _ops(c: ContainerDep) -> RoomOps:
    """After the caller's rights are checked: a single node without media answers 503 (a cluster node
    reaches the rooms of the others)."""
    ops = room_ops(c)
    if ops.local.rooms is None and not ops.clustered:
        raise MediaUnavailable("this node runs without media workers; no rooms are live here")
    return ops


@dataclass(frozen=True)
class Moderating:
    """An owner acting on one application's live rooms (resolved by :func:`_moderating`)."""

    account_id: str
    ops: RoomOps
    principal: Principal

    def acting(self, reason: str | None) -> Acting:
        return Acting(self.account_id, self.principal.actor, reason, "console")


async def _owner(
    s: AsyncSession, sdkappid: int, c: ContainerDep, principal: Principal, services: Services
) -> Moderating:
    """Owners only: the app must exist and be the caller's, then a node without media answers 503."""
    app = await services.apps.get(s, principal, sdkappid)
    principal.require_owner(app.account_id)
    return Moderating(app.account_id, _ops(c), principal)


async def _moderating(
    sdkappid: SdkAppIdPath, c: ContainerDep, principal: PrincipalDep, services: ServicesDep
) -> Moderating:
    """The request holds no write transaction: the moderation service records the action in one of its
    own after it is done, on the node that does it (the room's owner, which may be another node: a
    transaction held here while it answers would stall this node's writes). App-wide blocks are
    committed before anyone is told."""
    async with services.ctx.db.read() as s:
        return await _owner(s, sdkappid, c, principal, services)


async def _viewing(
    sdkappid: SdkAppIdPath,
    c: ContainerDep,
    principal: PrincipalDep,
    services: ServicesDep,
    session: ReadSession,
) -> RoomOps:
    """Any member of the application's account may look (the app lookup refuses others with 404)."""
    await services.apps.get(session, principal, sdkappid)
    return _ops(c)


ModeratingDep = Annotated[Moderating, Depends(_moderating)]
ViewingDep = Annotated[RoomOps, Depends(_viewing)]


@router.get("/applications/{sdkappid}/rooms")
async def list_live_rooms(sdkappid: SdkAppIdPath, ops: ViewingDep) -> list[dict[str, Any]]:
    """Rooms of the application live on this node (on every node of a cluster), with members, roles,
    published tracks and their live quality (``bitrate``, ``fractionLost``, video
    ``width``/``height``/``frameRate``; ``null`` when the media layer does not know) and each member's
    ``downlink`` (``bitrate``, worst ``fractionLost``, mean ``rttMs``; ``null`` while it receives
    nothing), the ``node`` and media ``worker`` (index) serving each member (one logical room even when
    its audience is spread over workers), and whether the room is end-to-end encrypted (``e2ee``: its
    media is ciphertext to this server, docs/e2ee.md)."""
    with _cluster_errors():
        return await ops.live_rooms(sdkappid)


def _in_app(sdkappid: int, room_key: str) -> None:
    if sdkappid_of(room_key) != sdkappid:
        raise NotFound("no such live room in this application")


@router.post("/applications/{sdkappid}/rooms/{room_key}/remove-users")
async def remove_users(
    sdkappid: SdkAppIdPath, room_key: str, body: RemoveUsersIn, m: ModeratingDep
) -> dict[str, Any]:
    """Remove members (they are told `kicked-out` with reason `banned`, as TRTC's RemoveUser)."""
    _in_app(sdkappid, room_key)
    with _cluster_errors():
        removed = await m.ops.remove_users(room_key, body.user_ids, m.acting(body.reason))
    if removed is None:
        raise NotFound("no such live room in this application")
    return {"removed": removed}


@router.post("/applications/{sdkappid}/rooms/{room_key}/dismiss")
async def dismiss_room(
    sdkappid: SdkAppIdPath, room_key: str, m: ModeratingDep, body: DismissIn | None = None
) -> dict[str, Any]:
    """End the room for everyone (`kicked-out` with reason `room_disband`, as TRTC's DismissRoom)."""
    _in_app(sdkappid, room_key)
    if not m.ops.clustered and not m.ops.local.has(room_key):
        raise NotFound("no such live room in this application")
    with _cluster_errors():
        done = await m.ops.dismiss(room_key, m.acting(body.reason if body is not None else None))
    if not done:
        raise NotFound("no such live room in this application")
    return {"dismissed": True}


def _end_user(user_id: str) -> str:
    try:
        return validate_user_id(user_id)
    except RoomError as exc:
        raise InvalidInput(exc.message) from None


@router.get("/applications/{sdkappid}/blocked-users")
async def list_blocked_users(
    sdkappid: SdkAppIdPath, ops: ViewingDep, moderation: ModerationDep
) -> dict[str, Any]:
    """UserIds blocked application-wide (entry refused with -100208 on every node)."""
    return {"user_ids": await moderation.blocked_users(sdkappid)}


@router.put("/applications/{sdkappid}/blocked-users/{user_id}")
async def block_user(
    sdkappid: SdkAppIdPath,
    user_id: str,
    m: ModeratingDep,
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
    m: ModeratingDep,
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
    if blocked:  # removed here by the moderation service; in a cluster, from every other node's rooms
        with _cluster_errors():
            await m.ops.kick_blocked_elsewhere(sdkappid, user_id)
    return {"user_id": user_id, "blocked": blocked}
