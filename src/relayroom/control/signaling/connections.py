"""The open signalling sockets of this process, so that a shutdown can tell each client why.

On SIGTERM the HTTP server closes every connection (uvicorn sends a bare 1012). Before it does, each
signalling client gets a ``server-shutdown`` event and a close frame 1001 ("going away") with the
reason, so a client knows to enter again (here after the restart, or on another node) instead of
guessing from a dropped socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)

SHUTDOWN_EVENT = "server-shutdown"
SHUTDOWN_REASON = "server_shutdown"
SHUTDOWN_CLOSE_CODE = 1001  # going away (RFC 6455 §7.4.1)
SHUTDOWN_CLOSE_REASON = "server shutting down"


class ClosableConnection(Protocol):
    def close_with_notice(self, event: str, data: dict[str, object], code: int, reason: str) -> None:
        """Queue ``event``, then a close frame with ``code``/``reason``; no further messages."""
        ...

    async def wait_flushed(self) -> None:
        """Return once the close frame was written (or the socket is gone)."""
        ...

    @property
    def in_room(self) -> bool:
        """A member of a room is attached to this socket (control/drain.py)."""
        ...

    def send_redirect(self, url: str | None, reason: str) -> None:
        """Tell the member to enter again at ``url`` (control/drain.py)."""
        ...


class SignalConnections:
    def __init__(self) -> None:
        self._open: set[ClosableConnection] = set()
        self.closing = False

    def __len__(self) -> int:
        return len(self._open)

    def add(self, conn: ClosableConnection) -> None:
        self._open.add(conn)

    def discard(self, conn: ClosableConnection) -> None:
        self._open.discard(conn)

    def in_room(self) -> list[ClosableConnection]:
        """The open sockets with a member in a room (what a drain waits for)."""
        return [c for c in self._open if c.in_room]

    async def shutdown(self, timeout_s: float = 3.0) -> int:
        """Tell every open socket the server is going away and close it; returns how many.

        New sockets are refused from now on (``closing``). Waits up to ``timeout_s`` for the close
        frames to be written; a client that does not read does not hold the shutdown up.
        """
        self.closing = True
        conns = list(self._open)
        data: dict[str, object] = {
            "reason": SHUTDOWN_REASON,
            "message": "the server is shutting down; enter the room again in a moment",
        }
        for conn in conns:
            conn.close_with_notice(SHUTDOWN_EVENT, data, SHUTDOWN_CLOSE_CODE, SHUTDOWN_CLOSE_REASON)
        if conns:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.gather(*(c.wait_flushed() for c in conns), return_exceptions=True)
            log.info("signalling clients told of the shutdown", extra={"connections": len(conns)})
        return len(conns)
