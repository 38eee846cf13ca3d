"""Control channel between the control plane and a media worker.

One message format, length-prefixed JSON (4-byte big-endian length, then UTF-8 JSON), over a unix
socket pair. See docs/channel.md.

- request:      {"id": n, "method": "router.createWebRtcTransport", "handlerId": "...", "data": {...}}
- response:     {"id": n, "accepted": true, "data": {...}}
                or {"id": n, "error": "TypeError", "reason": "..."}
- notification: {"targetId": "...", "event": "producerclose", "data": {...}}

Pending requests fail with InvalidStateError when the channel closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from relayroom.media.types import InvalidStateError, UnsupportedError

logger = logging.getLogger(__name__)

MAX_MESSAGE = 4 * 1024 * 1024
REQUEST_TIMEOUT_S = 10.0
_LEN = struct.Struct("!I")

ERRORS: dict[str, type[Exception]] = {
    "TypeError": TypeError,
    "ValueError": ValueError,
    "InvalidStateError": InvalidStateError,
    "UnsupportedError": UnsupportedError,
}

RequestHandler = Callable[[str, str | None, dict[str, Any]], Awaitable[dict[str, Any] | None]]
NotificationHandler = Callable[[str, str, dict[str, Any]], None]


class ChannelError(Exception):
    """A worker error whose class is not one of ERRORS."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf8")
    if len(body) > MAX_MESSAGE:
        raise ValueError("channel message too large")
    return _LEN.pack(len(body)) + body


class Channel:
    """One end of the channel. The control plane sends requests; the worker answers and notifies."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_request: RequestHandler | None = None,
        on_notification: NotificationHandler | None = None,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._on_notification = on_notification
        self._on_closed = on_closed
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    async def request(
        self,
        method: str,
        handler_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if self.closed:
            raise InvalidStateError("channel closed")
        self._next_id = (self._next_id + 1) & 0x7FFFFFFF
        rid = self._next_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        msg = {"id": rid, "method": method, "handlerId": handler_id, "data": data or {}}
        try:
            self._writer.write(encode(msg))
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await fut
        finally:
            self._pending.pop(rid, None)

    def notify(self, target_id: str, event: str, data: dict[str, Any] | None = None) -> None:
        if self.closed:
            return
        self._writer.write(encode({"targetId": target_id, "event": event, "data": data or {}}))

    async def _read_loop(self) -> None:
        try:
            while True:
                header = await self._reader.readexactly(4)
                (length,) = _LEN.unpack(header)
                if length > MAX_MESSAGE:
                    raise ValueError("channel message too large")
                body = await self._reader.readexactly(length)
                self._dispatch(json.loads(body))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError) as exc:
            if not self.closed:
                logger.debug("channel read ended: %s", exc.__class__.__name__)
        finally:
            self._shutdown()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "method" in msg:
            task = asyncio.get_running_loop().create_task(self._handle_request(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif "targetId" in msg:
            if self._on_notification is not None:
                try:
                    self._on_notification(str(msg["targetId"]), str(msg["event"]), msg.get("data") or {})
                except Exception:
                    logger.exception("notification handler failed")
        elif "id" in msg:
            fut = self._pending.get(int(msg["id"]))
            if fut is None or fut.done():
                return
            if msg.get("accepted"):
                fut.set_result(msg.get("data") or {})
            else:
                cls = ERRORS.get(str(msg.get("error")), ChannelError)
                fut.set_exception(cls(str(msg.get("reason", ""))))

    async def _handle_request(self, msg: dict[str, Any]) -> None:
        rid = msg.get("id")
        reply: dict[str, Any]
        try:
            if self._on_request is None:
                raise TypeError("no request handler")
            data = await self._on_request(str(msg["method"]), msg.get("handlerId"), msg.get("data") or {})
            reply = {"id": rid, "accepted": True, "data": data or {}}
        except Exception as exc:
            name = exc.__class__.__name__
            if name not in ERRORS:
                logger.exception("request %s failed", msg.get("method"))
            reply = {"id": rid, "error": name, "reason": str(exc)}
        if not self.closed:
            self._writer.write(encode(reply))

    def _shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(InvalidStateError("channel closed"))
        self._pending.clear()
        with contextlib.suppress(Exception):
            self._writer.close()
        if self._on_closed is not None:
            self._on_closed()

    async def close(self) -> None:
        """Idempotent: fail pending requests, stop reading, cancel handler tasks."""
        self._shutdown()
        self._read_task.cancel()
        tasks = [*self._tasks, self._read_task]
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
