"""Applications (SDKAppIDs): lifecycle, regions, and what room entry needs to know about them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.auth.privatemapkey import gen_privatemapkey
from relayroom.auth.usersig import gen_usersig
from relayroom.control.context import ControlContext
from relayroom.control.errors import InvalidInput, InvalidState, LimitExceeded, NotFound
from relayroom.control.keys.service import KeyService
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import Principal
from relayroom.storage.models import (
    DEMO_SDKAPPID,
    Account,
    AccountStatus,
    Application,
    AppStatus,
    ConsentPolicy,
    DeploymentSetting,
)

# TRTC's China-site range; random within it so ids cannot be enumerated by counting.
SDKAPPID_BASE = 1_400_000_000
SDKAPPID_SPAN = 100_000_000
_TAG_KEY = re.compile(r"^[\w.:/=+\-@ ]{1,128}$", re.UNICODE)
MAX_TAGS = 50


def app_public(app: Application) -> dict[str, Any]:
    """Non-secret fields: what the oplog's before/after and the API show."""
    return {
        "sdkappid": app.sdkappid,
        "name": app.name,
        "description": app.description,
        "tags": dict(app.tags or {}),
        "status": app.status.value,
        "region": app.region,
        "permission_key_enabled": app.permission_key_enabled,
        "consent_policy": app.consent_policy.value,
    }


def validate_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags per application")
    out: dict[str, str] = {}
    for k, v in tags.items():
        if not isinstance(k, str) or not _TAG_KEY.match(k):
            raise InvalidInput(
                f"tag key {k!r} must be 1-128 characters of letters, digits, spaces and _.:/=+-@"
            )
        if not isinstance(v, str) or len(v) > 256:
            raise InvalidInput(f"tag {k!r}: value must be a string of at most 256 characters")
        out[k] = v
    return out


def validate_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("application name must be 1-200 characters")
    return name


@dataclass(frozen=True)
class AppEntryContext:
    """What the room-entry check needs; keys are plaintext, held only for the check."""

    sdkappid: int
    account_id: str
    status: str
    region: str
    secret_keys: tuple[str, ...]  # current first, then keys still in their rotation grace
    permission_key_enabled: bool
    consent_policy: str


class DemoUnavailable(Exception):
    """The dev UserSig endpoint has nothing it may sign for (the reason is safe to show)."""


class ApplicationService:
    def __init__(
        self,
        ctx: ControlContext,
        oplog: OplogService,
        keys: KeyService,
        on_terminated: Callable[[AsyncSession, Application], Awaitable[Any]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.oplog = oplog
        self.keys = keys
        # The privacy engine's hook: schedules the purge in the terminating transaction.
        self._on_terminated = on_terminated

    async def _allocate_sdkappid(self, session: AsyncSession) -> int:
        first, last = SDKAPPID_BASE, SDKAPPID_BASE + SDKAPPID_SPAN - 1
        own = self.ctx.settings.region_map.get(self.ctx.settings.region)
        if own is not None:  # regions as separate clusters: this region's range (control/regions.py)
            first, last = own.sdkappids
        for _ in range(32):
            candidate = first + secrets.randbelow(last - first + 1)
            if await session.get(Application, candidate) is None:
                return candidate
        raise InvalidState("could not allocate an SDKAppID; try again")

    async def create(
        self,
        session: AsyncSession,
        principal: Principal,
        account_id: str,
        *,
        name: str,
        description: str = "",
        tags: dict[str, str] | None = None,
        region: str | None = None,
    ) -> tuple[Application, str]:
        """Create an app and its first SDKSecretKey; returns (app, key) — the key for the owner only."""
        principal.require_owner(account_id)
        account = await session.get(Account, account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise NotFound("no such account")
        region = region or self.ctx.settings.region
        if region not in self.ctx.settings.regions:
            raise InvalidInput(
                f"region {region!r} is not one of this deployment's regions {self.ctx.settings.regions}"
            )
        if len(description) > 2000:
            raise InvalidInput("description must be at most 2000 characters")
        count = (
            await session.execute(
                select(func.count())
                .select_from(Application)
                .where(Application.account_id == account_id, Application.status != AppStatus.TERMINATED)
            )
        ).scalar_one()
        limit = self.ctx.settings.max_apps_per_account
        if count >= limit:
            raise LimitExceeded(f"an account can have at most {limit} applications")
        now = self.ctx.clock.now()
        app = Application(
            sdkappid=await self._allocate_sdkappid(session),
            account_id=account_id,
            name=validate_name(name),
            description=description,
            tags=validate_tags(tags or {}),
            status=AppStatus.ENABLED,
            region=region,
            permission_key_enabled=False,
            consent_policy=ConsentPolicy.OFF,
            created_at=now,
            updated_at=now,
        )
        session.add(app)
        await session.flush()
        key = await self.keys.create_app_key(session, account, app.sdkappid)
        await self.oplog.append(
            session,
            principal=principal,
            action="app.create",
            account_id=account_id,
            obj={"type": "application", "id": app.sdkappid},
            after=app_public(app),
        )
        return app, key

    async def get(self, session: AsyncSession, principal: Principal, sdkappid: int) -> Application:
        app = await session.get(Application, sdkappid)
        if app is None or app.account_id not in principal.roles:
            raise NotFound(f"no application {sdkappid}")
        return app

    async def list(
        self,
        session: AsyncSession,
        principal: Principal,
        account_id: str,
        *,
        q: str | None = None,
        status: AppStatus | None = None,
        tag: str | None = None,
    ) -> list[Application]:
        principal.role_in(account_id)
        stmt = select(Application).where(Application.account_id == account_id)
        if status is not None:
            stmt = stmt.where(Application.status == status)
        apps = list((await session.execute(stmt.order_by(Application.created_at))).scalars())
        if q:
            needle = q.casefold()
            apps = [a for a in apps if needle in a.name.casefold() or needle in str(a.sdkappid)]
        if tag:
            k, _, v = tag.partition("=")
            apps = [a for a in apps if k in (a.tags or {}) and (not v or a.tags[k] == v)]
        return apps

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        sdkappid: int,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        permission_key_enabled: bool | None = None,
        consent_policy: ConsentPolicy | None = None,
    ) -> Application:
        app = await self.get(session, principal, sdkappid)
        principal.require_owner(app.account_id)
        if app.status is AppStatus.TERMINATED:
            raise InvalidState("a terminated application cannot be changed")
        before = app_public(app)
        if name is not None:
            app.name = validate_name(name)
        if description is not None:
            if len(description) > 2000:
                raise InvalidInput("description must be at most 2000 characters")
            app.description = description
        if tags is not None:
            app.tags = validate_tags(tags)
        if permission_key_enabled is not None:
            app.permission_key_enabled = permission_key_enabled
        if consent_policy is not None:
            app.consent_policy = consent_policy
        after = app_public(app)
        if after == before:
            return app
        app.updated_at = self.ctx.clock.now()
        changed = [k for k in after if after[k] != before[k]]
        await self.oplog.append(
            session,
            principal=principal,
            action="app.update",
            account_id=app.account_id,
            obj={"type": "application", "id": sdkappid},
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
        return app

    async def set_status(
        self, session: AsyncSession, principal: Principal, sdkappid: int, status: AppStatus
    ) -> Application:
        app = await self.get(session, principal, sdkappid)
        principal.require_owner(app.account_id)
        if app.status is AppStatus.TERMINATED:
            raise InvalidState("the application is terminated; this cannot be undone")
        if app.status is status:
            return app
        before = app.status
        now = self.ctx.clock.now()
        app.status = status
        app.updated_at = now
        if status is AppStatus.TERMINATED:
            app.terminated_at = now
            if self._on_terminated is not None:
                await self._on_terminated(session, app)
        action = {
            AppStatus.ENABLED: "app.enable",
            AppStatus.DISABLED: "app.disable",
            AppStatus.TERMINATED: "app.terminate",
        }
        await self.oplog.append(
            session,
            principal=principal,
            action=action[status],
            account_id=app.account_id,
            obj={"type": "application", "id": sdkappid},
            before={"status": before.value},
            after={"status": status.value},
        )
        return app

    async def account_of(self, session: AsyncSession, sdkappid: int) -> str:
        """The id of the account owning ``sdkappid`` (the operator's CLI acts as that account)."""
        app = await session.get(Application, sdkappid)
        if app is None:
            raise NotFound(f"no application {sdkappid}")
        return app.account_id

    async def _current_key(self, session: AsyncSession, principal: Principal, sdkappid: int) -> Application:
        app = await self.get(session, principal, sdkappid)
        principal.require_owner(app.account_id)
        return app

    async def _signing_key(self, session: AsyncSession, app: Application) -> str:
        ctx = await self.entry_context(session, app.sdkappid)
        if ctx is None or not ctx.secret_keys:
            raise InvalidState(f"application {app.sdkappid} is {app.status.value}; it cannot issue tokens")
        return ctx.secret_keys[0]

    async def issue_usersig(
        self, session: AsyncSession, principal: Principal, sdkappid: int, userid: str, expire: int
    ) -> tuple[str, int]:
        """A UserSig signed with the app's current key (owners only; recorded); (token, expires at)."""
        app = await self._current_key(session, principal, sdkappid)
        key = await self._signing_key(session, app)
        now = int(self.ctx.clock.time())
        token = gen_usersig(sdkappid, key, userid, expire, now=now)
        await self.oplog.append(
            session,
            principal=principal,
            action="app.usersig.issue",
            account_id=app.account_id,
            obj={"type": "application", "id": sdkappid},
            after={"userid": userid, "expire": expire},
        )
        return token, now + expire

    async def issue_privatemapkey(
        self,
        session: AsyncSession,
        principal: Principal,
        sdkappid: int,
        userid: str,
        expire: int,
        *,
        room_id: int | None,
        str_room_id: str | None,
        privilege: int,
    ) -> tuple[str, int]:
        """Room-bound privileges signed with the app's current key (owners only; recorded)."""
        if (room_id is None) == (str_room_id is None):
            raise InvalidInput("give exactly one of roomid or strroomid")
        app = await self._current_key(session, principal, sdkappid)
        key = await self._signing_key(session, app)
        now = int(self.ctx.clock.time())
        token = gen_privatemapkey(
            sdkappid,
            key,
            userid,
            expire,
            room_id=room_id,
            str_room_id=str_room_id,
            privilege=privilege,
            now=now,
        )
        await self.oplog.append(
            session,
            principal=principal,
            action="app.privatemapkey.issue",
            account_id=app.account_id,
            obj={"type": "application", "id": sdkappid},
            after={"userid": userid, "expire": expire, "privilege": privilege},
        )
        return token, now + expire

    async def use_key(
        self, session: AsyncSession, principal: Principal, sdkappid: int, purpose: str
    ) -> str | None:
        """The app's current SDKSecretKey for a tool of the operator (the CLI's ``usersig gen``); the use
        is recorded. None when the app is not enabled or has no key."""
        ctx = await self.entry_context(session, sdkappid)
        if ctx is None or not ctx.secret_keys:
            return None
        await self.oplog.append(
            session,
            principal=principal,
            action="app.key.use",
            account_id=ctx.account_id,
            obj={"type": "application", "id": sdkappid},
            extra={"purpose": purpose},
        )
        return ctx.secret_keys[0]

    async def demo_usersig(self, session: AsyncSession, user_id: str, expire: int) -> tuple[int, str]:
        """A UserSig of the demo application first start created, if it is still enabled in an active
        account (dev mode's endpoint); raises :class:`DemoUnavailable` otherwise."""
        setting = await session.get(DeploymentSetting, DEMO_SDKAPPID)
        if setting is None:
            raise DemoUnavailable("this deployment has no demo application (none was created at first start)")
        sdkappid = int(setting.value)
        row = (
            await session.execute(
                select(Application.status, Account.status)
                .join(Account, Account.id == Application.account_id)
                .where(Application.sdkappid == sdkappid)
            )
        ).first()
        if row is None or row[0] is not AppStatus.ENABLED or row[1] is not AccountStatus.ACTIVE:
            raise DemoUnavailable(
                "the demo application created at first start is disabled or gone; the dev endpoint signs "
                "for no other application"
            )
        entry = await self.entry_context(session, sdkappid)
        if entry is None or not entry.secret_keys:
            raise DemoUnavailable("the demo application has no usable key")
        return sdkappid, gen_usersig(sdkappid, entry.secret_keys[0], user_id, expire)

    async def entry_context(self, session: AsyncSession, sdkappid: int) -> AppEntryContext | None:
        """Read fresh on every entry: a disable or termination takes effect at once (nothing cached)."""
        return await self.load_entry_context(self.ctx, session, sdkappid)

    @staticmethod
    async def load_entry_context(
        ctx: ControlContext, session: AsyncSession, sdkappid: int
    ) -> AppEntryContext | None:
        app = await session.get(Application, sdkappid)
        if app is None:
            return None
        account = await session.get(Account, app.account_id)
        if account is None:
            return None
        status = app.status.value
        if account.status is not AccountStatus.ACTIVE:
            status = AppStatus.TERMINATED.value
        keys: tuple[str, ...] = ()
        if status == AppStatus.ENABLED.value:
            keys = tuple(
                await KeyService(ctx, OplogService(ctx)).verification_keys(session, account, sdkappid)
            )
        return AppEntryContext(
            sdkappid=app.sdkappid,
            account_id=app.account_id,
            status=status,
            region=app.region,
            secret_keys=keys,
            permission_key_enabled=app.permission_key_enabled,
            consent_policy=app.consent_policy.value,
        )
