"""A small FastAPI app with the signalling router, served on 127.0.0.1 (ephemeral port) with the server
configuration `relayroom serve` uses (control/server.py: frame limit, shutdown notice)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from relayroom.control.deps import get_ice_servers, get_rooms_or_none, get_signal_connections
from relayroom.control.rooms.manager import RoomManager
from relayroom.control.server import Server, server_config
from relayroom.control.signaling.connections import SignalConnections
from relayroom.control.signaling.endpoints import router
from relayroom.control.signaling.ice_servers import NoIceServers
from tests.serving import running


def signalling_app(manager: RoomManager | None) -> tuple[FastAPI, SignalConnections]:
    """The signalling router alone, its container's pieces given as dependency overrides."""
    app = FastAPI()
    app.include_router(router)
    connections = SignalConnections()
    app.dependency_overrides[get_rooms_or_none] = lambda: manager
    app.dependency_overrides[get_signal_connections] = lambda: connections
    app.dependency_overrides[get_ice_servers] = NoIceServers
    return app, connections


@dataclass
class RunningServer:
    url: str  # ws://127.0.0.1:<port>/signal
    manager: RoomManager
    media: Any = None  # the real MediaService when the test uses one
    server: Server | None = None


@contextlib.asynccontextmanager
async def serve(manager: RoomManager, media: Any = None) -> AsyncIterator[RunningServer]:
    app, connections = signalling_app(manager)
    config = server_config(app, "127.0.0.1", 0, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = Server(config, app, connections=connections)
    await manager.start()
    async with running(server, stop_within=5) as port:
        try:
            yield RunningServer(f"ws://127.0.0.1:{port}/signal", manager, media, server)
        finally:
            await manager.close()
