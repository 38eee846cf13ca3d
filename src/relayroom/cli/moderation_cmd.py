"""Application-wide blocks from the operator's shell: ``relayroom apps block|unblock|blocked``.

They go through the same moderation service as the console and the cloud API, so each block and
unblock is in the operation log (actor ``system:cli``, ``via`` ``cli``, the end user as a
pseudonymous reference, the reason given). The block is kept in the database: a running server
refuses the UserId's next entry (-100208) without a restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from relayroom.cli.admin_cmd import _echo, _operator, apps_app
from relayroom.cli.common import ConfigOpt, DataDirOpt, DbOpt, settings_from, with_container
from relayroom.control.errors import AppError
from relayroom.control.rooms.errors import RoomError
from relayroom.control.rooms.ids import validate_user_id

if TYPE_CHECKING:
    from relayroom.control.container import Container

SdkAppIdOpt = Annotated[int, typer.Option("--sdkappid", help="the application (SDKAppID)")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="recorded in the operation log")]
UserArg = Annotated[str, typer.Argument(help="the end user's UserId")]


def _run(fn: Callable[[Container], Awaitable[dict[str, Any]]], config: Any, data_dir: Any, db: Any) -> None:
    try:
        _echo(with_container(settings_from(config, data_dir, db), fn))
    except AppError as exc:
        typer.echo(f"error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(2) from None


def _set_blocked(
    user_id: str,
    sdkappid: int,
    blocked: bool,
    reason: str | None,
    config: Any,
    data_dir: Any,
    database_url: Any,
) -> None:
    try:
        user_id = validate_user_id(user_id)
    except RoomError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None

    async def run(c: Container) -> dict[str, Any]:
        async with c.services.ctx.db.read() as s:
            account_id = await c.services.apps.account_of(s, sdkappid)
        await c.moderation.set_user_blocked(
            _operator(account_id), account_id, sdkappid, user_id, blocked, reason=reason, via="cli"
        )
        return {"sdkappid": sdkappid, "user_id": user_id, "blocked": blocked}

    _run(run, config, data_dir, database_url)


@apps_app.command("block")
def block_user(
    user_id: UserArg,
    sdkappid: SdkAppIdOpt,
    reason: ReasonOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Block a UserId in the whole application: every entry, on every node, is refused with -100208
    until unblocked. A member in a room now stays until they leave: remove them with the console or
    the cloud API (RemoveUser)."""
    _set_blocked(user_id, sdkappid, True, reason, config, data_dir, database_url)


@apps_app.command("unblock")
def unblock_user(
    user_id: UserArg,
    sdkappid: SdkAppIdOpt,
    reason: ReasonOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Lift an application-wide block."""
    _set_blocked(user_id, sdkappid, False, reason, config, data_dir, database_url)


@apps_app.command("blocked")
def list_blocked(
    sdkappid: SdkAppIdOpt, config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None
) -> None:
    """The application's blocked UserIds."""

    async def run(c: Container) -> dict[str, Any]:
        async with c.services.ctx.db.read() as s:
            await c.services.apps.account_of(s, sdkappid)  # an unknown application is an error
        return {"sdkappid": sdkappid, "user_ids": await c.moderation.blocked_users(sdkappid)}

    _run(run, config, data_dir, database_url)
