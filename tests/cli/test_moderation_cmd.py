"""App-wide blocks from the CLI: the same operation-log entry as the console's (actor ``system:cli``,
``via`` ``cli``), and a running server refuses the blocked UserId's entry (-100208) without a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from relayroom.cli import app as cli_app
from relayroom.cli import commands  # noqa: F401  (registers sub-commands)
from relayroom.control.privacy.refs import subject_ref
from relayroom.control.rooms.errors import ErrorCode, RoomError
from tests.control.cloudapi.server import live_server, settings_for
from tests.control.cloudapi.test_moderation_audit import enter
from tests.control.oplog.entries import entries

pytestmark = pytest.mark.timeout(120)


async def _cli(*args: str) -> Result:
    """The CLI runs its own event loop: in a thread, beside the live server's."""
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(cli_app, list(args)))


async def test_cli_block_is_in_the_operation_log_and_a_running_server_refuses_entry(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "d", media=True)
    async with live_server(settings) as live:
        assert live.first is not None
        app = str(live.first.sdkappid)
        where = ("--data-dir", str(settings.data_dir))
        await enter(live, "mallory", 3)

        r = await _cli("apps", "block", "mallory", "--sdkappid", app, "--reason", "fraud ticket 9", *where)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout) == {"sdkappid": int(app), "user_id": "mallory", "blocked": True}
        with pytest.raises(RoomError) as refused:
            await enter(live, "mallory", 4)
        assert refused.value.code == ErrorCode.USER_BLOCKED
        await enter(live, "trent", 4)  # only that UserId

        listed = await _cli("apps", "blocked", "--sdkappid", app, *where)
        assert json.loads(listed.stdout) == {"sdkappid": int(app), "user_ids": ["mallory"]}
        h = live.admin
        seen = await live.http.get(f"/api/v1/applications/{app}/blocked-users", headers=h)
        assert seen.json() == {"user_ids": ["mallory"]}  # the console sees the CLI's block

        r = await _cli("apps", "unblock", "mallory", "--sdkappid", app, "--reason", "cleared", *where)
        assert r.exit_code == 0, r.output
        await enter(live, "mallory", 4)  # admitted again

        bad = await _cli("apps", "block", "x" * 40, "--sdkappid", app, *where)
        assert bad.exit_code == 2 and "userId" in bad.output
        unknown = await _cli("apps", "block", "eve", "--sdkappid", "1", *where)
        assert unknown.exit_code == 2 and "no application" in unknown.output

        services = live.container.services
        target = {"type": "end_user", "ref": subject_ref(services.ctx.pseudonym_secret, int(app), "mallory")}
        [block] = await entries(services, "app.user.block")
        [unblock] = await entries(services, "app.user.unblock")
        assert block["actor"] == "system:cli" and unblock["actor"] == "system:cli"
        assert block["after"] == {"target": target, "reason": "fraud ticket 9", "via": "cli"}
        assert unblock["after"] == {"target": target, "reason": "cleared", "via": "cli"}
        assert '"mallory"' not in json.dumps([block, unblock])
