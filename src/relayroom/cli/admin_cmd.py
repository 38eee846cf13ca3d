"""Operator commands against the configured database: users, accounts, applications, credentials.

They act as the deployment itself (actor "system" in the operation log).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

import typer

from relayroom.cli.common import ConfigOpt, DataDirOpt, DbOpt, settings_from, with_services
from relayroom.control.applications.service import app_public
from relayroom.control.errors import AppError
from relayroom.control.principal import Principal
from relayroom.control.services import Services
from relayroom.storage.models import AppStatus, Role

users_app = typer.Typer(no_args_is_help=True, help="Console users.")
accounts_app = typer.Typer(no_args_is_help=True, help="Accounts (customers).")
apps_app = typer.Typer(no_args_is_help=True, help="Applications (SDKAppIDs).")
credentials_app = typer.Typer(no_args_is_help=True, help="Cloud-API credentials (SecretId/SecretKey).")

AccountArg = Annotated[str, typer.Argument(help="account id")]


def _operator(account_id: str | None = None) -> Principal:
    """The deployment acting as owner of the account it is told to act on."""
    roles = {account_id: Role.OWNER} if account_id else {}
    return Principal(actor="system:cli", is_admin=True, roles=roles)


def _run(fn: Any, config: Any, data_dir: Any, database_url: Any) -> Any:
    try:
        return with_services(settings_from(config, data_dir, database_url), fn)
    except AppError as exc:
        typer.echo(f"error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(2) from None


def _echo(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@users_app.command("create")
def create_user(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, envvar="RELAYROOM_NEW_PASSWORD")],
    admin: Annotated[bool, typer.Option("--admin", help="a deployment admin")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Create a console user."""

    async def run(services: Services) -> dict[str, Any]:
        async with services.ctx.db.write() as s:
            p = _operator()
            u = await services.accounts.create_user(
                s, p, username=username, password=password, is_admin=admin
            )
            return {"id": u.id, "username": u.username, "is_admin": u.is_admin}

    _echo(_run(run, config, data_dir, database_url))


@accounts_app.command("list")
def list_accounts(config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None) -> None:
    """List accounts with their status."""

    async def run(services: Services) -> list[dict[str, Any]]:
        async with services.ctx.db.read() as s:
            rows = await services.accounts.all_accounts(s, _operator())
            return [
                {"id": a.id, "name": a.name, "status": a.status.value, "created_at": a.created_at}
                for a in rows
            ]

    _echo(_run(run, config, data_dir, database_url))


@accounts_app.command("create")
def create_account(
    name: str,
    owner: Annotated[str, typer.Option(help="username of the owner")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Create an account owned by an existing user."""

    async def run(services: Services) -> dict[str, Any]:
        async with services.ctx.db.write() as s:
            user = await services.accounts.user_by_username(s, owner)
            a = await services.accounts.create_account(s, _operator(), name=name, owner_user_id=user.id)
            return {"id": a.id, "name": a.name}

    _echo(_run(run, config, data_dir, database_url))


@apps_app.command("list")
def list_apps(
    account: AccountArg, config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None
) -> None:
    """List an account's applications."""

    async def run(services: Services) -> list[dict[str, Any]]:
        async with services.ctx.db.read() as s:
            apps = await services.apps.list(s, _operator(account), account)
            return [app_public(a) for a in apps]

    _echo(_run(run, config, data_dir, database_url))


@apps_app.command("create")
def create_app(
    account: AccountArg,
    name: Annotated[str, typer.Option()],
    region: Annotated[str | None, typer.Option()] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Create an application; prints its SDKAppID and SDKSecretKey once."""

    async def run(services: Services) -> dict[str, Any]:
        async with services.ctx.db.write() as s:
            app, key = await services.apps.create(s, _operator(account), account, name=name, region=region)
            return {**app_public(app), "secret_key": key}

    _echo(_run(run, config, data_dir, database_url))


def _status_command(status: AppStatus, verb: str) -> None:
    def command(
        sdkappid: int, config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None
    ) -> None:
        async def run(services: Services) -> dict[str, Any]:
            async with services.ctx.db.write() as s:
                account_id = await services.apps.account_of(s, sdkappid)
                app = await services.apps.set_status(s, _operator(account_id), sdkappid, status)
                return app_public(app)

        _echo(_run(run, config, data_dir, database_url))

    command.__doc__ = f"{verb.capitalize()} an application."
    apps_app.command(verb)(command)


_status_command(AppStatus.DISABLED, "disable")
_status_command(AppStatus.ENABLED, "enable")
_status_command(AppStatus.TERMINATED, "terminate")


@apps_app.command("rotate-key")
def rotate_key(
    sdkappid: int,
    grace: Annotated[int, typer.Option(help="seconds the old key keeps verifying")] = 0,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Rotate an application's SDKSecretKey; prints the new key once."""

    async def run(services: Services) -> dict[str, Any]:
        async with services.ctx.db.write() as s:
            p = _operator(await services.apps.account_of(s, sdkappid))
            key, until = await services.keys.rotate_app_key(s, p, sdkappid, timedelta(seconds=grace))
            return {"sdkappid": sdkappid, "key": key, "previous_key_valid_until": until}

    _echo(_run(run, config, data_dir, database_url))


@credentials_app.command("create")
def create_credential(
    account: AccountArg, config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None
) -> None:
    """Create a cloud-API credential; the SecretKey is printed once."""

    async def run(services: Services) -> dict[str, Any]:
        async with services.ctx.db.write() as s:
            cred, key = await services.keys.create_credential(s, _operator(account), account)
            return {"secret_id": cred.secret_id, "secret_key": key}

    _echo(_run(run, config, data_dir, database_url))


@credentials_app.command("list")
def list_credentials(
    account: AccountArg, config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None
) -> None:
    """List an account's credentials (never their SecretKeys)."""

    async def run(services: Services) -> list[dict[str, Any]]:
        async with services.ctx.db.read() as s:
            rows = await services.keys.list_credentials(s, _operator(account), account)
            return [
                {"secret_id": c.secret_id, "enabled": c.enabled, "created_at": c.created_at} for c in rows
            ]

    _echo(_run(run, config, data_dir, database_url))
