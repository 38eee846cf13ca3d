"""Request-size and JSON-depth limits at the edge, before any endpoint reads a body.

An ASGI middleware: for each HTTP request it takes the route's :class:`RouteLimit`, refuses a
``Content-Length`` above the limit without reading a byte (413), reads a body sent without a length
(chunked) only up to the limit (413 as soon as it is passed), refuses a JSON body nested deeper than
``MAX_JSON_DEPTH`` (422), and hands the endpoint the body it buffered. Bodies are small by design
(kilobytes), so buffering them here costs nothing the endpoint would not spend.

FastAPI's own ``max_body_size`` covers the size part, but the cloud API must answer in its envelope,
the depth check needs the buffered body at the same place, and the docs and tests walk one table.

Limits: ``overrides`` by (method, path) for the few routes that differ, else ``BODY_LIMIT`` (no route
matching here: the table is short and exact). WebSocket frames are limited by the server
(``WS_MAX_FRAME_BYTES``, control/server.py), not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from fastapi import FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relayroom.jsonlimits import MAX_JSON_DEPTH, exceeds_depth

KiB = 1024
MiB = 1024 * KiB
BODY_LIMIT = 64 * KiB  # console-API routes that take a JSON body
LOGIN_BODY_LIMIT = 4 * KiB  # a username and a password
CLOUD_API_BODY_LIMIT = 1 * MiB  # TRTC server API, POST /
DEV_BODY_LIMIT = 1 * KiB  # the dev UserSig endpoint: a user id


@dataclass(frozen=True)
class RouteLimit:
    max_bytes: int
    # Check JSON bodies' depth here; None when the endpoint parses with its own depth limit.
    json_depth: int | None = MAX_JSON_DEPTH
    # The answer when the body is too large (default: 413 with the console API's error shape).
    too_large: Callable[[int], Response] | None = None


def _error(status: int, code: str, message: str, details: dict[str, object]) -> Response:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message, "details": details}},
        headers={"Cache-Control": "no-store", "Connection": "close"},
    )


def payload_too_large(limit: int) -> Response:
    return _error(
        413,
        "payload_too_large",
        f"the request body is larger than this route's limit of {limit} bytes",
        {"limit": limit},
    )


def json_too_deep(depth: int) -> Response:
    return _error(
        422,
        "invalid_input",
        f"the JSON body is nested deeper than {depth} levels",
        {"max_depth": depth},
    )


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def _content_length(scope: Scope) -> int | None:
    """The declared length; -1 when malformed (a 400 is the router's business, not ours)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


class RequestLimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default: RouteLimit,
        overrides: Mapping[tuple[str, str], RouteLimit] | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.overrides = dict(overrides or {})

    def limit_for(self, method: str, path: str) -> RouteLimit:
        return self.overrides.get((method, path), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        too_large = limit.too_large or payload_too_large
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await too_large(limit.max_bytes)(scope, receive, send)
            return
        # Read the body, never more than the limit (a chunked body has no length to check first).
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit.max_bytes:
                await too_large(limit.max_bytes)(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        depth = limit.json_depth
        if depth is not None and body and _is_json(scope) and exceeds_depth(body, depth):
            await json_too_deep(depth)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: http.disconnect, as the server sends it

        await self.app(scope, replay, send)


_OVERRIDES = {
    ("POST", "/api/v1/auth/login"): RouteLimit(LOGIN_BODY_LIMIT),
    ("POST", "/api/dev/usersig"): RouteLimit(DEV_BODY_LIMIT),
}


def install(app: FastAPI, cloud_api_too_large: Callable[[int], Response]) -> None:
    """Add the middleware with the deployment's limits (outermost: nothing reads a body before it)."""
    app.add_middleware(
        RequestLimitsMiddleware,
        default=RouteLimit(BODY_LIMIT),
        overrides={
            **_OVERRIDES,
            # The cloud API answers in its own envelope and parses with a depth limit after auth.
            ("POST", "/"): RouteLimit(CLOUD_API_BODY_LIMIT, json_depth=None, too_large=cloud_api_too_large),
        },
    )


def installed(app: FastAPI) -> RequestLimitsMiddleware:
    """The limits as installed on an app built by create_app (docs and tests read them)."""
    for mw in app.user_middleware:
        if mw.cls is cast(object, RequestLimitsMiddleware):
            default = cast(RouteLimit, mw.kwargs["default"])
            overrides = cast(dict[tuple[str, str], RouteLimit], mw.kwargs["overrides"])
            return RequestLimitsMiddleware(app.router, default=default, overrides=overrides)
    raise LookupError("the app has no RequestLimitsMiddleware")
