"""Secrets: per-application SDKSecretKeys and per-account cloud-API credentials, sealed at rest."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.context import ControlContext
from relayroom.control.errors import InvalidInput, InvalidState, NotFound
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import Principal
from relayroom.storage.models import (
    Account,
    AccountStatus,
    Application,
    AppSecretKey,
    AppStatus,
    CloudCredential,
)

MAX_GRACE = timedelta(days=7)
_ALNUM = string.ascii_letters + string.digits


def _app_key_context(sdkappid: int, key_id: str) -> str:
    return f"appkey:{sdkappid}:{key_id}"


def _cred_context(secret_id: str) -> str:
    return f"cloudcred:{secret_id}"


async def _app_keys(session: AsyncSession, sdkappid: int) -> list[AppSecretKey]:
    """The current key (retires_at NULL) first, then rotated ones, newest first."""
    rows = await session.execute(
        select(AppSecretKey)
        .where(AppSecretKey.sdkappid == sdkappid)
        .order_by(AppSecretKey.retires_at.is_not(None), AppSecretKey.created_at.desc())
    )
    return list(rows.scalars())


async def verification_keys(
    ctx: ControlContext, session: AsyncSession, account: Account, sdkappid: int
) -> list[str]:
    """Plaintext keys that verify now: current first, then rotated keys whose grace has not ended."""
    now = ctx.clock.now()
    return [
        ctx.keyring.open(
            account.id, account.data_key_wrapped, _app_key_context(sdkappid, row.id), row.ciphertext
        )
        for row in await _app_keys(session, sdkappid)
        if row.retires_at is None or row.retires_at > now
    ]


class KeyService:
    def __init__(self, ctx: ControlContext, oplog: OplogService) -> None:
        self.ctx = ctx
        self.oplog = oplog

    # --- SDKSecretKey ------------------------------------------------------------------
    async def create_app_key(self, session: AsyncSession, account: Account, sdkappid: int) -> str:
        key = secrets.token_hex(32)  # 64 hex chars, like TRTC's SDKSecretKey
        key_id = str(uuid.uuid4())
        session.add(
            AppSecretKey(
                id=key_id,
                sdkappid=sdkappid,
                ciphertext=self.ctx.keyring.seal(
                    account.id, account.data_key_wrapped, _app_key_context(sdkappid, key_id), key
                ),
                created_at=self.ctx.clock.now(),
            )
        )
        await session.flush()
        return key

    async def _keys(self, session: AsyncSession, sdkappid: int) -> list[AppSecretKey]:
        return await _app_keys(session, sdkappid)

    async def verification_keys(self, session: AsyncSession, account: Account, sdkappid: int) -> list[str]:
        return await verification_keys(self.ctx, session, account, sdkappid)

    async def _app_and_account(
        self, session: AsyncSession, principal: Principal, sdkappid: int
    ) -> tuple[Application, Account]:
        app = await session.get(Application, sdkappid)
        if app is None or app.account_id not in principal.roles:
            raise NotFound(f"no application {sdkappid}")
        principal.require_owner(app.account_id)
        if app.status is AppStatus.TERMINATED:
            raise InvalidState("the application is terminated")
        account = await session.get(Account, app.account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise NotFound(f"no application {sdkappid}")
        return app, account

    async def reveal_app_key(
        self, session: AsyncSession, principal: Principal, sdkappid: int
    ) -> dict[str, object]:
        app, account = await self._app_and_account(session, principal, sdkappid)
        now = self.ctx.clock.now()
        rows = [r for r in await self._keys(session, sdkappid) if r.retires_at is None or r.retires_at > now]
        if not rows:
            raise InvalidState("the application has no usable key")
        current = rows[0]
        key = self.ctx.keyring.open(
            account.id, account.data_key_wrapped, _app_key_context(sdkappid, current.id), current.ciphertext
        )
        await self.oplog.append(
            session,
            principal=principal,
            action="app.key.reveal",
            account_id=app.account_id,
            obj={"type": "application", "id": sdkappid},
        )
        return {
            "sdkappid": sdkappid,
            "key": key,
            "created_at": current.created_at.isoformat(),
            "previous_keys_valid_until": [r.retires_at.isoformat() for r in rows[1:] if r.retires_at],
        }

    async def rotate_app_key(
        self, session: AsyncSession, principal: Principal, sdkappid: int, grace: timedelta
    ) -> tuple[str, str | None]:
        """New key now; old keys keep verifying for `grace` (0 = revoked at once)."""
        if grace < timedelta(0) or grace > MAX_GRACE:
            raise InvalidInput("grace period must be between 0 and 7 days")
        app, account = await self._app_and_account(session, principal, sdkappid)
        now = self.ctx.clock.now()
        retires = now + grace
        for row in await self._keys(session, sdkappid):
            if grace == timedelta(0) or (row.retires_at is not None and row.retires_at <= now):
                await session.delete(row)  # secure_delete zeroes it; ciphertext only ever lived sealed
            elif row.retires_at is None or row.retires_at > retires:
                row.retires_at = retires
        key = await self.create_app_key(session, account, sdkappid)
        await self.oplog.append(
            session,
            principal=principal,
            action="app.key.rotate",
            account_id=app.account_id,
            obj={"type": "application", "id": sdkappid},
            after={"grace_seconds": int(grace.total_seconds())},
        )
        return key, (retires.isoformat() if grace > timedelta(0) else None)

    # --- cloud-API credentials ---------------------------------------------------------
    async def create_credential(
        self, session: AsyncSession, principal: Principal, account_id: str
    ) -> tuple[CloudCredential, str]:
        principal.require_owner(account_id)
        account = await session.get(Account, account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise NotFound("no such account")
        secret_id = "AKID" + "".join(secrets.choice(_ALNUM) for _ in range(32))
        secret_key = "".join(secrets.choice(_ALNUM) for _ in range(32))
        cred = CloudCredential(
            secret_id=secret_id,
            account_id=account_id,
            ciphertext=self.ctx.keyring.seal(
                account.id, account.data_key_wrapped, _cred_context(secret_id), secret_key
            ),
            enabled=True,
            created_at=self.ctx.clock.now(),
        )
        session.add(cred)
        await session.flush()
        await self.oplog.append(
            session,
            principal=principal,
            action="credential.create",
            account_id=account_id,
            obj={"type": "credential", "id": secret_id},
        )
        return cred, secret_key

    async def list_credentials(
        self, session: AsyncSession, principal: Principal, account_id: str
    ) -> list[CloudCredential]:
        principal.role_in(account_id)
        rows = await session.execute(
            select(CloudCredential)
            .where(CloudCredential.account_id == account_id)
            .order_by(CloudCredential.created_at)
        )
        return list(rows.scalars())

    async def _credential(
        self, session: AsyncSession, principal: Principal, secret_id: str
    ) -> CloudCredential:
        cred = await session.get(CloudCredential, secret_id)
        if cred is None or cred.account_id not in principal.roles:
            raise NotFound("no such credential")
        principal.require_owner(cred.account_id)
        return cred

    async def set_credential_enabled(
        self, session: AsyncSession, principal: Principal, secret_id: str, enabled: bool
    ) -> CloudCredential:
        cred = await self._credential(session, principal, secret_id)
        if cred.enabled != enabled:
            cred.enabled = enabled
            await self.oplog.append(
                session,
                principal=principal,
                action="credential.enable" if enabled else "credential.disable",
                account_id=cred.account_id,
                obj={"type": "credential", "id": secret_id},
            )
        return cred

    async def delete_credential(self, session: AsyncSession, principal: Principal, secret_id: str) -> None:
        cred = await self._credential(session, principal, secret_id)
        account_id = cred.account_id
        await session.delete(cred)
        await self.oplog.append(
            session,
            principal=principal,
            action="credential.delete",
            account_id=account_id,
            obj={"type": "credential", "id": secret_id},
        )

    async def credential_secret(self, session: AsyncSession, secret_id: str) -> tuple[str, str] | None:
        """(account_id, SecretKey) for an enabled credential of an active account; for the cloud API."""
        cred = await session.get(CloudCredential, secret_id)
        if cred is None or not cred.enabled:
            return None
        account = await session.get(Account, cred.account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            return None
        key = self.ctx.keyring.open(
            account.id, account.data_key_wrapped, _cred_context(secret_id), cred.ciphertext
        )
        return account.id, key
