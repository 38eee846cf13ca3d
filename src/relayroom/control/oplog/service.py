"""Appending to and reading the operation log."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.context import ControlContext
from relayroom.control.oplog import chain
from relayroom.control.principal import Principal
from relayroom.storage.models import OplogEntry


def _row(e: OplogEntry) -> chain.ChainRow:
    """The stored entry as the chain sees it: the same-named columns, copied field by field."""
    return chain.ChainRow(**{f.name: getattr(e, f.name) for f in fields(chain.ChainRow)})


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
                key=self.ctx.oplog_key,
                seq=seq,
                ts=ts,
                account_ref=ref,
                action=action,
                result=result,
                commit=commit,
                prev_hash=prev,
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

    def _ref_of(self, account_id: str) -> str:
        return chain.account_ref(self.ctx.pseudonym_secret, account_id)

    async def verify(self, session: AsyncSession) -> chain.ChainReport:
        """The whole chain from genesis, under this deployment's key."""
        rows: list[chain.ChainRow] = []
        result = await session.stream_scalars(select(OplogEntry).order_by(OplogEntry.seq))
        async for e in result:
            rows.append(_row(e))
        return chain.verify_chain(rows, self.ctx.oplog_key, self._ref_of)

    async def verify_since(self, session: AsyncSession, seq: int, prev_hash: str) -> chain.ChainReport:
        """Entries after ``seq`` only, continuing from ``prev_hash`` (the hash a signed checkpoint
        vouches for); cheap enough to run before each automatic checkpoint."""
        rows = [
            _row(e)
            for e in (
                await session.execute(select(OplogEntry).where(OplogEntry.seq > seq).order_by(OplogEntry.seq))
            ).scalars()
        ]
        return chain.verify_chain(
            rows, self.ctx.oplog_key, self._ref_of, start=(seq + 1, prev_hash), check_redactions=False
        )

    async def hashes(self, session: AsyncSession, first: int = 1, last: int | None = None) -> dict[int, str]:
        """seq -> entry_hash for the entries in [first, last]."""
        q = select(OplogEntry.seq, OplogEntry.entry_hash).where(OplogEntry.seq >= first)
        if last is not None:
            q = q.where(OplogEntry.seq <= last)
        return {int(seq): h for seq, h in (await session.execute(q)).all()}

    async def head(self, session: AsyncSession) -> tuple[int, str]:
        last = (
            await session.execute(
                select(OplogEntry.seq, OplogEntry.entry_hash).order_by(OplogEntry.seq.desc()).limit(1)
            )
        ).first()
        return (last[0], last[1]) if last else (0, chain.GENESIS)

    async def checkpoint(self, session: AsyncSession) -> dict[str, Any]:
        """A signed checkpoint of the deployment's whole log (operators: `relayroom oplog checkpoint`),
        with the hashes of the newest entries so that a later comparison names the first change."""
        from relayroom.control.oplog.checkpoints import MAX_HASHES, checkpoint_body

        seq, head = await self.head(session)
        count = (await session.execute(select(func.count()).select_from(OplogEntry))).scalar_one()
        hashes = await self.hashes(session, max(1, seq - MAX_HASHES + 1), seq) if seq else {}
        body = checkpoint_body(seq=seq, head_hash=head, ts=self.ctx.clock.now(), entries=count, hashes=hashes)
        return self.ctx.signer.sign_document(body)

    async def account_view(self, session: AsyncSession, account_id: str) -> tuple[int, int, str]:
        """(this account's entries, seq and hash of its newest): what one account may know of the log."""
        count = (
            await session.execute(
                select(func.count()).select_from(OplogEntry).where(OplogEntry.account_id == account_id)
            )
        ).scalar_one()
        last = (
            await session.execute(
                select(OplogEntry.seq, OplogEntry.entry_hash)
                .where(OplogEntry.account_id == account_id)
                .order_by(OplogEntry.seq.desc())
                .limit(1)
            )
        ).first()
        return int(count), (int(last[0]) if last else 0), (str(last[1]) if last else chain.GENESIS)

    async def verify_for_account(self, session: AsyncSession, account_id: str) -> dict[str, Any]:
        """The chain's verdict as one account may see it: whether the log verifies, and where it breaks
        only when the break is one of this account's entries; nothing about other accounts' entries
        (not their number, not where they are)."""
        report = await self.verify(session)
        count, seq, head = await self.account_view(session, account_id)
        out: dict[str, Any] = {
            "ok": report.ok,
            "entries": count,
            "head_seq": seq,
            "head_hash": head,
            "broken_at": None,
            "problem": None,
        }
        if not report.ok:
            own = None
            if report.broken_at is not None:
                own = await session.get(OplogEntry, report.broken_at)
            if own is not None and own.account_id == account_id:
                out.update(broken_at=report.broken_at, problem=report.problem)
            else:
                out["problem"] = (
                    "the deployment's operation log does not verify; the break is not in this account's "
                    "entries, and the operator is alerted"
                )
        return out

    async def account_checkpoint(self, session: AsyncSession, account_id: str) -> dict[str, Any]:
        """A signed (seq, hash) of this account's newest entry, to keep: `relayroom checkpoint verify`
        checks it offline, `relayroom oplog verify --checkpoint` against the log."""
        from relayroom.control.oplog.checkpoints import checkpoint_body

        count, seq, head = await self.account_view(session, account_id)
        body = checkpoint_body(
            seq=seq,
            head_hash=head,
            ts=self.ctx.clock.now(),
            scope="account",
            entries=count,
            extra={"account_id": account_id},
        )
        return self.ctx.signer.sign_document(body)
