"""Signed checkpoints: written automatically (every N entries, every interval, at start and shutdown,
to the data dir and a webhook), and compared entry by entry so that a difference names its first entry."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request

from relayroom.clock import FrozenClock
from relayroom.config import Settings
from relayroom.control.oplog.chain import ChainReport
from relayroom.control.oplog.checkpoints import CHECKPOINT_DIR, checkpoint_body, compare, compare_all
from relayroom.control.oplog.integrity import OplogIntegrity
from relayroom.crypto.signing import verify_document
from tests.control.helpers import Running, running
from tests.control.oplog.tamper import edit, rechain
from tests.serving import served

pytestmark = pytest.mark.timeout(180)

OK = ChainReport(True, 10, "h10")


def hashes(n: int, changed_from: int | None = None) -> dict[int, str]:
    changed = changed_from if changed_from is not None else n + 1
    return {i: (f"x{i}" if i >= changed else f"h{i}") for i in range(1, n + 1)}


def cp(seq: int, first: int | None = None) -> dict[str, Any]:
    held = {i: f"h{i}" for i in range(first, seq + 1)} if first is not None else None
    doc: dict[str, Any] = checkpoint_body(
        seq=seq, head_hash=f"h{seq}", ts=datetime(2026, 1, 1, tzinfo=UTC), hashes=held
    )
    return doc


def test_an_unchanged_log_matches_its_checkpoints() -> None:
    assert compare(OK, hashes(10), cp(10, 1)) is None
    assert compare(OK, hashes(12), cp(10)) is None  # entries after the checkpoint are no difference


def test_a_rewrite_is_named_at_its_first_entry_when_the_checkpoint_holds_the_hashes() -> None:
    d = compare(OK, hashes(10, changed_from=4), cp(10, 1))
    assert d is not None and d.first_differing == 4 and d.exact and "entry 4" in d.message
    # a checkpoint without hashes only knows its head: "at or before"
    d = compare(OK, hashes(10, changed_from=4), cp(10, 8))
    assert d is not None and d.first_differing == 8 and not d.exact
    assert "entry 8 or an earlier one" in d.message
    # several checkpoints narrow it down to the entry
    d = compare_all(OK, hashes(10, changed_from=4), [cp(3, 1), cp(6, 4), cp(10, 7)])
    assert d is not None and d.first_differing == 4 and d.exact


def test_a_truncation_is_named_at_the_first_missing_entry_not_as_an_edit() -> None:
    d = compare(ChainReport(True, 7, "h7"), hashes(7), cp(10, 1))
    assert d is not None and d.first_differing == 8 and "truncated" in d.message


def test_an_edit_the_chain_names_is_reported_as_that_entry_not_as_a_truncation() -> None:
    broken = ChainReport(False, 4, "h4", 5, "entry hash does not match its manifest")
    d = compare(broken, hashes(10), cp(10, 1))
    assert d is not None and d.first_differing == 5 and "truncated" not in d.message
    assert "entry hash does not match" in d.message


def _files(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / CHECKPOINT_DIR).glob("*.json"))


def _integrity(rt: Running) -> OplogIntegrity:
    found: OplogIntegrity = rt.container.integrity
    return found


async def _apps(rt: Running, n: int) -> None:
    h = await rt.admin()
    for i in range(n):
        r = await rt.client.post(
            f"/api/v1/accounts/{rt.first.account_id}/applications", headers=h, json={"name": f"app{i}"}
        )
        assert r.status_code == 201


@pytest.fixture
def frequent(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        media={"enabled": False},
        max_apps_per_account=50,
        oplog={"checkpoint_every_entries": 3, "checkpoint_interval_s": 3600, "checkpoint_poll_s": 3600},
    )


async def test_checkpoints_are_written_every_n_entries_and_every_interval_as_private_signed_files(
    frequent: Settings,
) -> None:
    clock = FrozenClock(datetime(2026, 12, 1, tzinfo=UTC))
    async with running(frequent, clock=clock) as rt:
        writer = _integrity(rt).writer
        assert _files(frequent) == []  # a new deployment starts with an empty log: nothing to vouch for
        assert await writer.write_if_due() is not None  # first start's entries: a first checkpoint
        await rt.admin()  # one entry (user.login): not yet due
        assert await writer.write_if_due() is None
        await _apps(rt, 2)  # three entries since: due
        assert await writer.write_if_due() is not None
        assert await writer.write_if_due() is None
        await rt.admin()
        clock.advance(timedelta(seconds=3601))  # an hour later, one new entry: due
        assert await writer.write_if_due() is not None
        clock.advance(timedelta(seconds=7200))  # nothing new: nothing to vouch for
        assert await writer.write_if_due() is None
        files = _files(frequent)
        assert len(files) == 3
        public = rt.services.ctx.signer.public_key_b64
        docs = [json.loads(p.read_text()) for p in files]
        for path, doc in zip(files, docs, strict=True):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert verify_document(doc, public) and doc["chain"] == "hmac-sha256"
        # each holds the hashes since the previous one: together they cover every entry
        covered = [seq for d in docs for seq in range(d["hashes_from"], d["seq"] + 1)]
        assert covered == list(range(1, docs[-1]["seq"] + 1))
        await rt.admin()
    assert len(_files(frequent)) == 4  # and one at shutdown
    async with running(frequent, clock=clock, first=rt.first) as again:
        assert _integrity(again).status.ok is True  # the restart compared the log with all four
        assert len(_files(frequent)) == 4  # nothing new since the shutdown's: no baseline needed


async def test_each_checkpoint_is_also_posted_to_the_webhook(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    sink = FastAPI()

    @sink.post("/checkpoints")
    async def take(request: Request) -> dict[str, str]:
        got.append(await request.json())
        return {}

    async with served(sink) as port:
        settings = Settings(
            data_dir=tmp_path / "data",
            media={"enabled": False},
            retention={"schedule_minutes": 600},
            oplog={
                "checkpoint_webhook_url": f"http://127.0.0.1:{port}/checkpoints",
                "checkpoint_poll_s": 3600,
            },
        )
        async with running(settings) as rt:
            path = await _integrity(rt).writer.write_if_due(force=True)
            assert path is not None and len(got) == 1
            assert verify_document(got[0], rt.services.ctx.signer.public_key_b64)
            assert got[0] == json.loads(path.read_text())


async def test_no_checkpoint_vouches_for_an_entry_edited_since_the_last_one(frequent: Settings) -> None:
    async with running(frequent) as rt:
        integrity = _integrity(rt)
        await _apps(rt, 3)
        async with rt.services.ctx.db.read() as s:
            head, _ = await rt.services.oplog.head(s)
        await edit(rt.services.ctx.db, head, result="error")
        await rechain(rt.services.ctx.db, None, from_seq=head)
        assert await integrity.writer.write_if_due() is None
        assert integrity.status.ok is False and integrity.status.broken_at == head
