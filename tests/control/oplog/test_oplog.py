"""Operation log: every change recorded with its actor; any single-row tampering is detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from relayroom.cli import app as cli_app
from relayroom.cli import commands  # noqa: F401  (registers sub-commands)
from relayroom.config import Settings
from relayroom.control.oplog import chain
from relayroom.crypto.signing import verify_document
from relayroom.storage.models import OplogEntry
from tests.control.helpers import Running, running


async def _populate(rt: Running) -> dict[str, str]:
    h = await rt.admin()
    acc = rt.first.account_id
    r = await rt.client.post(
        f"/api/v1/accounts/{acc}/applications", headers=h, json={"name": "A", "tags": {"k": "v"}}
    )
    sdk = r.json()["sdkappid"]
    await rt.client.patch(f"/api/v1/applications/{sdk}", headers=h, json={"description": "changed"})
    await rt.client.post(f"/api/v1/applications/{sdk}/disable", headers=h)
    await rt.client.post(f"/api/v1/applications/{sdk}/key/rotate", headers=h, json={"grace_seconds": 60})
    await rt.client.post(f"/api/v1/accounts/{acc}/credentials", headers=h)
    return h


async def _verify(rt: Running) -> chain.ChainReport:
    async with rt.services.ctx.db.read() as s:
        return await rt.services.oplog.verify(s)


async def test_changes_are_logged_with_actor_and_before_after(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await _populate(rt)
        me = (await rt.client.get("/api/v1/me", headers=h)).json()["user"]["id"]
        log = (await rt.client.get(f"/api/v1/accounts/{rt.first.account_id}/oplog", headers=h)).json()
        actions = [e["action"] for e in reversed(log)]
        assert actions == [
            "account.create",
            "app.create",
            "app.create",
            "app.update",
            "app.disable",
            "app.key.rotate",
            "credential.create",
        ]
        upd = next(e for e in log if e["action"] == "app.update")
        assert upd["content"]["actor"] == f"user:{me}"
        assert upd["content"]["before"] == {"description": ""} and upd["content"]["after"] == {
            "description": "changed"
        }
        assert next(e for e in log if e["action"] == "account.create")["content"]["actor"] == "system"
        only_apps = (
            await rt.client.get(f"/api/v1/accounts/{rt.first.account_id}/oplog?action=app.", headers=h)
        ).json()
        assert {e["action"].split(".")[0] for e in only_apps} == {"app"}
        by_actor = (
            await rt.client.get(
                f"/api/v1/accounts/{rt.first.account_id}/oplog", headers=h, params={"actor": "system"}
            )
        ).json()
        assert {e["action"] for e in by_actor} == {"account.create"}
        # secrets never enter the log
        raw = json.dumps(log)
        assert rt.first.secret_key not in raw
        assert (await _verify(rt)).ok


@pytest.mark.parametrize("tamper", ["content", "manifest", "reorder", "delete", "drop_content"])
async def test_tampering_with_any_single_row_is_detected(settings: Settings, tamper: str) -> None:
    async with running(settings) as rt:
        await _populate(rt)
        assert (await _verify(rt)).ok
        target = 4
        async with rt.services.ctx.db.write() as s:
            if tamper == "content":
                row = await s.get(OplogEntry, target)
                assert row is not None and row.payload
                await s.execute(
                    update(OplogEntry)
                    .where(OplogEntry.seq == target)
                    .values(payload=row.payload.replace("user:", "user:x"))
                )
            elif tamper == "manifest":
                await s.execute(
                    update(OplogEntry).where(OplogEntry.seq == target).values(action="app.enable")
                )
            elif tamper == "reorder":
                a = await s.get(OplogEntry, target)
                b = await s.get(OplogEntry, target + 1)
                assert a and b
                fields = (
                    "ts",
                    "account_ref",
                    "action",
                    "result",
                    "payload",
                    "salt",
                    "payload_commit",
                    "entry_hash",
                )
                va = {f: getattr(a, f) for f in fields}
                vb = {f: getattr(b, f) for f in fields}
                await s.execute(update(OplogEntry).where(OplogEntry.seq == target).values(**vb))
                await s.execute(update(OplogEntry).where(OplogEntry.seq == target + 1).values(**va))
            elif tamper == "delete":
                await s.execute(text("DELETE FROM oplog_entries WHERE seq = :s"), {"s": target})
            elif tamper == "drop_content":
                await s.execute(
                    update(OplogEntry).where(OplogEntry.seq == target).values(payload=None, salt=None)
                )
        report = await _verify(rt)
        assert not report.ok
        assert report.broken_at == target, report


async def test_redaction_keeps_the_chain_verifiable(settings: Settings) -> None:
    """A purge deletes content and salt and appends a redaction entry listing the seqs."""
    async with running(settings) as rt:
        await _populate(rt)
        async with rt.services.ctx.db.write() as s:
            await s.execute(
                update(OplogEntry).where(OplogEntry.seq.in_([2, 3])).values(payload=None, salt=None)
            )
            from relayroom.control.principal import SYSTEM

            await rt.services.oplog.append(
                s,
                principal=SYSTEM,
                action=chain.REDACT_ACTION,
                account_id=None,
                extra={"redacted_seqs": [2, 3]},
            )
        assert (await _verify(rt)).ok


async def test_signed_checkpoint_detects_truncation(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await _populate(rt)
        cp = (
            await rt.client.get(f"/api/v1/accounts/{rt.first.account_id}/oplog/checkpoint", headers=h)
        ).json()
        assert verify_document(cp, rt.services.ctx.signer.public_key_b64)
        forged = {**cp, "seq": cp["seq"] - 1}
        assert not verify_document(forged)
        from relayroom.control.oplog.checkpoints import compare

        async with rt.services.ctx.db.write() as s:
            last = (
                await s.execute(select(OplogEntry.seq).order_by(OplogEntry.seq.desc()).limit(1))
            ).scalar_one()
            await s.execute(text("DELETE FROM oplog_entries WHERE seq >= :s"), {"s": cp["seq"]})
        report = await _verify(rt)
        assert report.ok  # a clean truncation is invisible to the chain alone...
        async with rt.services.ctx.db.read() as s:
            hashes = await rt.services.oplog.hashes(s)
        difference = compare(report, hashes, cp)
        assert difference is not None and "truncated" in difference.message  # ...but not to a checkpoint
        assert difference.first_differing == cp["seq"] and last >= cp["seq"]


def test_cli_oplog_verify_names_the_tampered_entry(tmp_path: Path) -> None:
    import asyncio

    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False})

    async def setup() -> None:
        async with running(settings) as rt:
            await _populate(rt)

    asyncio.run(setup())
    runner = CliRunner()
    args = ["oplog", "verify", "--data-dir", str(settings.data_dir)]
    ok = runner.invoke(cli_app, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True

    cp_file = tmp_path / "cp.json"
    cp = runner.invoke(cli_app, ["oplog", "checkpoint", "--data-dir", str(settings.data_dir)])
    cp_file.write_text(cp.stdout)
    assert runner.invoke(cli_app, ["checkpoint", "verify", str(cp_file)]).exit_code == 0
    bad = json.loads(cp.stdout)
    bad["head_hash"] = "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert runner.invoke(cli_app, ["checkpoint", "verify", str(tmp_path / "bad.json")]).exit_code == 1

    import sqlite3

    db = sqlite3.connect(settings.data_dir / "relayroom.db")
    db.execute("UPDATE oplog_entries SET result = 'error' WHERE seq = 3")
    db.commit()
    db.close()
    res = runner.invoke(cli_app, args)
    assert res.exit_code == 1
    assert "at entry 3" in res.stderr


@pytest.mark.parametrize("field", ["action", "actor"])
async def test_oplog_filters_take_percent_and_underscore_literally(settings: Settings, field: str) -> None:
    async with running(settings) as rt:
        h = await _populate(rt)
        url = f"/api/v1/accounts/{rt.first.account_id}/oplog"
        everything = (await rt.client.get(url, headers=h)).json()
        assert len(everything) >= 5
        for value in ("%", "_", "%%", "app_", "a%", "_pp.", "%system%", "syste_"):
            r = await rt.client.get(url, headers=h, params={field: value})
            assert r.status_code == 200 and r.json() == [], (field, value, r.json()[:1])
        # the literal text still matches
        literal = "app." if field == "action" else "system"
        assert (await rt.client.get(url, headers=h, params={field: literal})).json()
