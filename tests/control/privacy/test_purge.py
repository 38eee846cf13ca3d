"""The module's promise: keys and logs purged within 7 days of termination, also after downtime."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from relayroom.auth.consent_token import gen_consent_token
from relayroom.auth.usersig import gen_usersig
from relayroom.cli import app as cli_app
from relayroom.cli import commands  # noqa: F401  (registers sub-commands)
from relayroom.clock import FrozenClock
from relayroom.config import Settings
from relayroom.control.applications.directory import DbAppDirectory
from relayroom.control.rooms.entry import EntryChecker
from relayroom.control.rooms.errors import RoomError
from relayroom.control.rooms.ids import RoomRef
from relayroom.crypto.signing import verify_document
from relayroom.logs import JsonFormatter, setup_quiet_libraries
from tests.control.helpers import Running, make_account, running


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Everything logged during the test, as the server would write it."""
    path = tmp_path / "server.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    setup_quiet_libraries()  # as `relayroom serve` does, even at debug level
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        handler.close()


async def _plant(rt: Running, canary: str) -> dict[str, Any]:
    """A customer whose every personal field carries the canary; returns what to look for."""
    admin = await rt.admin()
    username = f"{canary}-owner".lower()
    acc = await make_account(rt, admin, f"{canary} Inc", username, "owner-password-1")
    owner = await rt.login(username, "owner-password-1")
    r = await rt.client.post(
        f"/api/v1/accounts/{acc['id']}/applications",
        headers=owner,
        json={
            "name": f"{canary} app",
            "description": f"{canary} desc",
            "tags": {f"{canary}-k": f"{canary}-v"},
        },
    )
    assert r.status_code == 201, r.text
    app = r.json()
    cred = (await rt.client.post(f"/api/v1/accounts/{acc['id']}/credentials", headers=owner)).json()
    await rt.client.patch(
        f"/api/v1/applications/{app['sdkappid']}", headers=owner, json={"consent_policy": "enforce"}
    )
    userid = f"{canary}-user"[:32]
    token = gen_consent_token(
        app["sdkappid"],
        app["secret_key"],
        userid,
        jurisdiction="DE",
        age=12,
        parental_ref=f"{canary}-evidence",
        notice=f"{canary}-v1",
        time=int(rt.services.ctx.clock.time()),
    )
    decision = await rt.services.consent.check(app["sdkappid"], userid, token)
    assert decision.ok, decision
    return {
        "account_id": acc["id"],
        "owner": owner,
        "sdkappid": app["sdkappid"],
        "key": app["secret_key"],
        "secret_id": cred["secret_id"],
        "secret_key": cred["secret_key"],
        "userid": userid,
        "canaries": [canary, canary.lower(), app["secret_key"], cred["secret_key"]],
    }


def _scan_sqlite(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("relayroom.db*")))


async def _scan_postgres(rt: Running) -> bytes:
    out = []
    async with rt.services.ctx.db.read() as s:
        tables = [
            r[0] for r in await s.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        ]
        for t in tables:
            out.append(str((await s.execute(text(f'SELECT * FROM "{t}"'))).all()))
    return "\n".join(out).encode()


async def test_terminated_account_is_purged_after_downtime_leaving_no_canary(
    settings: Settings, clock: FrozenClock, log_file: Path
) -> None:
    canary = f"CANARY-{uuid.uuid4().hex[:12]}"
    async with running(settings, clock) as rt:
        first = rt.first
        planted = await _plant(rt, canary)
        sdkappid = int(planted["sdkappid"])
        usersig = gen_usersig(sdkappid, str(planted["key"]), "bob", 86400, now=int(clock.time()))
        checker = EntryChecker(DbAppDirectory(rt.services), settings.region, wall_clock=clock.time)
        room = RoomRef(sdkappid=sdkappid, room_id=1234, str_room_id=None)
        await checker.check(room, "bob", usersig, None, None)  # works before termination

        r = await rt.client.delete(f"/api/v1/accounts/{planted['account_id']}", headers=planted["owner"])
        assert r.status_code == 202, r.text
        # the same second: every credential is dead
        assert (await rt.client.get("/api/v1/me", headers=planted["owner"])).status_code == 401
        with pytest.raises(RoomError):
            await checker.check(room, "bob", usersig, None, None)
        async with rt.services.ctx.db.read() as s:
            assert await rt.services.keys.credential_secret(s, str(planted["secret_id"])) is None
        status = await rt.services.retention.status()
        assert [j["state"] for j in status] == ["scheduled"]
        assert status[0]["due_at"] == (clock.now() + timedelta(hours=24)).isoformat()

    clock.advance(timedelta(days=8))  # the server is down past the 7-day deadline
    async with running(settings, clock, first=first) as rt:
        # catch-up ran before the app reported ready
        assert (await rt.client.get("/healthz")).json()["status"] == "ok"
        jobs = await rt.services.retention.status()
        assert [j["state"] for j in jobs] == ["completed"] and jobs[0]["sla_breach"] is True
        admin = await rt.admin()
        log = (await rt.client.get(f"/api/v1/accounts/{first.account_id}/oplog", headers=admin)).json()
        assert first.secret_key not in json.dumps(log)
        async with rt.services.ctx.db.read() as s:
            report = await rt.services.oplog.verify(s)
            breach = (
                await s.execute(
                    text("SELECT count(*) FROM oplog_entries WHERE action='retention.sla_breach'")
                )
            ).scalar_one()
        assert report.ok, report
        assert breach == 1

        receipt = (await rt.client.get(f"/api/v1/privacy/receipts/{jobs[0]['receipt_id']}")).json()
        assert verify_document(receipt, rt.services.ctx.signer.public_key_b64)
        assert receipt["row_counts"]["applications"] == 1 and receipt["row_counts"]["users"] == 1
        assert (
            receipt["row_counts"]["consent_records"] == 1 and receipt["row_counts"]["cloud_credentials"] == 1
        )
        assert receipt["sla_breach"] is True
        head = receipt["oplog_chain_head"]
        async with rt.services.ctx.db.read() as s:
            at = (
                await s.execute(text("SELECT entry_hash FROM oplog_entries WHERE seq=:q"), {"q": head["seq"]})
            ).scalar()
        assert at == head["hash"]  # the receipt names a real head of the verified chain
        raw = _scan_sqlite(settings.data_dir) if settings.is_sqlite else await _scan_postgres(rt)

    raw_logs = log_file.read_bytes()
    assert raw_logs, "the server logged during the test"
    for c in planted["canaries"]:
        assert c.encode() not in raw, f"{c} still in the database"
        assert c.encode() not in raw_logs, f"{c} in the logs"

    rfile = settings.data_dir.parent / "receipt.json"
    rfile.write_text(json.dumps(receipt))
    res = CliRunner().invoke(cli_app, ["receipt", "verify", str(rfile)])
    assert res.exit_code == 0, res.output
    receipt["row_counts"]["applications"] = 0
    rfile.write_text(json.dumps(receipt))
    assert CliRunner().invoke(cli_app, ["receipt", "verify", str(rfile)]).exit_code == 1


async def test_terminated_application_is_purged_on_schedule_and_others_stay(
    settings: Settings, clock: FrozenClock
) -> None:
    canary = f"CANARY-{uuid.uuid4().hex[:12]}"
    async with running(settings, clock) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        r = await rt.client.post(f"/api/v1/accounts/{acc}/applications", headers=h, json={"name": canary})
        sdk = r.json()["sdkappid"]
        await rt.client.patch(f"/api/v1/applications/{sdk}", headers=h, json={"description": canary})
        assert (await rt.client.post(f"/api/v1/applications/{sdk}/terminate", headers=h)).status_code == 200
        async with rt.services.ctx.db.read() as s:
            ctx = await rt.services.apps.entry_context(s, sdk)
        assert ctx is not None and ctx.status == "terminated" and ctx.secret_keys == ()

        clock.advance(timedelta(hours=23))
        assert await rt.services.retention.run_due() == []  # not due yet
        clock.advance(timedelta(hours=2))
        outcomes = await rt.services.retention.run_due()
        assert len(outcomes) == 1 and not outcomes[0].sla_breach
        h = await rt.admin()  # the session from a day ago has expired
        assert (await rt.client.get(f"/api/v1/applications/{sdk}", headers=h)).status_code == 404
        demo = await rt.client.get(f"/api/v1/applications/{rt.first.sdkappid}", headers=h)
        assert demo.status_code == 200  # the other application is untouched
        async with rt.services.ctx.db.read() as s:
            assert (await rt.services.oplog.verify(s)).ok
        if settings.is_sqlite:
            assert canary.encode() not in _scan_sqlite(settings.data_dir)
        else:
            assert canary.encode() not in await _scan_postgres(rt)


async def test_a_crashed_purge_is_resumed(settings: Settings, clock: FrozenClock) -> None:
    async with running(settings, clock) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        r = await rt.client.post(f"/api/v1/accounts/{acc}/applications", headers=h, json={"name": "x"})
        sdk = r.json()["sdkappid"]
        await rt.client.post(f"/api/v1/applications/{sdk}/terminate", headers=h)
        jobs = await rt.services.retention.status()
        # simulate a crash after the job was marked running but before the purge committed
        async with rt.services.ctx.db.write() as s:
            await s.execute(text("UPDATE retention_jobs SET state='running', attempts=1"))
        clock.advance(timedelta(days=1, seconds=1))
        outcomes = await rt.services.retention.run_due()
        assert [o.job_id for o in outcomes] == [jobs[0]["job_id"]]
        assert (await rt.services.retention.status())[0]["state"] == "completed"
        assert await rt.services.retention.run_due() == []  # idempotent


async def test_last_application_terminated_ends_use_and_purges_cloud_credentials(
    settings: Settings, clock: FrozenClock
) -> None:
    async with running(settings, clock) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        cred = (await rt.client.post(f"/api/v1/accounts/{acc}/credentials", headers=h)).json()
        await rt.client.post(f"/api/v1/applications/{rt.first.sdkappid}/terminate", headers=h)
        async with rt.services.ctx.db.read() as s:
            assert await rt.services.keys.credential_secret(s, cred["secret_id"]) is None  # at once
        clock.advance(timedelta(hours=25))
        await rt.services.retention.run_due()
        h = await rt.admin()
        assert (await rt.client.get(f"/api/v1/accounts/{acc}/credentials", headers=h)).json() == []
        assert (await rt.client.get("/api/v1/me", headers=h)).status_code == 200  # the login stays


def test_retention_cli_status_and_run(tmp_path: Path) -> None:
    import asyncio

    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False})

    async def setup() -> None:
        async with running(settings) as rt:
            h = await rt.admin()
            await rt.client.post(f"/api/v1/applications/{rt.first.sdkappid}/terminate", headers=h)

    asyncio.run(setup())
    runner = CliRunner()
    st = runner.invoke(cli_app, ["retention", "status", "--data-dir", str(settings.data_dir)])
    assert st.exit_code == 0, st.output
    jobs = json.loads(st.stdout)
    assert {j["scope"] for j in jobs} == {"application", "credentials"}
    early = runner.invoke(cli_app, ["retention", "run", "--data-dir", str(settings.data_dir)])
    assert json.loads(early.stdout) == []
    later = jobs[0]["deadline_at"]
    done = runner.invoke(cli_app, ["retention", "run", "--now", later, "--data-dir", str(settings.data_dir)])
    assert done.exit_code == 0, done.output
    assert len(json.loads(done.stdout)) == 2
