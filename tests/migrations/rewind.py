"""Undo what later revisions added, so a test can put a database back to an earlier revision."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def undo_0007(conn: AsyncConnection) -> None:
    """Revision 0007: the app-wide user blocks."""
    await conn.execute(text("DROP TABLE app_user_blocks"))


async def undo_0006(conn: AsyncConnection) -> None:
    """Revision 0006 (cluster): the call rooms' node, the outbox rows' delivery claim."""
    await conn.execute(text("DROP INDEX ix_call_rooms_node_open"))
    await conn.execute(text("ALTER TABLE call_rooms DROP COLUMN node_id"))
    await conn.execute(text("ALTER TABLE webhook_deliveries DROP COLUMN claimed_by"))
    await conn.execute(text("ALTER TABLE webhook_deliveries DROP COLUMN lease_until"))
