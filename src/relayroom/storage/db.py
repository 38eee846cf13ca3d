"""Engine and session factories; migrations run on start."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, event, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
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


def lock_id(name: str) -> int:
    """A PostgreSQL advisory lock's 64-bit key for a named job (stable across nodes and versions)."""
    return int.from_bytes(hashlib.sha256(b"relayroom lock:" + name.encode()).digest()[:8], "big", signed=True)


MIGRATIONS_LOCK = lock_id("migrations")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Nodes of a cluster starting together: one migrates, the others wait and find it done.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATIONS_LOCK})
        await conn.run_sync(_upgrade)


def insert_for(dialect: str, table: Any) -> Any:
    """The dialect's INSERT (with ``on_conflict_do_update`` / ``on_conflict_do_nothing``): both
    PostgreSQL and SQLite (3.24+) have ``INSERT ... ON CONFLICT``."""
    target: Table | Any = table
    if dialect == "postgresql":
        return pg_dialect.insert(target)
    if dialect == "sqlite":
        return sqlite_dialect.insert(target)
    raise ValueError(f"no upsert for database dialect {dialect!r}")


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

    def insert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT for this database (see :func:`insert_for`)."""
        return insert_for(self.dialect, table)

    @asynccontextmanager
    async def try_advisory_lock(self, name: str) -> AsyncIterator[bool]:
        """Hold a cluster-wide lock named ``name`` while the block runs, if nobody else holds it.

        Yields False (at once, without waiting) when another node holds it. PostgreSQL: a session
        advisory lock on a connection of its own, released when the block ends (or the connection
        drops with a dead node). SQLite: one node by design; always True.
        """
        if self.dialect != "postgresql":
            yield True
            return
        key = lock_id(name)
        async with self.engine.connect() as conn:
            got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
            await conn.commit()
            try:
                yield got
            finally:
                if got:
                    try:
                        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        await conn.commit()
                    except Exception:
                        # never hand a connection that may still hold the lock back to the pool
                        await conn.invalidate()

    async def checkpoint_wal(self) -> None:
        await checkpoint_wal(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
