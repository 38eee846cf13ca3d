"""A small FastAPI app with the signalling router, served on 127.0.0.1 (ephemeral port) with the server
configuration `relayroom serve` uses (control/server.py: frame limit, shutdown notice)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from relayroom.control.rooms.manager import RoomManager
from relayroom.control.server import Server, server_config
from relayroom.control.signaling.connections import SignalConnections
from relayroom.control.signaling.endpoints import router
from tests.serving import running


@dataclass
class RunningServer:
    url: str  # ws://127.0.0.1:<port>/signal
    manager: RoomManager
    media: Any = None  # the real MediaService when the test uses one
    server: Server | None = None


@contextlib.asynccontextmanager
async def serve(manager: RoomManager, media: Any = None) -> AsyncIterator[RunningServer]:
    app = FastAPI()
    app.include_router(router)
    app.state.rooms = manager
    app.state.signal_connections = SignalConnections()
    config = server_config(app, "127.0.0.1", 0, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = Server(config, app)
    await manager.start()
    async with running(server, stop_within=5) as port:
        try:
            yield RunningServer(f"ws://127.0.0.1:{port}/signal", manager, media, server)
        finally:
            await manager.close()
