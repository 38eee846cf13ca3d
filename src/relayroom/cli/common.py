"""Options shared by the commands that read the server's configuration and database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from relayroom.config import Settings, load_settings
from relayroom.control.services import Services

if TYPE_CHECKING:
    from relayroom.control.container import Container

T = TypeVar("T")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML config file (also RELAYROOM_CONFIG)")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="data directory (RELAYROOM_DATA_DIR)")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (RELAYROOM_DATABASE_URL)")]


def settings_from(
    config: Path | None, data_dir: Path | None, database_url: str | None, **extra: Any
) -> Settings:
    return load_settings(config, data_dir=data_dir, database_url=database_url, **extra)


def with_container(settings: Settings, fn: Callable[[Container], Awaitable[T]]) -> T:
    """Run fn against the service graph the server builds (without media workers or background
    tasks) on the configured database, migrated first; then dispose of the engine."""
    from relayroom.control.container import ContainerParams, build_container

    async def run() -> T:
        container = build_container(settings, ContainerParams(serve=False))
        try:
            await container.open_database()
            return await fn(container)
        finally:
            await container.close()

    return asyncio.run(run())


def with_services(settings: Settings, fn: Callable[[Services], Awaitable[T]]) -> T:
    """:func:`with_container` for commands that need the database-backed services only."""

    async def run(container: Container) -> T:
        return await fn(container.services)

    return with_container(settings, run)
