"""How the control plane runs under uvicorn: the limits uvicorn enforces for us, and a shutdown that
tells signalling clients why before their sockets close.

``relayroom serve`` and the tests that run the real server use the same :func:`server_config` and
:class:`Server`, so what the tests probe is what production runs.
"""

from __future__ import annotations

import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from relayroom.control.deps import find_container
from relayroom.control.drain import Drainer, RuntimeDrain
from relayroom.control.signaling.connections import SignalConnections
from relayroom.control.signaling.protocol import MAX_FRAME_BYTES

# A WebSocket message larger than this is refused by the protocol layer while it arrives (close 1009),
# never buffered whole: the same 64 KiB the signalling protocol documents.
WS_MAX_FRAME_BYTES = MAX_FRAME_BYTES


def server_config(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app``; ``options`` override (tests: ``log_level``...)."""
    base: dict[str, Any] = {
        "ws_max_size": WS_MAX_FRAME_BYTES,
        "log_config": None,  # our logging setup (relayroom.logs) stays in charge
        "access_log": False,  # access lines would carry client addresses and paths with ids
    }
    base.update(options)
    return uvicorn.Config(app, host=host, port=port, **base)


class Server(uvicorn.Server):
    """uvicorn's server, with the node drained first (control/drain.py: members moved elsewhere) and
    signalling clients still there told of the shutdown before their sockets close.

    The connections are the app's container's (``create_app``), or ``connections`` when given (an app
    without a container, e.g. a test serving the signalling router alone: no drain step then, unless
    ``drain_timeout_s`` is given).
    A SIGTERM is a drain: the process then exits 0 (uvicorn would re-raise the signal).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        app: FastAPI,
        connections: SignalConnections | None = None,
        drain_timeout_s: float | None = None,
    ) -> None:
        super().__init__(config)
        self._app = app
        self._connections = connections
        self._drain_timeout_s = drain_timeout_s
        self.drainer: Drainer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)  # drained: a normal stop, exit status 0

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        connections = self._connections
        container = find_container(self._app)
        timeout = self._drain_timeout_s
        if connections is None and container is not None:
            connections = container.signal_connections
            timeout = container.settings.drain_timeout_s if timeout is None else timeout
        if connections is not None and timeout is not None:
            cluster = container.cluster if container is not None else None
            self.drainer = Drainer(
                connections, timeout, RuntimeDrain(cluster) if cluster is not None else None
            )
            await self.drainer.drain()
        if connections is not None:
            await connections.shutdown()
        await super().shutdown(sockets)
