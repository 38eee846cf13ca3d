"""Options shared by the commands that read the server's configuration and database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from relayroom.clock import SystemClock
from relayroom.config import Settings, load_settings
from relayroom.control.services import Services

T = TypeVar("T")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML config file (also RELAYROOM_CONFIG)")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="data directory (RELAYROOM_DATA_DIR)")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (RELAYROOM_DATABASE_URL)")]


def settings_from(
    config: Path | None, data_dir: Path | None, database_url: str | None, **extra: Any
) -> Settings:
    return load_settings(config, data_dir=data_dir, database_url=database_url, **extra)


def with_services(settings: Settings, fn: Callable[[Services], Awaitable[T]]) -> T:
    """Run fn against the configured database (migrated first), then dispose of the engine."""
    from relayroom.control.app import build_context

    async def run() -> T:
        ctx = build_context(settings, SystemClock())
        try:
            await ctx.db.migrate()
            return await fn(Services.build(ctx))
        finally:
            await ctx.db.dispose()

    return asyncio.run(run())
