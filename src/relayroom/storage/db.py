"""Engine and session factories; migrations run on start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from relayroom.datadir import secure_sqlite_files

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # secure_delete is per connection and Debian builds default it OFF: set it on every one, so
    # deleted secrets are zeroed in the file instead of lingering in free pages.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA journal_size_limit=1048576")
    cur.close()


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            secure_sqlite_files(Path(path))  # 0600 database, WAL and SHM in a 0700 directory
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _upgrade(conn: Connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def checkpoint_wal(engine: AsyncEngine) -> None:
    """Make deleted bytes leave the SQLite WAL too (no-op elsewhere)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Services never commit; this scope does, or rolls back on an exception."""
    async with factory() as session, session.begin():
        yield session


class Database:
    """Engine + sessions. Write transactions are serialised in-process (SQLite has one writer, and
    the oplog's sequence must not fork); PostgreSQL nodes add an advisory lock at oplog append."""

    def __init__(self, url: str) -> None:
        import asyncio

        self.url = url
        self.engine = create_engine(url)
        self.factory = session_factory(self.engine)
        self._write_lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self._write_lock, self.factory() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.factory() as session:
            yield session

    async def migrate(self) -> None:
        await migrate(self.engine)

    async def checkpoint_wal(self) -> None:
        await checkpoint_wal(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
