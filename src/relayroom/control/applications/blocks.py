"""App-wide user blocks in the database: written by the moderation service (console, cloud API, CLI),
read by the entry check of every node (``UserBlocks``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.storage.db import Database
from relayroom.storage.models import AppUserBlock


async def set_blocked(s: AsyncSession, sdkappid: int, user_id: str, blocked: bool, now: datetime) -> None:
    """Block (idempotent: the first block's time is kept) or unblock a UserId, in the caller's
    transaction."""
    row = await s.get(AppUserBlock, (sdkappid, user_id))
    if blocked and row is None:
        s.add(AppUserBlock(sdkappid=sdkappid, user_id=user_id, blocked_at=now))
        await s.flush()
    elif not blocked and row is not None:
        await s.delete(row)
        await s.flush()


async def blocked_users(s: AsyncSession, sdkappid: int) -> list[str]:
    """The application's blocked UserIds, sorted."""
    q = select(AppUserBlock.user_id).where(AppUserBlock.sdkappid == sdkappid).order_by(AppUserBlock.user_id)
    return list((await s.execute(q)).scalars())


class DbUserBlocks:
    """The room manager's ``UserBlocks``: asked at each entry, so a block from any node or the CLI
    holds at once."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def is_blocked(self, sdkappid: int, user_id: str) -> bool:
        async with self._db.read() as s:
            return await s.get(AppUserBlock, (sdkappid, user_id)) is not None
