"""FastAPI dependencies: the services, a request-scoped transaction, and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.errors import NotAuthenticated
from relayroom.control.principal import Principal
from relayroom.control.services import Services

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/login")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

# SDKAppIDs are unsigned 32-bit (TRTC); a bigger number is invalid input, not a database overflow.
MAX_SDKAPPID = 0xFFFFFFFF
SdkAppIdPath = Annotated[int, Path(ge=1, le=MAX_SDKAPPID)]
# The largest integer a database column holds (SQLite INTEGER, PostgreSQL BIGINT): the upper bound of
# ids and sequence numbers taken as input, so a bigger one is invalid input, not an overflow (500).
DB_INT_MAX = 2**63 - 1


async def write_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """Commits when the endpoint returns, rolls back on an error (services never commit)."""
    async with services.ctx.db.write() as session:
        yield session


async def read_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    async with services.ctx.db.read() as session:
        yield session


# scope="function": the transaction commits when the endpoint returns, before the response is sent, so
# a client that reads right after a write sees it (the default scope exits after the response).
WriteSession = Annotated[AsyncSession, Depends(write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(read_session, scope="function")]


async def get_principal(
    services: ServicesDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None:
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer <token>'")
    async with services.ctx.db.read() as session:
        return await services.accounts.authenticate(session, creds.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
