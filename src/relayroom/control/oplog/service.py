"""Appending to and reading the operation log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.context import ControlContext
from relayroom.control.oplog import chain
from relayroom.control.principal import Principal
from relayroom.storage.models import OplogEntry


def _row(e: OplogEntry) -> chain.ChainRow:
    return chain.ChainRow(
        seq=e.seq,
        ts=e.ts,
        account_ref=e.account_ref,
        action=e.action,
        result=e.result,
        payload=e.payload,
        salt=e.salt,
        payload_commit=e.payload_commit,
        prev_hash=e.prev_hash,
        entry_hash=e.entry_hash,
    )


class OplogService:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    async def append(
        self,
        session: AsyncSession,
        *,
        principal: Principal,
        action: str,
        account_id: str | None,
        obj: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        result: str = "ok",
        extra: dict[str, Any] | None = None,
    ) -> OplogEntry:
        """Append in the caller's transaction, so the change and its record commit together.

        Only non-secret fields may be passed in before/after; callers never put keys here.
        """
        if self.ctx.db.dialect == "postgresql":
            # Several control planes may share one PostgreSQL: serialise appends across nodes.
            await session.execute(text("SELECT pg_advisory_xact_lock(7301)"))
        last = (
            await session.execute(
                select(OplogEntry.seq, OplogEntry.entry_hash).order_by(OplogEntry.seq.desc()).limit(1)
            )
        ).first()
        seq = (last[0] + 1) if last else 1
        prev = last[1] if last else chain.GENESIS
        ts = self.ctx.clock.now()
        content: dict[str, Any] = {"actor": principal.actor, "object": obj or {}}
        if before is not None:
            content["before"] = before
        if after is not None:
            content["after"] = after
        if extra:
            content.update(extra)
        payload = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        salt = chain.new_salt()
        commit = chain.payload_commit(salt, payload)
        ref = chain.account_ref(self.ctx.pseudonym_secret, account_id)
        entry = OplogEntry(
            seq=seq,
            ts=ts,
            account_id=account_id,
            account_ref=ref,
            action=action,
            result=result,
            payload=payload,
            salt=salt,
            payload_commit=commit,
            prev_hash=prev,
            entry_hash=chain.entry_hash(
                seq=seq, ts=ts, account_ref=ref, action=action, result=result, commit=commit, prev_hash=prev
            ),
        )
        session.add(entry)
        await session.flush()
        return entry

    async def list_for_account(
        self,
        session: AsyncSession,
        account_id: str,
        *,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[OplogEntry]:
        q = select(OplogEntry).where(OplogEntry.account_id == account_id)
        # Filters are literal text: autoescape keeps a `%` or `_` in them from matching anything.
        if action:
            q = q.where(OplogEntry.action.startswith(action, autoescape=True))
        if since:
            q = q.where(OplogEntry.ts >= since)
        if until:
            q = q.where(OplogEntry.ts < until)
        if before_seq:
            q = q.where(OplogEntry.seq < before_seq)
        if actor:
            # actor lives in the (purgeable) content; a LIKE on canonical JSON is exact enough here
            q = q.where(OplogEntry.payload.contains(f'"actor":{json.dumps(actor)}', autoescape=True))
        q = q.order_by(OplogEntry.seq.desc()).limit(limit)
        return list((await session.execute(q)).scalars())

    async def verify(self, session: AsyncSession) -> chain.ChainReport:
        rows: list[chain.ChainRow] = []
        result = await session.stream_scalars(select(OplogEntry).order_by(OplogEntry.seq))
        async for e in result:
            rows.append(_row(e))
        return chain.verify_chain(rows)

    async def head(self, session: AsyncSession) -> tuple[int, str]:
        last = (
            await session.execute(
                select(OplogEntry.seq, OplogEntry.entry_hash).order_by(OplogEntry.seq.desc()).limit(1)
            )
        ).first()
        return (last[0], last[1]) if last else (0, chain.GENESIS)

    async def checkpoint(self, session: AsyncSession) -> dict[str, Any]:
        """A signed (seq, head) the customer keeps: later truncation or rewrite is then provable."""
        seq, head = await self.head(session)
        count = (await session.execute(select(func.count()).select_from(OplogEntry))).scalar_one()
        return self.ctx.signer.sign_document(
            {
                "type": "relayroom.oplog.checkpoint",
                "seq": seq,
                "head_hash": head,
                "entries": count,
                "ts": self.ctx.clock.now().isoformat(),
            }
        )


def check_checkpoint(
    report: chain.ChainReport, rows_hashes: dict[int, str], checkpoint: dict[str, Any]
) -> str | None:
    """Compare a held checkpoint with the current chain; return a problem or None."""
    seq = int(checkpoint["seq"])
    if seq > report.entries:
        return f"the log was truncated: checkpoint names entry {seq}, the log has {report.entries}"
    if seq and rows_hashes.get(seq) != checkpoint["head_hash"]:
        return f"entry {seq} differs from the checkpoint (the log was rewritten)"
    return None
