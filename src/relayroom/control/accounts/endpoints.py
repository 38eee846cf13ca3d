"""Sign-in, accounts and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from relayroom.control.accounts.schemas import (
    AccountCreateIn,
    AccountRoleOut,
    AccountUpdateIn,
    LoginIn,
    LoginOut,
    MemberIn,
    MemberOut,
    MemberRoleIn,
    MeOut,
    UserCreateIn,
    UserOut,
)
from relayroom.control.accounts.throttle import login as throttled_login
from relayroom.control.deps import LoginThrottleDep, PrincipalDep, ReadSession, ServicesDep, WriteSession
from relayroom.control.errors import Forbidden
from relayroom.storage.models import Role

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/auth/login", response_model=LoginOut)
async def login(
    body: LoginIn, request: Request, services: ServicesDep, throttle: LoginThrottleDep
) -> LoginOut:
    """Throttled per username and client address: 429 with Retry-After once either is locked."""
    client = request.client.host if request.client else None
    token, expires_at, user = await throttled_login(services, throttle, body.username, body.password, client)
    return LoginOut(
        token=token,
        expires_at=expires_at,
        user=UserOut(id=user.id, username=user.username, is_admin=user.is_admin),
    )


@router.post("/auth/logout", status_code=204)
async def logout(
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))],
) -> Response:
    if creds is not None:
        await services.accounts.revoke_token(session, creds.credentials)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(principal: PrincipalDep, services: ServicesDep, session: ReadSession) -> MeOut:
    accounts = await services.accounts.list_accounts(session, principal)
    return MeOut(
        user=UserOut(
            id=principal.user_id or "", username=principal.username or "", is_admin=principal.is_admin
        ),
        accounts=[AccountRoleOut(id=a.id, name=a.name, role=r, created_at=a.created_at) for a, r in accounts],
    )


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: UserCreateIn, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> UserOut:
    """Deployment admins create console users (owners add members to their accounts instead)."""
    if not principal.is_admin:
        raise Forbidden("only a deployment admin can create users")
    user = await services.accounts.create_user(
        session, principal, username=body.username, password=body.password, is_admin=body.is_admin
    )
    return UserOut(id=user.id, username=user.username, is_admin=user.is_admin)


@router.get("/accounts", response_model=list[AccountRoleOut])
async def list_accounts(
    principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> list[AccountRoleOut]:
    return [
        AccountRoleOut(id=a.id, name=a.name, role=r, created_at=a.created_at)
        for a, r in await services.accounts.list_accounts(session, principal)
    ]


@router.post("/accounts", response_model=AccountRoleOut, status_code=201)
async def create_account(
    body: AccountCreateIn, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> AccountRoleOut:
    owner_id = principal.user_id or ""
    if body.owner_username:
        owner_id = (await services.accounts.user_by_username(session, body.owner_username)).id
    account = await services.accounts.create_account(
        session, principal, name=body.name, owner_user_id=owner_id
    )

    return AccountRoleOut(id=account.id, name=account.name, role=Role.OWNER, created_at=account.created_at)


@router.get("/accounts/{account_id}", response_model=AccountRoleOut)
async def get_account(
    account_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> AccountRoleOut:
    account = await services.accounts.get_account(session, principal, account_id)
    return AccountRoleOut(
        id=account.id, name=account.name, role=principal.role_in(account_id), created_at=account.created_at
    )


@router.patch("/accounts/{account_id}", response_model=AccountRoleOut)
async def update_account(
    account_id: str,
    body: AccountUpdateIn,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> AccountRoleOut:
    account = await services.accounts.rename_account(session, principal, account_id, body.name)
    return AccountRoleOut(
        id=account.id, name=account.name, role=principal.role_in(account_id), created_at=account.created_at
    )


@router.get("/accounts/{account_id}/members", response_model=list[MemberOut])
async def list_members(
    account_id: str, principal: PrincipalDep, services: ServicesDep, session: ReadSession
) -> list[MemberOut]:
    rows = await services.accounts.list_members(session, principal, account_id)
    return [MemberOut(user_id=u.id, username=u.username, role=m.role, since=m.created_at) for u, m in rows]


@router.post("/accounts/{account_id}/members", response_model=MemberOut, status_code=201)
async def add_member(
    account_id: str, body: MemberIn, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> MemberOut:
    u, m = await services.accounts.add_member(
        session, principal, account_id, username=body.username, role=body.role, password=body.password
    )
    return MemberOut(user_id=u.id, username=u.username, role=m.role, since=m.created_at)


@router.patch("/accounts/{account_id}/members/{user_id}", response_model=MemberOut)
async def set_member_role(
    account_id: str,
    user_id: str,
    body: MemberRoleIn,
    principal: PrincipalDep,
    services: ServicesDep,
    session: WriteSession,
) -> MemberOut:
    m = await services.accounts.set_member_role(session, principal, account_id, user_id, body.role)
    user = await services.accounts.get_user(session, user_id)
    return MemberOut(user_id=user_id, username=user.username if user else "", role=m.role, since=m.created_at)


@router.delete("/accounts/{account_id}/members/{user_id}", status_code=204)
async def remove_member(
    account_id: str, user_id: str, principal: PrincipalDep, services: ServicesDep, session: WriteSession
) -> Response:
    await services.accounts.remove_member(session, principal, account_id, user_id)
    return Response(status_code=204)
