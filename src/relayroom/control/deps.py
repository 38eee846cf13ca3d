"""FastAPI dependencies: the container's services, a request-scoped transaction, and the caller.

Endpoints name what they need (``RoomsDep``, ``WebhooksDep``...); every one of these reads the one
container the app factory built (:func:`container_of`), never app state. Tests replace a
piece with ``app.dependency_overrides`` or by building the container with other
:class:`~relayroom.control.container.ContainerParams`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from relayroom.cluster.placement import RoomPlacement
from relayroom.cluster.runtime import ClusterRuntime
from relayroom.config import Settings
from relayroom.control.accounts.throttle import LoginThrottle
from relayroom.control.cloudapi.history import CallHistory
from relayroom.control.cloudapi.ratelimit import RateLimiter
from relayroom.control.cloudapi.replay import ReplayCache
from relayroom.control.container import Container
from relayroom.control.errors import AppError, NotAuthenticated
from relayroom.control.oplog.integrity import OplogIntegrity
from relayroom.control.principal import Principal
from relayroom.control.rooms.ids import MAX_SDKAPPID
from relayroom.control.rooms.manager import RoomManager
from relayroom.control.rooms.moderation import ModerationService
from relayroom.control.services import Services
from relayroom.control.signaling.connections import SignalConnections
from relayroom.control.signaling.ice_servers import IceServers
from relayroom.control.usage.meter import UsageMeter
from relayroom.control.webhooks.service import WebhookService
from relayroom.media.service import MediaService

T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/login")


class NotReady(AppError):
    status_code = 503
    code = "not_ready"


class MediaUnavailable(AppError):
    status_code = 503
    code = "media_unavailable"


class RelayRoomApp(FastAPI):
    """The app ``create_app`` returns: it carries its container while its lifespan runs."""

    container: Container | None = None
    ready: bool = False  # /healthz: 200 once the container has started, 503 before and while draining
    entry_metrics: Any = None  # /metrics' observer of enter outcomes (control/observability), if installed


def find_container(app: ASGIApp) -> Container | None:
    """The container of an app made by ``create_app``, once its lifespan has started; else None."""
    return app.container if isinstance(app, RelayRoomApp) else None


def container_of(app: ASGIApp) -> Container:
    """The one typed accessor of the container (tests use it too)."""
    found = find_container(app)
    if found is None:
        raise NotReady("the server is starting")
    return found


def get_container(conn: HTTPConnection) -> Container:
    return container_of(conn.app)


ContainerDep = Annotated[Container, Depends(get_container)]


def from_container(read: Callable[[Container], T]) -> Callable[[Container], T]:
    """A dependency that hands an endpoint one service of the container: one line per service below,
    typed by the lambda (mypy infers ``T`` from it), each a named function that tests may override
    (``app.dependency_overrides[get_ice_servers]``)."""

    def dependency(c: ContainerDep) -> T:
        return read(c)

    return dependency


get_services = from_container(lambda c: c.services)
get_settings = from_container(lambda c: c.settings)
get_rooms_or_none = from_container(lambda c: c.rooms)
get_media = from_container(lambda c: c.media)
get_history = from_container(lambda c: c.history)
get_webhooks = from_container(lambda c: c.webhooks)
get_meter = from_container(lambda c: c.meter)
get_rate_limiter = from_container(lambda c: c.rate_limiter)
get_replay_cache = from_container(lambda c: c.replay_cache)
get_login_throttle = from_container(lambda c: c.login_throttle)
get_integrity = from_container(lambda c: c.integrity)
get_moderation = from_container(lambda c: c.moderation)
get_signal_connections = from_container(lambda c: c.signal_connections)
get_ice_servers = from_container(lambda c: c.ice_servers)


def get_rooms(rooms: Annotated[RoomManager | None, Depends(get_rooms_or_none)]) -> RoomManager:
    if rooms is None:
        raise MediaUnavailable("this node runs without media workers; no rooms are live here")
    return rooms


def get_entry_metrics(conn: HTTPConnection) -> Any:
    """The signalling endpoint's observer of each enter's outcome (None on an app without /metrics)."""
    return conn.app.entry_metrics if isinstance(conn.app, RelayRoomApp) else None


get_cluster = from_container(lambda c: c.cluster)  # None: a single node without redis_url
get_placement = from_container(lambda c: c.placement)


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RoomsDep = Annotated[RoomManager, Depends(get_rooms)]  # 503 media_unavailable on a node without media
OptionalRoomsDep = Annotated[RoomManager | None, Depends(get_rooms_or_none)]
MediaDep = Annotated[MediaService | None, Depends(get_media)]
HistoryDep = Annotated[CallHistory, Depends(get_history)]
WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]
MeterDep = Annotated[UsageMeter, Depends(get_meter)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
ReplayCacheDep = Annotated[ReplayCache, Depends(get_replay_cache)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
IntegrityDep = Annotated[OplogIntegrity, Depends(get_integrity)]
ModerationDep = Annotated[ModerationService, Depends(get_moderation)]
EntryMetricsDep = Annotated[Any, Depends(get_entry_metrics)]
SignalConnectionsDep = Annotated[SignalConnections, Depends(get_signal_connections)]
IceServersDep = Annotated[IceServers, Depends(get_ice_servers)]
ClusterDep = Annotated[ClusterRuntime | None, Depends(get_cluster)]
PlacementDep = Annotated[RoomPlacement | None, Depends(get_placement)]

# SDKAppIDs are unsigned 32-bit (TRTC, rooms/ids.py); a bigger number is invalid input, not a database
# overflow.
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
