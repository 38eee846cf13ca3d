"""Moderation of live rooms, from any path (console API, cloud API, CLI): remove members, dismiss a
room, force a member's media off (TRTC's SetUserBlocked), block a UserId application-wide.

Every action is recorded in the tamper-evident operation log with the actor, the target and a reason;
an end user is named by a pseudonymous reference (a keyed hash of application and UserId,
control/privacy/refs.py), never by their UserId. The record is written after the action, in the
caller's transaction when it gives one (console endpoints), else in a transaction of its own (the
cloud API), so the write lock is not held while members are told. An app-wide block is kept in the
database (every node's entry check and the CLI see it) and is always committed before anyone is told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.applications import blocks
from relayroom.control.context import ControlContext
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import Principal
from relayroom.control.privacy.refs import subject_ref
from relayroom.control.rooms.manager import RoomManager

Via = Literal["console", "cloud-api", "cli"]
MAX_REASON = 200


class ModerationService:
    def __init__(self, ctx: ControlContext, oplog: OplogService, rooms: RoomManager | None) -> None:
        self.ctx = ctx
        self.oplog = oplog
        self.rooms = rooms

    def target(self, sdkappid: int, user_id: str) -> dict[str, str]:
        """How the log names an end user: a pseudonymous reference, stable per application."""
        return {"type": "end_user", "ref": subject_ref(self.ctx.pseudonym_secret, sdkappid, user_id)}

    @asynccontextmanager
    async def _session(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        if session is not None:
            yield session
        else:
            async with self.ctx.db.write() as own:
                yield own

    async def _record(
        self,
        session: AsyncSession | None,
        actor: Principal,
        action: str,
        account_id: str,
        sdkappid: int,
        details: dict[str, Any],
        reason: str | None,
        via: Via,
        result: str = "ok",
    ) -> None:
        async with self._session(session) as s:
            await self.oplog.append(
                s,
                principal=actor,
                action=action,
                account_id=account_id,
                obj={"type": "application", "id": sdkappid},
                after={**details, "reason": (reason or "")[:MAX_REASON], "via": via},
                result=result,
            )

    def _room_id(self, room_key: str) -> int | str | None:
        info = self.rooms.room_info(room_key) if self.rooms is not None else None
        return info.get("roomId") if info is not None else None

    async def dismiss_room(
        self,
        actor: Principal,
        account_id: str,
        sdkappid: int,
        room_key: str,
        *,
        reason: str | None,
        via: Via,
        session: AsyncSession | None = None,
    ) -> bool:
        """End the room for everyone; False (recorded as not found) when no such room is live."""
        room_id = self._room_id(room_key)
        done = self.rooms is not None and await self.rooms.dismiss_room(room_key)
        await self._record(
            session,
            actor,
            "room.dismiss",
            account_id,
            sdkappid,
            {"room": room_id if room_id is not None else _public(room_key)},
            reason,
            via,
            "ok" if done else "not_found",
        )
        return done

    async def remove_users(
        self,
        actor: Principal,
        account_id: str,
        sdkappid: int,
        room_key: str,
        user_ids: Sequence[str],
        *,
        reason: str | None,
        via: Via,
        session: AsyncSession | None = None,
    ) -> list[str]:
        """Remove members (told ``kicked-out``/``banned``); returns the UserIds that were present."""
        room_id = self._room_id(room_key)
        removed = await self.rooms.remove_users(room_key, user_ids) if self.rooms is not None else []
        await self._record(
            session,
            actor,
            "room.remove_users",
            account_id,
            sdkappid,
            {
                "room": room_id if room_id is not None else _public(room_key),
                "targets": [self.target(sdkappid, u) for u in removed],
            },
            reason,
            via,
        )
        return removed

    async def set_media_blocked(
        self,
        actor: Principal,
        account_id: str,
        sdkappid: int,
        room_key: str,
        user_id: str,
        *,
        audio: bool,
        video: bool,
        reason: str | None,
        via: Via,
        session: AsyncSession | None = None,
    ) -> None:
        """Force a member's audio and/or video off (their own unmute is refused) or allow it again."""
        if self.rooms is not None:
            await self.rooms.set_media_blocked(room_key, user_id, audio=audio, video=video)
        await self._record(
            session,
            actor,
            "room.user.media_block",
            account_id,
            sdkappid,
            {
                "room": self._room_id(room_key) or _public(room_key),
                "target": self.target(sdkappid, user_id),
                "audio_blocked": audio,
                "video_blocked": video,
            },
            reason,
            via,
        )

    async def set_user_blocked(
        self,
        actor: Principal,
        account_id: str,
        sdkappid: int,
        user_id: str,
        blocked: bool,
        *,
        reason: str | None,
        via: Via,
    ) -> None:
        """Block a UserId application-wide (entry is refused with -100208 on every node; a present
        member is removed) or unblock it. The block and its record are committed before a present
        member is told, so the member cannot re-enter in between."""
        async with self.ctx.db.write() as s:
            await blocks.set_blocked(s, sdkappid, user_id, blocked, self.ctx.clock.now())
            await self._record(
                s,
                actor,
                "app.user.block" if blocked else "app.user.unblock",
                account_id,
                sdkappid,
                {"target": self.target(sdkappid, user_id)},
                reason,
                via,
            )
        if self.rooms is not None:
            await self.rooms.set_user_blocked(sdkappid, user_id, blocked)

    async def blocked_users(self, sdkappid: int) -> list[str]:
        async with self.ctx.db.read() as s:
            return await blocks.blocked_users(s, sdkappid)


def _public(room_key: str) -> str:
    """The room's id as its owner knows it, from a room key (``<sdkappid>:n:<id>`` / ``:s:<id>``)."""
    return room_key.split(":", 2)[-1]
