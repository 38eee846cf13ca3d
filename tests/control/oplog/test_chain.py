"""The keyed chain: no edit of any field of any entry can be hidden by recomputing the chain without
the deployment's key, and an entry cannot change accounts."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from relayroom.config import Settings
from relayroom.control.oplog import chain
from relayroom.storage.models import OplogEntry
from tests.control.helpers import Running, running
from tests.control.oplog.tamper import edit, rechain

pytestmark = pytest.mark.timeout(180)


async def _populate(rt: Running) -> None:
    h = await rt.admin()
    acc = rt.first.account_id
    for name in ("A", "B", "C"):
        r = await rt.client.post(f"/api/v1/accounts/{acc}/applications", headers=h, json={"name": name})
        assert r.status_code == 201


def _edits(row: OplogEntry) -> dict[str, dict[str, Any]]:
    """One edit per field the chain covers (manifest and content)."""
    return {
        "ts": {"ts": row.ts + timedelta(seconds=1)},
        "account_ref": {"account_ref": "0" * 32},
        "action": {"action": "app.enable"},
        "result": {"result": "error"},
        "payload_commit": {"payload_commit": "f" * 64},
        "payload": {"payload": (row.payload or "{}").replace("user:", "user:x")},
    }


@pytest.mark.parametrize("forger_key", [None, "another key"], ids=["unkeyed", "wrong-key"])
async def test_an_edit_of_any_field_hidden_by_recomputing_the_chain_is_named(
    settings: Settings, forger_key: str | None
) -> None:
    async with running(settings) as rt:
        await _populate(rt)
        db = rt.services.ctx.db
        target = 3
        async with db.read() as s:
            row = await s.get(OplogEntry, target)
            assert row is not None
            edits = _edits(row)
            original = {field: getattr(row, field) for field in edits}
        key = None if forger_key is None else forger_key.encode()
        for field, values in edits.items():
            await edit(db, target, **values)
            await rechain(db, key, from_seq=target)  # the chain links up again, hashes recomputed
            async with db.read() as s:
                report = await rt.services.oplog.verify(s)
            assert not report.ok and report.broken_at == target, (field, report)
            await edit(db, target, **original)
            await rechain(db, rt.services.ctx.oplog_key, from_seq=target)  # what only the server can do
            async with db.read() as s:
                assert (await rt.services.oplog.verify(s)).ok, field


async def test_an_entry_moved_to_another_account_or_out_of_its_account_is_named(settings: Settings) -> None:
    async with running(settings) as rt:
        await _populate(rt)
        db = rt.services.ctx.db
        async with db.read() as s:
            seq = (
                await s.execute(select(OplogEntry.seq).where(OplogEntry.account_id == rt.first.account_id))
            ).scalars().first()
        assert seq is not None
        for account_id in ("someone-else", None):
            await edit(db, seq, account_id=account_id)
            async with db.read() as s:
                report = await rt.services.oplog.verify(s)
            assert not report.ok and report.broken_at == seq and "account" in (report.problem or "")
        await edit(db, seq, account_id=rt.first.account_id)


def test_the_chain_key_comes_from_the_master_key_and_is_no_plain_hash() -> None:
    master = os.urandom(32)
    key = chain.derive_chain_key(master)
    assert key == chain.derive_chain_key(master) and key != chain.derive_chain_key(os.urandom(32))
    assert key != master
