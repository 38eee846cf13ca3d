"""Serve the app (lifespan included) as `relayroom serve` does (control/server.py), on 127.0.0.1 in the
test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from relayroom.control.server import Server, server_config


@contextlib.asynccontextmanager
async def served(app: FastAPI, port: int = 0) -> AsyncIterator[int]:
    """Yield the port once the server accepts connections (0: an ephemeral one); stop it after."""
    config = server_config(app, "127.0.0.1", port, log_level="warning", ws="websockets-sansio")
    server = Server(config, app)
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()  # start-up failed: raise its error here
                await asyncio.sleep(0.02)
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
