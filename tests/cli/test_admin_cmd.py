"""Operator CLI against a real database: accounts, apps, credentials, and UserSigs from stored keys."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from typer.testing import CliRunner

from relayroom.auth.usersig import verify_usersig
from relayroom.cli import app as cli_app
from relayroom.cli import commands  # noqa: F401  (registers sub-commands)
from relayroom.config import Settings
from tests.control.helpers import running


def test_operator_commands_and_usersig_from_the_stored_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False})

    async def setup() -> None:
        async with running(settings):
            pass

    asyncio.run(setup())
    dd = ["--data-dir", str(settings.data_dir)]
    r = CliRunner()
    accounts = json.loads(r.invoke(cli_app, ["accounts", "list", *dd]).stdout)
    acc = accounts[0]["id"]
    created = r.invoke(cli_app, ["apps", "create", acc, "--name", "Ops app", *dd])
    assert created.exit_code == 0, created.output
    app = json.loads(created.stdout)
    assert app["status"] == "enabled" and len(app["secret_key"]) == 64
    listed = json.loads(r.invoke(cli_app, ["apps", "list", acc, *dd]).stdout)
    assert app["sdkappid"] in [a["sdkappid"] for a in listed]

    sig = r.invoke(cli_app, ["usersig", "gen", "--sdkappid", str(app["sdkappid"]), "--userid", "alice", *dd])
    assert sig.exit_code == 0, sig.output
    res = verify_usersig(
        sig.stdout.strip(),
        sdkappid=app["sdkappid"],
        userid="alice",
        keys=[app["secret_key"]],
        now=int(time.time()),
    )
    assert res.ok, res

    assert r.invoke(cli_app, ["apps", "disable", str(app["sdkappid"]), *dd]).exit_code == 0
    refused = r.invoke(
        cli_app, ["usersig", "gen", "--sdkappid", str(app["sdkappid"]), "--userid", "alice", *dd]
    )
    assert refused.exit_code == 2 and "no enabled application" in refused.output

    cred = json.loads(r.invoke(cli_app, ["credentials", "create", acc, *dd]).stdout)
    assert cred["secret_id"].startswith("AKID")
    creds = json.loads(r.invoke(cli_app, ["credentials", "list", acc, *dd]).stdout)
    assert [c["secret_id"] for c in creds] == [cred["secret_id"]] and "secret_key" not in creds[0]

    bad = r.invoke(cli_app, ["apps", "create", acc, "--name", "x", "--region", "mars", *dd])
    assert bad.exit_code == 2 and "region" in bad.output

    verify = r.invoke(cli_app, ["oplog", "verify", *dd])
    assert verify.exit_code == 0
    log = json.loads(r.invoke(cli_app, ["oplog", "checkpoint", *dd]).stdout)
    assert log["entries"] >= 5
