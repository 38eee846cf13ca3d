"""Revisions 0001-0003 are applied history: however their code is written, they must emit the DDL they
emitted when databases were created with them. The statements of `upgrade 0003` then `downgrade base`
are compared, per dialect, with the ones recorded in tests/migrations/ddl/ before the revisions were
rewritten over relayroom/migrations/tables.py (RELAYROOM_RECORD_DDL=1 records them again)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event

from relayroom.storage.db import MIGRATIONS_DIR, Database

RECORDED = Path(__file__).parent / "ddl"
DDL = re.compile(r"^\s*(CREATE|DROP|ALTER)\b", re.IGNORECASE)


def _run(conn: Connection) -> list[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if DDL.match(statement):
            seen.append(" ".join(statement.split()))

    event.listen(conn, "before_cursor_execute", record)
    try:
        command.upgrade(cfg, "0003")
        seen.append("-- downgrade")
        command.downgrade(cfg, "base")
    finally:
        event.remove(conn, "before_cursor_execute", record)
    return seen


async def _statements(url: str) -> list[str]:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            return await conn.run_sync(_run)
    finally:
        await db.engine.dispose()


async def _check(url: str, dialect: str) -> None:
    statements = await _statements(url)
    path = RECORDED / f"0001-0003.{dialect}.sql"
    if os.environ.get("RELAYROOM_RECORD_DDL") == "1":
        path.write_text("".join(s + ";\n" for s in statements))
    recorded = [line.removesuffix(";") for line in path.read_text().splitlines()]
    assert any(s.startswith("CREATE TABLE accounts") for s in recorded)
    assert statements == recorded


async def test_sqlite_ddl_of_revisions_0001_to_0003_is_unchanged(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'ddl.db'}", "sqlite")


@pytest.mark.postgres
async def test_postgresql_ddl_of_revisions_0001_to_0003_is_unchanged(pg_database: str) -> None:
    await _check(pg_database, "postgresql")
