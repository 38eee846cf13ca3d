"""First start: an admin, a default account and a demo application, announced once on the terminal
(or, without one, in a 0600 file in the data dir: never on a stream that may end in a log file)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from relayroom.control.principal import SYSTEM
from relayroom.control.services import Services
from relayroom.datadir import write_private
from relayroom.storage.models import DEMO_SDKAPPID, DeploymentSetting, User


@dataclass(frozen=True)
class FirstStart:
    username: str
    password: str
    account_id: str
    sdkappid: int
    secret_key: str


async def bootstrap_if_empty(services: Services, *, username: str = "admin") -> FirstStart | None:
    """Create the first admin, account and demo app when the database has no users; else None."""
    async with services.ctx.db.write() as session:
        if (await session.execute(select(func.count()).select_from(User))).scalar_one():
            return None
        password = secrets.token_urlsafe(12)
        user = await services.accounts.create_user(
            session, SYSTEM, username=username, password=password, is_admin=True
        )
        account = await services.accounts.create_account(
            session, SYSTEM, name="Default", owner_user_id=user.id
        )
        principal = await services.accounts.principal_for(session, user)
        app, key = await services.apps.create(
            session,
            principal,
            account.id,
            name="Demo",
            description="Created on first start",
            tags={"env": "dev"},
        )
        # The one application the dev-mode UserSig endpoint may sign for (control/web/endpoints.py).
        session.add(DeploymentSetting(key=DEMO_SDKAPPID, value=str(app.sdkappid)))
        return FirstStart(username, password, account.id, app.sdkappid, key)


FIRST_START_FILE = "first-start.txt"


def write_first_start_file(data_dir: Path, message: str) -> Path:
    """The first-start message in ``data_dir/first-start.txt``, readable by this user only (0600)."""
    return write_private(data_dir / FIRST_START_FILE, message.encode())


def first_start_notice(path: Path) -> str:
    """What stdout says when it is not a terminal: where the credentials are, never the credentials."""
    return (
        f"RelayRoom is set up. The console admin's password and the demo app's SDKSecretKey are in "
        f"{path.resolve()} (readable by this user only): read it, keep them safe, then delete the file.\n"
    )


def first_start_message(fs: FirstStart, base_url: str) -> str:
    """Printed to the terminal only (never logged): the password is not stored anywhere in clear."""
    return f"""
RelayRoom is set up. This is shown once; keep it somewhere safe.

  Console admin   username: {fs.username}   password: {fs.password}
  Demo app        SDKAppID: {fs.sdkappid}
                  SDKSecretKey: {fs.secret_key}

Web console: {base_url}/console/    Demo call (dev mode, two tabs): {base_url}/demo/

Sign in to the API:
  curl -s -X POST {base_url}/api/v1/auth/login -H 'content-type: application/json' \\
       -d '{{"username": "{fs.username}", "password": "<password above>"}}'
Then call the API with 'Authorization: Bearer <token>', e.g. {base_url}/api/v1/me
Generate a UserSig for the demo app:
  relayroom usersig gen --sdkappid {fs.sdkappid} --userid alice   (key via RELAYROOM_SDK_SECRET_KEY)
"""
