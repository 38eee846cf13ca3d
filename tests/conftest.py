"""Shared fixtures: a real database per backend (SQLite file, PostgreSQL at 127.0.0.1:5432)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relayroom.clock import FrozenClock
from relayroom.config import Settings

PG_ADMIN_DSN = os.environ.get("RELAYROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    import asyncio

    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
        return None
    except Exception as exc:
        return f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({type(exc).__name__}: {exc})"


_PG_PROBLEM: str | None = None
_PG_PROBED = False


def pg_problem() -> str | None:
    global _PG_PROBED, _PG_PROBLEM
    if not _PG_PROBED:
        _PG_PROBLEM = _pg_available()
        _PG_PROBED = True
    return _PG_PROBLEM


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import asyncio

    import asyncpg

    problem = pg_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)  # CI machines have PostgreSQL: absence there is a failure
        pytest.skip(problem)
    name = f"relayroom_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    url = None
    if backend == "postgres":
        url = request.getfixturevalue("pg_database")
    return Settings(
        data_dir=tmp_path / "data", database_url=url, max_apps_per_account=5, media={"enabled": False}
    )


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:
    yield "asyncio"
