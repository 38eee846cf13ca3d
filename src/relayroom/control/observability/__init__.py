"""Operational views of the control plane: /readyz, the /metrics collectors, the debug introspection.

Kept apart from the app factory: ``install`` is the one call create_app makes (and ``refresh`` the one
its /metrics handler awaits); what is read from the running services goes through small typed calls
(metrics.py, readiness.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from relayroom.config import Settings


def install(app: FastAPI, settings: Settings, registry: CollectorRegistry) -> None:
    from relayroom.control.observability import introspect, metrics, readiness

    collector, entries = metrics.register(registry)
    app.state.metrics_collector = collector
    app.state.entry_metrics = entries  # the signalling endpoint records each enter's outcome
    router = APIRouter()

    @router.get("/readyz", tags=["system"])
    async def readyz() -> JSONResponse:
        """200 when this node can take new rooms (started, not draining, a media worker up, database
        answering), else 503 with the reasons."""
        ready, detail = await readiness.readiness(app.state)
        body: dict[str, Any] = {"status": "ready" if ready else "not_ready", **detail}
        return JSONResponse(status_code=200 if ready else 503, content=body)

    app.include_router(router)
    if settings.debug_introspection:
        introspect.install(app)


async def refresh(app: FastAPI) -> None:
    """Gather what the next /metrics render shows (each worker asked once, with a short timeout)."""
    collector = getattr(app.state, "metrics_collector", None)
    if collector is not None:
        await collector.refresh(app.state)
