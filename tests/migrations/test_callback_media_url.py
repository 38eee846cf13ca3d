"""Revision 0005: a callback URL set before it stays valid for both event groups; stays recorded before it
have empty device type, SDK version and client IP."""

from __future__ import annotations

from sqlalchemy import text

from relayroom.config import Settings
from relayroom.storage.db import Database
from relayroom.storage.models import CallbackConfig, CallUser
from tests.control.helpers import running
from tests.migrations.rewind import undo_0006, undo_0007


async def test_upgrading_keeps_one_callback_url_for_both_groups(settings: Settings) -> None:
    async with running(settings) as rt:
        sdkappid = rt.first.sdkappid
        admin = await rt.admin()
        r = await rt.client.put(
            f"/api/v1/applications/{sdkappid}/callback",
            headers=admin,
            json={"url": "https://cb.example.org/x"},
        )
        assert r.status_code == 200, r.text
    db = Database(settings.effective_database_url)
    try:
        async with db.engine.begin() as conn:  # back to how revision 0004 left it
            await undo_0007(conn)
            await undo_0006(conn)
            await conn.execute(text("ALTER TABLE callback_configs DROP COLUMN media_url"))
            for col in ("device_type", "sdk_version", "client_ip"):
                await conn.execute(text(f"ALTER TABLE call_users DROP COLUMN {col}"))
            await conn.execute(
                text(
                    "INSERT INTO call_users (call_id, sdkappid, user_id, role, join_ts) "
                    "VALUES (1, :a, 'old', 'anchor', 1)"
                ),
                {"a": sdkappid},
            )
            await conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
        await db.migrate()
        async with db.read() as s:
            cfg = await s.get(CallbackConfig, sdkappid)
            assert cfg is not None and cfg.url == cfg.media_url == "https://cb.example.org/x"
            user = (await s.execute(CallUser.__table__.select())).first()
            assert user is not None and (user.device_type, user.sdk_version, user.client_ip) == ("", "", "")
    finally:
        await db.dispose()
