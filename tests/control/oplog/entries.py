"""Reading the operation log's entries in tests: action, actor and content of each."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from relayroom.control.services import Services
from relayroom.storage.models import OplogEntry


async def entries(services: Services, action: str) -> list[dict[str, Any]]:
    """The content of every entry of ``action``, oldest first, with its ``seq`` and ``result``."""
    async with services.ctx.db.read() as s:
        rows = (
            (await s.execute(select(OplogEntry).where(OplogEntry.action == action).order_by(OplogEntry.seq)))
            .scalars()
            .all()
        )
    return [{**json.loads(r.payload or "{}"), "seq": r.seq, "result": r.result} for r in rows]
