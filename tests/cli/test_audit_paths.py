"""The same operation records the same operation-log entry whichever path does it (console API, CLI):
the audit is the service's, not the caller's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from relayroom.cli import app as cli_app
from relayroom.cli import commands  # noqa: F401  (registers sub-commands)
from relayroom.config import Settings
from relayroom.control.bootstrap import FirstStart
from tests.control.helpers import running
from tests.control.oplog.entries import entries


def test_user_create_records_the_same_entry_over_http_and_from_the_cli(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False})

    async def over_http() -> FirstStart:
        async with running(settings) as rt:
            admin = await rt.admin()
            r = await rt.client.post(
                "/api/v1/users", headers=admin, json={"username": "web-user", "password": "p" * 12}
            )
            assert r.status_code == 201, r.text
            return rt.first

    first = asyncio.run(over_http())
    created = CliRunner().invoke(
        cli_app,
        ["users", "create", "cli-user", "--data-dir", str(settings.data_dir)],
        env={"RELAYROOM_NEW_PASSWORD": "q" * 12},
    )
    assert created.exit_code == 0, created.output
    cli_id = json.loads(created.stdout)["id"]

    async def read() -> None:
        async with running(settings, first=first) as rt:
            found = {e["after"]["username"]: e for e in await entries(rt.services, "user.create")}
            web, cli = found["web-user"], found["cli-user"]
            assert web["after"] == {"username": "web-user", "is_admin": False}
            assert cli["after"] == {"username": "cli-user", "is_admin": False}
            assert cli["object"] == {"type": "user", "id": cli_id}
            assert web["actor"].startswith("user:") and cli["actor"] == "system:cli"
            assert set(web) == set(cli)  # the same shape of entry from both paths

    asyncio.run(read())
