"""Operational views of the control plane: /readyz, the /metrics collectors, the debug introspection.

Kept apart from the app factory: ``install`` is the one call create_app makes (and ``refresh`` the one
its /metrics handler awaits); what is read from the running services goes through small typed calls
(metrics.py, readiness.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from relayroom.config import Settings
from relayroom.control.deps import RelayRoomApp, find_container

_collectors: dict[int, Any] = {}  # per app (tests build several apps in one process)


@dataclass
class NodeState:
    """What the operational views read of a running node: the container's services, and whether the
    app has started."""

    ready: bool = False
    services: Any = None
    rooms: Any = None
    media: Any = None
    webhooks: Any = None
    signal_connections: Any = None
    cluster: Any = None  # a cluster node's ClusterRuntime (redis, registry, draining); None: single node
    node_id: str = ""


def state_of(app: Any) -> NodeState:
    container = find_container(app)
    if container is None:
        return NodeState()
    return NodeState(
        ready=bool(getattr(app, "ready", False)),
        services=container.services,
        rooms=container.rooms,
        media=container.media,
        webhooks=container.webhooks,
        signal_connections=container.signal_connections,
        cluster=container.cluster,
        node_id=container.history.node_id,
    )


def install(app: FastAPI, settings: Settings, registry: CollectorRegistry) -> None:
    from relayroom.control.observability import introspect, metrics, readiness

    collector, entries = metrics.register(registry)
    _collectors[id(app)] = collector
    if isinstance(app, RelayRoomApp):
        app.entry_metrics = entries  # the signalling endpoint records each enter's outcome
    router = APIRouter()

    @router.get("/readyz", tags=["system"])
    async def readyz() -> JSONResponse:
        """200 when this node can take new rooms (started, not draining, a media worker up, database
        answering), else 503 with the reasons."""
        ready, detail = await readiness.readiness(state_of(app))
        body: dict[str, Any] = {"status": "ready" if ready else "not_ready", **detail}
        return JSONResponse(status_code=200 if ready else 503, content=body)

    app.include_router(router)
    if settings.debug_introspection:
        introspect.install(app)


async def refresh(app: FastAPI) -> None:
    """Gather what the next /metrics render shows (each worker asked once, with a short timeout)."""
    collector = _collectors.get(id(app))
    if collector is not None:
        await collector.refresh(state_of(app))
