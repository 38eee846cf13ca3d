"""Accounts (customers), console users, memberships and sign-in tokens."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.context import ControlContext
from relayroom.control.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidState,
    NotAuthenticated,
    NotFound,
)
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import Principal
from relayroom.storage.models import Account, AccountStatus, ApiToken, Membership, Role, User

_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{3,128}$")
TOKEN_PREFIX = "rr_"
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 recommendations)
# Verifying against a dummy hash when the user is unknown keeps timing uniform.
_DUMMY_HASH = _hasher.hash("relayroom-dummy-password")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    expires_at: str | None


class AccountService:
    def __init__(self, ctx: ControlContext, oplog: OplogService) -> None:
        self.ctx = ctx
        self.oplog = oplog

    # --- users -------------------------------------------------------------------------
    async def create_user(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        username: str,
        password: str,
        is_admin: bool = False,
    ) -> User:
        if not _USERNAME.match(username):
            raise InvalidInput("username must be 3-128 characters of letters, digits and _ . @ + -")
        if len(password) < 10:
            raise InvalidInput("password must be at least 10 characters")
        if is_admin and not principal.is_admin:
            raise Forbidden("only a deployment admin can create admins")
        exists = (await session.execute(select(User.id).where(User.username == username))).first()
        if exists:
            raise Conflict(f"username {username!r} is taken")
        user = User(
            id=str(uuid.uuid4()),
            username=username,
            password_hash=_hasher.hash(password),
            is_admin=is_admin,
            disabled=False,
            created_at=self.ctx.clock.now(),
        )
        session.add(user)
        await session.flush()
        await self.oplog.append(
            session,
            principal=principal,
            action="user.create",
            account_id=None,
            obj={"type": "user", "id": user.id},
            after={"username": user.username, "is_admin": user.is_admin},
        )
        return user

    async def user_by_username(self, session: AsyncSession, username: str) -> User:
        user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    async def get_user(self, session: AsyncSession, user_id: str) -> User | None:
        return await session.get(User, user_id)

    async def login(
        self, session: AsyncSession, username: str, password: str, *, name: str = "session"
    ) -> IssuedToken:
        user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
        try:
            # argon2 takes tens of milliseconds of CPU by design: in a thread, the event loop (signalling,
            # every other request) keeps going while a sign-in is checked
            await asyncio.to_thread(_hasher.verify, user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            raise NotAuthenticated("wrong username or password") from None
        if user is None:
            raise NotAuthenticated("wrong username or password")
        if user.disabled:
            raise NotAuthenticated("this user is disabled")
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        issued = await self.issue_token(session, user, name=name)
        await self.oplog.append(
            session,
            principal=Principal(actor=f"user:{user.id}", user_id=user.id),
            action="user.login",
            account_id=None,
            obj={"type": "user", "id": user.id},
        )
        return issued

    async def issue_token(
        self, session: AsyncSession, user: User, *, name: str = "session", ttl: timedelta | None = None
    ) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.ctx.clock.now()
        ttl = ttl if ttl is not None else timedelta(hours=self.ctx.settings.session_ttl_hours)
        row = ApiToken(
            id=str(uuid.uuid4()),
            user_id=user.id,
            token_hash=hash_token(token),
            name=name,
            created_at=now,
            expires_at=now + ttl,
        )
        session.add(row)
        await session.flush()
        return IssuedToken(
            token=token, token_id=row.id, expires_at=row.expires_at.isoformat() if row.expires_at else None
        )

    async def authenticate(self, session: AsyncSession, token: str) -> Principal:
        if not token.startswith(TOKEN_PREFIX):
            raise NotAuthenticated("not a RelayRoom token")
        now = self.ctx.clock.now()
        row = (
            await session.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        ).scalar_one_or_none()
        if (
            row is None
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
        ):
            raise NotAuthenticated("the token is unknown, revoked or expired")
        user = await session.get(User, row.user_id)
        if user is None or user.disabled:
            raise NotAuthenticated("the token's user is disabled")
        return await self.principal_for(session, user)

    async def principal_for(self, session: AsyncSession, user: User) -> Principal:
        rows = (
            await session.execute(
                select(Membership.account_id, Membership.role)
                .join(Account, Account.id == Membership.account_id)
                .where(Membership.user_id == user.id, Account.status == AccountStatus.ACTIVE)
            )
        ).all()
        return Principal(
            actor=f"user:{user.id}",
            user_id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            roles={a: r for a, r in rows},
        )

    async def revoke_token(self, session: AsyncSession, token: str) -> None:
        row = (
            await session.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        ).scalar_one_or_none()
        if row is not None and row.revoked_at is None:
            row.revoked_at = self.ctx.clock.now()

    # --- accounts ----------------------------------------------------------------------
    async def create_account(
        self, session: AsyncSession, principal: Principal, *, name: str, owner_user_id: str
    ) -> Account:
        if not principal.is_admin:
            raise Forbidden("only a deployment admin can create accounts")
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidInput("account name must be 1-200 characters")
        owner = await session.get(User, owner_user_id)
        if owner is None:
            raise NotFound("no such user to own the account")
        account_id = str(uuid.uuid4())
        now = self.ctx.clock.now()
        account = Account(
            id=account_id,
            name=name,
            status=AccountStatus.ACTIVE,
            data_key_wrapped=self.ctx.keyring.new_data_key(account_id),
            created_at=now,
        )
        session.add(account)
        session.add(Membership(account_id=account_id, user_id=owner.id, role=Role.OWNER, created_at=now))
        await session.flush()
        await self.oplog.append(
            session,
            principal=principal,
            action="account.create",
            account_id=account_id,
            obj={"type": "account", "id": account_id},
            after={"name": name, "owner": owner.id},
        )
        return account

    async def get_account(self, session: AsyncSession, principal: Principal, account_id: str) -> Account:
        principal.role_in(account_id)
        account = await session.get(Account, account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise NotFound("no such account")
        return account

    async def all_accounts(self, session: AsyncSession, principal: Principal) -> list[Account]:
        """Every account, oldest first (deployment admins: the operator's view)."""
        if not principal.is_admin:
            raise Forbidden("only a deployment admin can list every account")
        return list((await session.execute(select(Account).order_by(Account.created_at))).scalars())

    async def list_accounts(self, session: AsyncSession, principal: Principal) -> list[tuple[Account, Role]]:
        if not principal.roles:
            return []
        rows = (await session.execute(select(Account).where(Account.id.in_(principal.roles)))).scalars()
        return [(a, principal.roles[a.id]) for a in rows if a.status is AccountStatus.ACTIVE]

    async def rename_account(
        self, session: AsyncSession, principal: Principal, account_id: str, name: str
    ) -> Account:
        principal.require_owner(account_id)
        account = await self.get_account(session, principal, account_id)
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidInput("account name must be 1-200 characters")
        before = account.name
        account.name = name
        await self.oplog.append(
            session,
            principal=principal,
            action="account.update",
            account_id=account_id,
            obj={"type": "account", "id": account_id},
            before={"name": before},
            after={"name": name},
        )
        return account

    # --- members -----------------------------------------------------------------------
    async def list_members(
        self, session: AsyncSession, principal: Principal, account_id: str
    ) -> list[tuple[User, Membership]]:
        principal.role_in(account_id)
        rows = (
            await session.execute(
                select(User, Membership)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.account_id == account_id)
                .order_by(User.username)
            )
        ).all()
        return [(u, m) for u, m in rows]

    async def add_member(
        self,
        session: AsyncSession,
        principal: Principal,
        account_id: str,
        *,
        username: str,
        role: Role,
        password: str | None,
    ) -> tuple[User, Membership]:
        """Add an existing user by name, or create the user when a password is given."""
        principal.require_owner(account_id)
        user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
        if user is None:
            if password is None:
                raise NotFound(f"no user {username!r}; give a password to create one")
            user = await self.create_user(session, principal, username=username, password=password)
        elif password is not None:
            raise Conflict(f"user {username!r} already exists; add them without a password")
        if await self._membership(session, account_id, user.id) is not None:
            raise Conflict(f"{username!r} is already a member")
        m = Membership(account_id=account_id, user_id=user.id, role=role, created_at=self.ctx.clock.now())
        session.add(m)
        await session.flush()
        await self.oplog.append(
            session,
            principal=principal,
            action="member.add",
            account_id=account_id,
            obj={"type": "user", "id": user.id},
            after={"username": username, "role": role.value},
        )
        return user, m

    async def _membership(self, session: AsyncSession, account_id: str, user_id: str) -> Membership | None:
        q = select(Membership).where(Membership.account_id == account_id, Membership.user_id == user_id)
        return (await session.execute(q)).scalar_one_or_none()

    async def _owner_count(self, session: AsyncSession, account_id: str) -> int:
        rows = (
            await session.execute(
                select(Membership.id).where(
                    Membership.account_id == account_id, Membership.role == Role.OWNER
                )
            )
        ).all()
        return len(rows)

    async def set_member_role(
        self, session: AsyncSession, principal: Principal, account_id: str, user_id: str, role: Role
    ) -> Membership:
        principal.require_owner(account_id)
        m = await self._membership(session, account_id, user_id)
        if m is None:
            raise NotFound("no such member")
        if (
            m.role is Role.OWNER
            and role is not Role.OWNER
            and await self._owner_count(session, account_id) == 1
        ):
            raise InvalidState("an account needs at least one owner")
        before = m.role
        m.role = role
        await self.oplog.append(
            session,
            principal=principal,
            action="member.update",
            account_id=account_id,
            obj={"type": "user", "id": user_id},
            before={"role": before.value},
            after={"role": role.value},
        )
        return m

    async def remove_member(
        self, session: AsyncSession, principal: Principal, account_id: str, user_id: str
    ) -> None:
        principal.require_owner(account_id)
        m = await self._membership(session, account_id, user_id)
        if m is None:
            raise NotFound("no such member")
        if m.role is Role.OWNER and await self._owner_count(session, account_id) == 1:
            raise InvalidState("an account needs at least one owner")
        await session.delete(m)
        await self.oplog.append(
            session,
            principal=principal,
            action="member.remove",
            account_id=account_id,
            obj={"type": "user", "id": user_id},
        )
