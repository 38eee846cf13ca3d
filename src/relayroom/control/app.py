"""create_app(): the control plane's HTTP server and its lifespan (database, keys, workers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from relayroom import __version__
from relayroom.clock import Clock, SystemClock
from relayroom.cluster.identity import check_cluster_keys, key_fingerprint
from relayroom.config import Settings
from relayroom.control import limits, observability
from relayroom.control.accounts.endpoints import router as accounts_router
from relayroom.control.applications.endpoints import router as applications_router
from relayroom.control.bootstrap import FirstStart, bootstrap_if_empty
from relayroom.control.cloudapi.endpoints import router as cloudapi_router
from relayroom.control.cloudapi.endpoints import too_large as cloudapi_too_large
from relayroom.control.cloudapi.runtime import CloudRuntime
from relayroom.control.context import ControlContext
from relayroom.control.errors import ERROR_RESPONSES, AppError
from relayroom.control.headers import SecurityHeadersMiddleware
from relayroom.control.keys.endpoints import router as keys_router
from relayroom.control.live.endpoints import router as live_router
from relayroom.control.oplog.chain import derive_chain_key
from relayroom.control.oplog.endpoints import router as oplog_router
from relayroom.control.oplog.integrity import OplogIntegrity
from relayroom.control.oplog.integrity import register_metrics as register_oplog_metrics
from relayroom.control.privacy.endpoints import router as privacy_router
from relayroom.control.rooms.manager import RoomEvent, RoomLimits, RoomManager, RoomManagerParams
from relayroom.control.services import Services
from relayroom.control.signaling.connections import SignalConnections
from relayroom.control.signaling.endpoints import router as signaling_router
from relayroom.control.signaling.ice_servers import ice_servers_for
from relayroom.control.usage.endpoints import router as usage_router
from relayroom.control.usage.privacy import CustomerDataProvider
from relayroom.control.web import router as web_router  # /sdk, /demo, dev UserSig
from relayroom.control.web_console import router as web_console_router  # /console/
from relayroom.control.webhooks.endpoints import router as webhooks_router
from relayroom.control.whip.endpoints import router as whip_router
from relayroom.crypto.keyring import Keyring, load_master_key
from relayroom.crypto.signing import DeploymentSigner
from relayroom.datadir import secure_dir
from relayroom.media.metrics import MediaCollector
from relayroom.media.service import MediaService
from relayroom.media.types import IceTcpOptions, MediaParams
from relayroom.storage.db import Database

log = logging.getLogger("relayroom.control")


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, "details": details or {}}}
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def build_context(settings: Settings, clock: Clock) -> ControlContext:
    secure_dir(settings.data_dir)  # 0700: keys, database, checkpoints (relayroom/datadir.py)
    master = load_master_key(settings.data_dir, settings.master_key)
    return ControlContext(
        settings=settings,
        db=Database(settings.effective_database_url),
        keyring=Keyring(master),
        signer=DeploymentSigner.load_or_create(settings.data_dir, settings.signing_key_file),
        clock=clock,
        pseudonym_secret=ControlContext.derive_pseudonym_secret(master),
        oplog_key=derive_chain_key(master),
    )


class RoomObservers:
    """Fans the room manager's events out to every subscriber (webhooks, usage metering, ...).

    Called on the room manager's loop: subscribers must only enqueue, never block.
    """

    def __init__(self) -> None:
        self._subscribers: list[Callable[[RoomEvent], None]] = []

    def subscribe(self, cb: Callable[[RoomEvent], None]) -> None:
        self._subscribers.append(cb)

    def __call__(self, event: RoomEvent) -> None:
        for cb in self._subscribers:
            try:
                cb(event)
            except Exception:
                log.exception("room event subscriber failed", extra={"event": event.type.value})


class RoomsLiveControl:
    """The privacy engine's handle on live rooms (close an app's rooms, remove a withdrawn user)."""

    def __init__(self, rooms: RoomManager) -> None:
        self._rooms = rooms

    async def close_app_rooms(self, sdkappid: int) -> int:
        closed = 0
        for room in self._rooms.list_rooms(sdkappid):
            closed += int(await self._rooms.dismiss_room(room["roomKey"]))
        return closed

    async def remove_user(self, sdkappid: int, userid: str) -> int:
        removed = 0
        for room in self._rooms.list_rooms(sdkappid):
            removed += len(await self._rooms.remove_users(room["roomKey"], [userid]))
        return removed

    def presence(self, sdkappid: int, userid: str) -> list[dict[str, Any]]:
        out = []
        for room in self._rooms.list_rooms(sdkappid):
            r = self._rooms.get_room(room["roomKey"])
            if r is not None and userid in r.participants:
                out.append({"roomId": room["roomId"], "scene": room["scene"], "present": True})
        return out


async def _retention_loop(services: Services) -> None:
    """Purges and pending requests on a schedule (hourly by default) after the start-up catch-up."""
    interval = services.ctx.settings.retention.schedule_minutes * 60
    while True:
        await asyncio.sleep(interval)
        try:
            # One node of a cluster runs the schedule at a time (the jobs themselves are claimed too).
            async with services.ctx.db.try_advisory_lock("retention.schedule") as mine:
                if mine:
                    await services.retention.run_due()
                    await services.requests.process_pending()
        except Exception:
            log.exception("retention run failed; retried at the next tick")


async def _start_media(
    settings: Settings, services: Services, observers: RoomObservers
) -> tuple[MediaService | None, RoomManager | None]:
    """Media workers and the room manager; skipped when media is disabled (control-plane-only tests)."""
    if not settings.media.enabled:
        return None, None
    from relayroom.control.applications.directory import DbAppDirectory

    m = settings.media
    media = MediaService(
        MediaParams(
            workers=m.workers,
            host=m.host,
            ports=m.ports[: m.workers],
            announced_ip=m.announced_ip,
            loopback_only=m.loopback_only,
            consent_timeout_s=m.consent_timeout_s,
            tcp_ports=m.tcp_ports[: m.workers],
            pipe_threshold=m.pipe_threshold,
            worker_capacity=m.worker_capacity,
            tcp=IceTcpOptions(
                enabled=m.tcp_enabled,
                max_frame_bytes=m.tcp_max_frame_bytes,
                auth_timeout_s=m.tcp_auth_timeout_s,
                max_pending=m.tcp_max_pending,
                max_connections=m.tcp_max_connections,
                send_buffer_bytes=m.tcp_send_buffer_bytes,
            ),
        )
    )
    await media.start()
    r = settings.rooms
    rooms = RoomManager(
        RoomManagerParams(
            media=media,
            directory=DbAppDirectory(services),
            node_region=settings.region,
            consent=services.consent,
            limits=RoomLimits(
                rtc_max_members=r.rtc_max_members,
                live_max_anchors=r.live_max_anchors,
                live_max_audience=r.live_max_audience,
                idle_timeout_s=r.idle_timeout_s,
                # clients beat at least three times per idle timeout, so a short timeout (a setting)
                # never removes a member whose beat is merely late
                heartbeat_interval_s=min(10.0, r.idle_timeout_s / 3),
            ),
            observer=observers,
            wall_clock=services.ctx.clock.time,  # UserSig/PrivateMapKey windows follow the app's clock
        )
    )
    await rooms.start()
    return media, rooms


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_first_start: Callable[[FirstStart], None] | None = None,
) -> FastAPI:
    clock = clock or SystemClock()
    registry = CollectorRegistry()
    http_requests = Counter(
        "relayroom_http_requests", "HTTP requests served", ["method", "route", "status"], registry=registry
    )
    http_latency = Histogram(
        "relayroom_http_request_seconds", "HTTP request latency", ["route"], registry=registry
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        media: MediaService | None = None
        rooms: RoomManager | None = None
        ctx = build_context(settings, clock)
        await ctx.db.migrate()
        # A node with keys other than the database's refuses here (relayroom/cluster/identity.py).
        await check_cluster_keys(ctx.db, key_fingerprint(ctx.keyring, ctx.signer, ctx.oplog_key))
        services = Services.build(ctx)
        app.state.services = services
        # Before anything appends to the operation log: key a legacy chain, verify it, compare it with
        # the data dir's checkpoints, start the automatic checkpoints (control/oplog/integrity.py).
        integrity = OplogIntegrity(services)
        app.state.oplog_integrity = integrity
        await integrity.start()
        # usage records, call history and callback outbox are reached by purges and DSARs
        services.retention.subject_data_providers.append(CustomerDataProvider())
        # Catch-up before anything is served: every purge due (also after days of downtime) runs
        # to completion first; late ones are recorded as SLA breaches.
        caught_up = await services.retention.run_due()
        if caught_up:
            log.info("retention catch-up", extra={"purges": len(caught_up)})
        await services.requests.process_pending()
        fs = await bootstrap_if_empty(services)
        if fs is not None and on_first_start is not None:
            on_first_start(fs)
        observers = RoomObservers()
        app.state.room_observers = observers
        # call history, webhook outbox + delivery, usage meter (subscribers only enqueue)
        cloud = CloudRuntime(app, services, observers)
        await cloud.start()
        media, rooms = await _start_media(settings, services, observers)
        media_metrics = MediaCollector(media.tcp_stats, media.pipe_stats) if media is not None else None
        if media_metrics is not None:
            registry.register(media_metrics)  # ICE-TCP counts on /metrics
        app.state.media = media
        app.state.rooms = rooms
        if rooms is not None:
            services.consent.live = RoomsLiveControl(rooms)
        scheduler = asyncio.create_task(_retention_loop(services), name="retention-scheduler")
        app.state.ready = True
        log.info("control plane ready", extra={"region": settings.region, "db": ctx.db.dialect})
        try:
            yield
        finally:
            app.state.ready = False
            scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduler
            # drain: rooms first (members are told), then workers, then the database
            if rooms is not None:
                await rooms.close()
            if getattr(app.state, "whip", None) is not None:
                await app.state.whip.close()  # WHIP/WHEP sessions ended with their rooms
            await cloud.close()  # after the rooms' last events, before the database goes
            if media is not None:
                await media.close()
            if media_metrics is not None:
                registry.unregister(media_metrics)
            await integrity.close()  # a last checkpoint of the state at shutdown
            await ctx.db.dispose()

    app = FastAPI(
        title="RelayRoom",
        version=__version__,
        description="Console API of RelayRoom, a self-hosted TRTC-compatible real-time audio/video platform.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.ready = False
    app.state.settings = settings
    app.state.signal_connections = SignalConnections()  # told why on shutdown (control/server.py)
    register_oplog_metrics(registry, lambda: getattr(app.state, "oplog_integrity", None))
    app.state.ice_servers = ice_servers_for(settings.turn, clock)

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        response = _error(exc.status_code, exc.code, exc.message, exc.details)
        response.headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After on a 429
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_input", _validation_message(exc))

    async def _storage(_: Request, exc: Exception) -> JSONResponse:
        # disk full, database down or locked for too long: nothing was committed; the client may retry.
        # (asyncpg's failure to connect reaches us as the bare ConnectionRefusedError.)
        cause = getattr(exc, "orig", None) or exc
        log.error("database operation failed", extra={"error": cause.__class__.__name__})
        response = _error(503, "storage_unavailable", "The database could not be written; retry later.")
        response.headers["Retry-After"] = "5"
        return response

    for storage_error in (OperationalError, InterfaceError, ConnectionError):
        app.add_exception_handler(storage_error, _storage)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.middleware("http")
    async def _metrics(request: Request, call_next: Callable[[Request], Any]) -> Response:
        start = time.perf_counter()
        response: Response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        http_requests.labels(request.method, route, str(response.status_code)).inc()
        http_latency.labels(route).observe(time.perf_counter() - start)
        return response

    @app.get("/healthz", tags=["system"])
    async def healthz() -> JSONResponse:
        ready = bool(app.state.ready)
        return JSONResponse(
            status_code=200 if ready else 503,
            content={
                "status": "ok" if ready else "starting",
                "version": __version__,
                "region": settings.region,
            },
        )

    @app.get("/metrics", tags=["system"], include_in_schema=False)
    async def metrics() -> Response:
        await observability.refresh(app)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    observability.install(app, settings, registry)  # /readyz, /metrics collectors, debug introspection
    for r in (
        accounts_router,
        applications_router,
        keys_router,
        oplog_router,
        privacy_router,
        live_router,
        signaling_router,
        webhooks_router,
        usage_router,
        cloudapi_router,  # POST / (TRTC server API)
        web_router,
        web_console_router,  # the web console at /console/ (GET / redirects)
        whip_router,  # WHIP ingest and WHEP playback (/whip/..., /whep/...)
    ):
        app.include_router(r)
    limits.install(app, cloudapi_too_large)  # body size and JSON depth, before anything reads a body
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: also on the limits' own answers
    return app
