"""The chain at start: a legacy chain is keyed (its old checkpoints still match), a tampered one is
found and reported loudly (log, /metrics, console), and no account learns of another's entries."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.config import Settings
from relayroom.control.oplog import chain
from relayroom.control.oplog.checkpoints import CHECKPOINT_DIR
from relayroom.control.oplog.integrity import OplogIntegrity
from relayroom.storage.models import OplogEntry
from tests.control.helpers import Running, make_account, running
from tests.control.oplog.tamper import edit, rechain

pytestmark = pytest.mark.timeout(240)


async def _hashes(s: AsyncSession) -> dict[int, str]:
    return {q: h for q, h in (await s.execute(select(OplogEntry.seq, OplogEntry.entry_hash))).all()}


def _integrity(rt: Running) -> OplogIntegrity:
    found: OplogIntegrity = rt.container.integrity
    return found


async def _metric(rt: Running) -> str:
    text = (await rt.client.get("/metrics")).text
    return next(line for line in text.splitlines() if line.startswith("relayroom_oplog_chain_ok "))


async def test_a_chain_tampered_with_while_the_server_was_down_is_reported_at_start(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(settings) as rt:
        admin = await rt.admin()
        first = rt.first
        assert _integrity(rt).status.ok is True
        assert (await _metric(rt)).endswith(" 1.0")
        url = f"/api/v1/accounts/{first.account_id}/applications"
        r = await rt.client.post(url, headers=admin, json={"name": "x"})
        assert r.status_code == 201
        target = 2
    # down: someone edits an entry and recomputes the chain (without the key)
    from relayroom.storage.db import Database

    db = Database(settings.effective_database_url)
    try:
        await edit(db, target, action="app.enable")
        await rechain(db, None, from_seq=target)
    finally:
        await db.dispose()
    with caplog.at_level(logging.CRITICAL):
        async with running(settings, first=first) as rt:
            status = _integrity(rt).status
            assert status.ok is False and status.broken_at == target
            loud = [r for r in caplog.records if r.levelno == logging.CRITICAL]
            assert any("DOES NOT VERIFY" in r.getMessage() for r in loud)
            assert (await _metric(rt)).endswith(" 0.0")
            admin = await rt.admin()
            shown = (await rt.client.get("/api/v1/oplog/status", headers=admin)).json()
            assert shown["ok"] is False and shown["broken_at"] == target and shown["problem"]
            assert rt.app.ready  # the server still serves: the operator needs the console


async def test_only_deployment_admins_see_the_whole_chains_state(settings: Settings) -> None:
    async with running(settings) as rt:
        admin = await rt.admin()
        await make_account(rt, admin, "Other", "other-owner", "other-password")
        other = await rt.login("other-owner", "other-password")
        assert (await rt.client.get("/api/v1/oplog/status", headers=other)).status_code == 403
        assert (await rt.client.get("/api/v1/oplog/status", headers=admin)).json()["ok"] is True


async def test_one_accounts_verify_never_tells_of_another_accounts_entries(settings: Settings) -> None:
    async with running(settings) as rt:
        admin = await rt.admin()
        other = await make_account(rt, admin, "Other", "other-owner", "other-password")
        mine = await rt.login("other-owner", "other-password")
        url = f"/api/v1/accounts/{other['id']}/applications"
        r = await rt.client.post(url, headers=mine, json={"name": "o"})
        assert r.status_code == 201
        acc = rt.first.account_id
        async with rt.services.ctx.db.read() as s:
            q = select(OplogEntry.seq).where(OplogEntry.account_id == other["id"])
            theirs = list((await s.execute(q)).scalars())
            own_count = len(
                (await s.execute(select(OplogEntry.seq).where(OplogEntry.account_id == acc))).scalars().all()
            )
        before = (await rt.client.get(f"/api/v1/accounts/{acc}/oplog/verify", headers=admin)).json()
        assert before["ok"] is True and before["entries"] == own_count  # its own count, not the log's
        await edit(rt.services.ctx.db, theirs[-1], result="error")  # break the other account's entry
        v = (await rt.client.get(f"/api/v1/accounts/{acc}/oplog/verify", headers=admin)).json()
        assert v["ok"] is False and v["broken_at"] is None  # the log is broken, but not where
        assert v["entries"] == own_count and v["head_seq"] == before["head_seq"]
        assert theirs[-1] not in [x for x in v.values() if isinstance(x, int)]
        # the other account is told where, as it is its own entry
        w = (await rt.client.get(f"/api/v1/accounts/{other['id']}/oplog/verify", headers=mine)).json()
        assert w["ok"] is False and w["broken_at"] == theirs[-1]
        cp = (await rt.client.get(f"/api/v1/accounts/{acc}/oplog/checkpoint", headers=admin)).json()
        assert cp["scope"] == "account" and cp["seq"] == before["head_seq"] and cp["entries"] == own_count


async def test_a_legacy_chain_is_keyed_at_start_and_its_old_checkpoints_still_match(
    settings: Settings,
) -> None:
    async with running(settings) as rt:
        await rt.admin()
        first = rt.first
    # make it a chain from before keying: unkeyed hashes, no checkpoints written by a keyed server
    from relayroom.storage.db import Database

    db = Database(settings.effective_database_url)
    try:
        await rechain(db, None)
        async with db.read() as s:
            legacy = await _hashes(s)
    finally:
        await db.dispose()
    for p in (settings.data_dir / CHECKPOINT_DIR).glob("*.json"):
        p.unlink()
    old_head = max(legacy)
    async with running(settings, first=first) as rt:
        assert _integrity(rt).status.ok is True
        async with rt.services.ctx.db.read() as s:
            marker = (
                await s.execute(select(OplogEntry).where(OplogEntry.action == chain.KEYED_ACTION))
            ).scalar_one()
            report = await rt.services.oplog.verify(s)
            now = await rt.services.oplog.hashes(s)
        assert marker.seq == old_head + 1 and report.ok and report.legacy_entries == old_head
        assert all(now[q] == h for q, h in legacy.items())  # old hashes kept: old checkpoints still match
        assert marker.payload is not None and json.loads(marker.payload)["legacy_head"] == legacy[old_head]
    # the keyed marker now covers the legacy prefix: rewriting it is found
    db = Database(settings.effective_database_url)
    try:
        await edit(db, 1, result="error")
        await rechain(db, None, from_seq=1)  # the legacy prefix relinked, the marker cannot be
        async with db.read() as s:
            hashes = await _hashes(s)
            assert hashes[1] != legacy[1]
    finally:
        await db.dispose()
    async with running(settings, first=first) as rt:
        status = _integrity(rt).status
        assert status.ok is False and status.broken_at is not None and status.broken_at <= old_head + 1


async def test_a_chain_rewritten_unkeyed_is_not_keyed_again_where_it_was_keyed_before(
    settings: Settings, tmp_path: Path
) -> None:
    """Rewriting the whole log without the key and deleting the marker must not look like a chain from
    before keying: this node's checkpoints show it was keyed."""
    async with running(settings) as rt:
        await rt.admin()
        first = rt.first
    assert list((settings.data_dir / CHECKPOINT_DIR).glob("*.json"))  # the shutdown's checkpoint
    from relayroom.storage.db import Database

    db = Database(settings.effective_database_url)
    try:
        await edit(db, 2, result="error")
        await rechain(db, None)
    finally:
        await db.dispose()
    async with running(settings, first=first) as rt:
        status = _integrity(rt).status
        assert status.ok is False and status.broken_at == 1  # entry 1's hash is not what the key gave
        async with rt.services.ctx.db.read() as s:
            markers = (
                await s.execute(select(OplogEntry).where(OplogEntry.action == chain.KEYED_ACTION))
            ).scalars().all()
        assert markers == []


async def test_a_truncated_log_is_named_at_its_first_missing_entry_at_start(settings: Settings) -> None:
    async with running(settings) as rt:
        admin = await rt.admin()
        for name in ("a", "b"):
            await rt.client.post(
                f"/api/v1/accounts/{rt.first.account_id}/applications", headers=admin, json={"name": name}
            )
        async with rt.services.ctx.db.read() as s:
            head, _ = await rt.services.oplog.head(s)
        first = rt.first
    # the shutdown checkpoint saw head+1 (its own entries included); cut the last three entries
    from relayroom.storage.db import Database

    db = Database(settings.effective_database_url)
    try:
        async with db.write() as s:
            last = (await s.execute(select(OplogEntry.seq).order_by(OplogEntry.seq.desc()))).scalars().first()
            assert last is not None
            await s.execute(delete(OplogEntry).where(OplogEntry.seq > last - 3))
    finally:
        await db.dispose()
    async with running(settings, first=first) as rt:
        status = _integrity(rt).status
        assert status.ok is False and status.broken_at == last - 2 and "truncated" in (status.problem or "")
        assert head >= 1
