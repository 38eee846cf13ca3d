"""Revision 0004: a deployment set up before it gets its demo application's id from the data it has."""

from __future__ import annotations

from sqlalchemy import text

from relayroom.config import Settings
from relayroom.storage.db import Database
from relayroom.storage.models import DEMO_SDKAPPID, DeploymentSetting
from tests.control.helpers import running
from tests.migrations.rewind import undo_0006, undo_0007


async def test_upgrading_an_older_deployment_finds_the_demo_app_of_first_start(settings: Settings) -> None:
    async with running(settings) as rt:
        demo = rt.first.sdkappid
        admin = await rt.admin()
        # a later application, also named Demo, must not be taken for the first-start one
        r = await rt.client.post(
            f"/api/v1/accounts/{rt.first.account_id}/applications", headers=admin, json={"name": "Demo"}
        )
        assert r.status_code == 201
    db = Database(settings.effective_database_url)
    try:
        async with db.engine.begin() as conn:  # back to how revision 0003 left it
            await undo_0007(conn)
            await undo_0006(conn)
            await conn.execute(text("DROP TABLE deployment_settings"))
            # and what later revisions added (0005)
            await conn.execute(text("ALTER TABLE callback_configs DROP COLUMN media_url"))
            for col in ("device_type", "sdk_version", "client_ip"):
                await conn.execute(text(f"ALTER TABLE call_users DROP COLUMN {col}"))
            await conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        await db.migrate()
        async with db.read() as s:
            row = await s.get(DeploymentSetting, DEMO_SDKAPPID)
            assert row is not None and int(row.value) == demo
    finally:
        await db.dispose()
