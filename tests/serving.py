"""Serve an ASGI app on 127.0.0.1 in the test's own event loop, and poll for a condition, each with a
bounded wait that fails with a clear message.

:func:`served` runs RelayRoom's app (lifespan included) as `relayroom serve` does (control/server.py);
:func:`served_asgi` runs any other ASGI app (a webhook receiver, a bare router) under plain uvicorn.
Subprocess servers (`relayroom serve` as a process) are in tests/processes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeVar, overload

import uvicorn
from fastapi import FastAPI

from relayroom.control.server import Server, server_config

T = TypeVar("T")

START_TIMEOUT_S = 60.0  # a failure bound only: a full app start on a busy 2-core machine can take long


@contextlib.asynccontextmanager
async def running(
    server: uvicorn.Server, stop_within: float = 15.0, *, force_exit: bool = False
) -> AsyncIterator[int]:
    """Run ``server`` in this loop; yield its port once it accepts connections; stop it after
    (``force_exit``: without waiting for open requests to finish).

    Start-up failing raises its error here; not started within START_TIMEOUT_S fails the test."""
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if task.done():
                task.result()  # start-up failed: raise its error here
                raise AssertionError("the server stopped before it started")
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not start within {START_TIMEOUT_S} s")
            await asyncio.sleep(0.02)
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        server.force_exit = force_exit
        try:
            await asyncio.wait_for(asyncio.shield(task), stop_within)
        except TimeoutError:
            server.force_exit = True  # a request that never ends (a hanging handler)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 5)
        except asyncio.CancelledError:
            pass


@contextlib.asynccontextmanager
async def served(app: FastAPI, port: int = 0, **options: Any) -> AsyncIterator[int]:
    """RelayRoom's app with its lifespan, configured as `relayroom serve` configures it; yields the port
    (0: an ephemeral one). ``options`` override uvicorn's configuration."""
    config = server_config(
        app, "127.0.0.1", port, **({"log_level": "warning", "ws": "websockets-sansio"} | options)
    )
    async with running(Server(config, app), stop_within=20) as bound:
        yield bound


@contextlib.asynccontextmanager
async def served_asgi(
    app: Any, lifespan: Literal["on", "off", "auto"] = "off", *, force_exit: bool = False
) -> AsyncIterator[int]:
    """Any ASGI app under plain uvicorn on an ephemeral port of 127.0.0.1; yields the port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan)
    async with running(uvicorn.Server(config), stop_within=5, force_exit=force_exit) as bound:
        yield bound


@overload
async def eventually(
    check: Callable[[], Awaitable[T]], within: float = 30.0, interval: float = 0.05, what: str = ""
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T], within: float = 30.0, interval: float = 0.05, what: str = ""
) -> T: ...


async def eventually(
    check: Callable[[], Any], within: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``check`` (plain or async) until it returns a truthy value, and return that value; after
    ``within`` seconds fail with the last value seen."""
    deadline = time.monotonic() + within
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or check}: last {last!r}")
        await asyncio.sleep(interval)
