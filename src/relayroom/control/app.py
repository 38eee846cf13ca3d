"""create_app(): the control plane's HTTP server and its lifespan (database, keys, workers)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from relayroom import __version__
from relayroom.clock import Clock
from relayroom.config import Settings
from relayroom.control import limits, observability
from relayroom.control.accounts.endpoints import router as accounts_router
from relayroom.control.applications.endpoints import router as applications_router
from relayroom.control.bootstrap import FirstStart
from relayroom.control.cloudapi.endpoints import router as cloudapi_router
from relayroom.control.cloudapi.endpoints import too_large as cloudapi_too_large
from relayroom.control.container import ContainerParams, build_container
from relayroom.control.deps import RelayRoomApp
from relayroom.control.errors import ERROR_RESPONSES, AppError
from relayroom.control.headers import SecurityHeadersMiddleware
from relayroom.control.keys.endpoints import router as keys_router
from relayroom.control.live.endpoints import router as live_router
from relayroom.control.oplog.endpoints import router as oplog_router
from relayroom.control.oplog.integrity import register_metrics as register_oplog_metrics
from relayroom.control.privacy.endpoints import router as privacy_router
from relayroom.control.signaling.endpoints import router as signaling_router
from relayroom.control.usage.endpoints import router as usage_router
from relayroom.control.web import router as web_router  # /sdk, /demo, dev UserSig
from relayroom.control.web_console import router as web_console_router  # /console/
from relayroom.control.webhooks.endpoints import router as webhooks_router
from relayroom.control.whip.endpoints import router as whip_router
from relayroom.media.metrics import MediaCollector

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


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_first_start: Callable[[FirstStart], None] | None = None,
    params: ContainerParams | None = None,
) -> RelayRoomApp:
    """The app; its lifespan builds the service graph (control/container.py) and runs it.

    ``params`` carries test hooks and overrides (``clock`` is a shortcut for ``params.clock``).
    """
    params = params or ContainerParams()
    if clock is not None:
        params = replace(params, clock=clock)
    registry = CollectorRegistry()
    http_requests = Counter(
        "relayroom_http_requests", "HTTP requests served", ["method", "route", "status"], registry=registry
    )
    http_latency = Histogram(
        "relayroom_http_request_seconds", "HTTP request latency", ["route"], registry=registry
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings, params)
        web_app.container = container
        try:
            fs = await container.start()
            if fs is not None and on_first_start is not None:
                on_first_start(fs)
            media = container.media
            media_metrics = MediaCollector(media.tcp_stats, media.pipe_stats) if media is not None else None
            if media_metrics is not None:
                registry.register(media_metrics)  # ICE-TCP counts on /metrics
            web_app.ready = True
            log.info("control plane ready", extra={"region": settings.region, "db": container.ctx.db.dialect})
            try:
                yield
            finally:
                web_app.ready = False
                if media_metrics is not None:
                    registry.unregister(media_metrics)
        finally:
            await container.close()
            web_app.container = None

    app = web_app = RelayRoomApp(
        title="RelayRoom",
        version=__version__,
        description="Console API of RelayRoom, a self-hosted TRTC-compatible real-time audio/video platform.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    register_oplog_metrics(registry, lambda: web_app.container.integrity if web_app.container else None)

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
        return JSONResponse(
            status_code=200 if web_app.ready else 503,
            content={
                "status": "ok" if web_app.ready else "starting",
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
