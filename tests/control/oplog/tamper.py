"""What someone with write access to the database does to the operation log, for the tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from relayroom.control.oplog import chain
from relayroom.storage.db import Database
from relayroom.storage.models import OplogEntry


async def edit(db: Database, seq: int, **values: Any) -> None:
    async with db.write() as s:
        await s.execute(update(OplogEntry).where(OplogEntry.seq == seq).values(**values))


async def rechain(db: Database, key: bytes | None, from_seq: int = 1) -> None:
    """Recompute every entry's hash from ``from_seq`` on, so the chain links up again: unkeyed
    (``key=None``, what the hashes were before keying) or under some key."""
    async with db.write() as s:
        rows = list((await s.execute(select(OplogEntry).order_by(OplogEntry.seq))).scalars())
        prev = chain.GENESIS
        for e in rows:
            if e.seq >= from_seq:
                e.prev_hash = prev
                e.entry_hash = chain.entry_hash(
                    key=key,
                    seq=e.seq,
                    ts=e.ts,
                    account_ref=e.account_ref,
                    action=e.action,
                    result=e.result,
                    commit=e.payload_commit,
                    prev_hash=prev,
                )
            prev = e.entry_hash
