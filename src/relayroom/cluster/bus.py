"""Commands between nodes over Redis pub/sub: ask the node that owns a room, get its answer back.

Each node listens on ``<prefix>cmd:<node id>`` for requests and on ``<prefix>reply:<node id>`` for
answers to its own. A request names a handler registered on the target (``bus.handle(name, fn)``),
carries JSON arguments and waits at most ``timeout_s`` for the answer. Nothing waits longer:

* Redis unreachable: :class:`~relayroom.cluster.redis.ClusterUnavailable` at once (retryable);
* nobody listens on the target's channel (node dead or gone): :class:`NodeUnreachable` at once;
* no answer in time: :class:`CommandTimeout` (retryable);
* the handler raised: :class:`CommandFailed` with its message (not retryable: the same command would
  fail again).

Pub/sub rather than streams: a command is only useful while its caller waits (seconds); a command for
a node that is not listening now must fail fast, not be delivered later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from relayroom import jsonlimits
from relayroom.cluster.redis import ClusterUnavailable, unavailable_as_error

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class NodeUnreachable(ClusterUnavailable):
    """The target node does not listen (dead, draining away or not started)."""


class CommandTimeout(ClusterUnavailable):
    """The target did not answer in time."""


class CommandFailed(Exception):
    """The target's handler refused or failed; ``code`` is its error code when it gave one."""

    retryable = False

    def __init__(self, message: str, code: str = "command_failed") -> None:
        super().__init__(message)
        self.code = code


class CommandBus:
    def __init__(self, redis: aioredis.Redis, node_id: str, *, prefix: str = "relayroom:") -> None:
        self._r = redis
        self.node_id = node_id
        self._prefix = prefix
        self._handlers: dict[str, Handler] = {}
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def _cmd(self, node_id: str) -> str:
        return f"{self._prefix}cmd:{node_id}"

    def _reply(self, node_id: str) -> str:
        return f"{self._prefix}reply:{node_id}"

    def handle(self, name: str, fn: Handler) -> None:
        self._handlers[name] = fn

    async def start(self, wait_s: float = 5.0) -> None:
        """Start listening; waits (up to ``wait_s``) until subscribed, so requests can be answered."""
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="command-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), wait_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._running):
            task.cancel()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ClusterUnavailable("command bus closed"))
        self._waiting.clear()

    async def request(self, target: str, name: str, args: dict[str, Any], timeout_s: float = 3.0) -> Any:
        """Run ``name`` on node ``target`` and return its result (JSON)."""
        req_id = secrets.token_hex(8)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        try:
            msg = json.dumps({"id": req_id, "from": self.node_id, "name": name, "args": args})
            async with unavailable_as_error("command to another node"):
                listeners = await self._r.publish(self._cmd(target), msg)
            if not listeners:
                raise NodeUnreachable(f"node {target} is not listening for commands")
            try:
                return await asyncio.wait_for(fut, timeout_s)
            except TimeoutError:
                raise CommandTimeout(f"node {target} did not answer {name} within {timeout_s:g} s") from None
        finally:
            self._waiting.pop(req_id, None)

    async def _listen(self) -> None:
        while True:
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._cmd(self.node_id), self._reply(self.node_id))
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                if self._subscribed.is_set():
                    log.warning("command bus lost Redis; resubscribing")
                self._subscribed.clear()
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, channel: str, data: str) -> None:
        try:
            msg = jsonlimits.loads(data)
        except (TypeError, ValueError):
            log.warning("command bus: a message that is not JSON was ignored")
            return
        if not isinstance(msg, dict):
            return
        if channel == self._reply(self.node_id):
            fut = self._waiting.get(str(msg.get("id")))
            if fut is not None and not fut.done():
                if msg.get("ok"):
                    fut.set_result(msg.get("result"))
                else:
                    fut.set_exception(
                        CommandFailed(str(msg.get("error")), str(msg.get("code") or "command_failed"))
                    )
            return
        task = asyncio.get_running_loop().create_task(self._serve(msg))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _serve(self, msg: dict[str, Any]) -> None:
        sender, req_id, name = msg.get("from"), msg.get("id"), msg.get("name")
        if not isinstance(sender, str) or not isinstance(req_id, str) or not isinstance(name, str):
            return
        handler = self._handlers.get(name)
        reply: dict[str, Any] = {"id": req_id}
        if handler is None:
            reply |= {"ok": False, "error": f"unknown command {name!r}", "code": "unknown_command"}
        else:
            try:
                args = msg.get("args")
                reply |= {"ok": True, "result": await handler(args if isinstance(args, dict) else {})}
            except CommandFailed as exc:
                reply |= {"ok": False, "error": str(exc), "code": exc.code}
            except Exception as exc:
                log.exception("command handler failed", extra={"command": name})
                reply |= {"ok": False, "error": f"{name} failed on node {self.node_id}: {type(exc).__name__}"}
        with contextlib.suppress(RedisError, OSError, TypeError, ValueError):
            await self._r.publish(self._reply(sender), json.dumps(reply))
