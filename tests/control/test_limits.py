"""Body limits and JSON depth at the edge, for every route the app serves (schema'd or not).

Each test walks every (method, path) of the real app, so a new route is covered without a change here.
The app is driven through raw ASGI calls, which lets a test see exactly how much of a body was read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from relayroom.config import Settings
from relayroom.control import limits
from relayroom.control.app import create_app
from relayroom.jsonlimits import MAX_JSON_DEPTH
from tests.control.helpers import running
from tests.control.routes import concrete, http_routes

pytestmark = pytest.mark.timeout(120)

Message = dict[str, Any]
CHUNK = 1024


def deep_json(levels: int) -> bytes:
    return ('{"a":' * levels + "1" + "}" * levels).encode()


Receive = Callable[[], Awaitable[Message]]


def never_read(route: str) -> Receive:
    async def receive() -> Message:
        raise AssertionError(f"{route}: the body was read")

    return receive


def endless(route: str, limit: int) -> Receive:
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += CHUNK
        assert read <= limit + CHUNK, f"{route}: read past the limit"
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    return receive


def once(payload: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    return receive


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], receive: Receive
) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    hdrs = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return int(start["status"]), hdrs, body


def assert_too_large(method: str, path: str, status: int, body: bytes, limit: int) -> None:
    if (method, path) == ("POST", "/"):  # the cloud API answers in its envelope, always HTTP 200
        assert status == 200, (method, path, status)
        assert json.loads(body)["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded"
    else:
        assert status == 413, (method, path, status, body[:200])
        err = json.loads(body)["error"]
        assert err["code"] == "payload_too_large" and err["details"]["limit"] == limit


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", media={"enabled": False}, dev=True)


async def test_every_route_refuses_a_declared_length_over_its_limit_without_reading_a_byte(
    settings: Settings,
) -> None:
    async with running(settings) as rt:
        table = limits.installed(rt.app)
        routes = http_routes(rt.app)
        assert len(routes) > 60
        for method, path in routes:
            limit = table.limit_for(method, concrete(path)).max_bytes
            declared = [(b"content-length", str(limit + 1).encode())]
            status, _, body = await call(rt.app, method, concrete(path), declared, never_read(path))
            assert_too_large(method, path, status, body, limit)


async def test_every_route_stops_reading_a_streamed_body_once_it_passes_the_limit(settings: Settings) -> None:
    async with running(settings) as rt:
        table = limits.installed(rt.app)
        for method, path in http_routes(rt.app):
            limit = table.limit_for(method, concrete(path)).max_bytes
            chunked = [(b"transfer-encoding", b"chunked")]
            status, _, body = await call(rt.app, method, concrete(path), chunked, endless(path, limit))
            assert_too_large(method, path, status, body, limit)


async def test_every_route_takes_a_body_of_exactly_its_limit(settings: Settings) -> None:
    async with running(settings) as rt:
        table = limits.installed(rt.app)
        for method, path in http_routes(rt.app):
            limit = table.limit_for(method, concrete(path)).max_bytes
            payload = json.dumps({"pad": ""}).encode()
            payload = json.dumps({"pad": "x" * (limit - len(payload))}).encode()
            assert len(payload) == limit
            headers = [(b"content-type", b"application/json"), (b"content-length", str(limit).encode())]
            status, _, body = await call(rt.app, method, concrete(path), headers, once(payload))
            assert status != 413, (method, path)
            if (method, path) == ("POST", "/"):
                assert b"RequestSizeLimitExceeded" not in body


async def test_every_json_route_refuses_a_body_nested_too_deep_with_a_clear_error(settings: Settings) -> None:
    """Every route that takes a JSON body, signed in or not: depth 33 is refused before the endpoint
    (a clear 422, not a 400 'error parsing the body' or a 500); depth 32 reaches the endpoint."""
    async with running(settings) as rt:
        admin = await rt.admin()
        json_routes = [
            (m.upper(), p)
            for p, ops in rt.app.openapi()["paths"].items()
            for m, op in ops.items()
            if "application/json" in op.get("requestBody", {}).get("content", {})
        ] + [("POST", "/api/dev/usersig")]
        assert len(json_routes) >= 15
        for method, path in json_routes:
            for headers in ({}, admin):
                r = await rt.client.request(
                    method,
                    concrete(path),
                    content=deep_json(MAX_JSON_DEPTH + 1),
                    headers={**headers, "content-type": "application/json"},
                )
                assert r.status_code == 422, (method, path, r.status_code, r.text)
                err = r.json()["error"]
                assert err["code"] == "invalid_input" and "nested deeper than 32" in err["message"]
            r = await rt.client.request(
                method,
                concrete(path),
                content=deep_json(MAX_JSON_DEPTH),
                headers={**admin, "content-type": "application/json"},
            )
            assert "nested deeper" not in r.text, (method, path)
            assert r.status_code < 500, (method, path, r.status_code)


async def test_a_thousand_levels_in_a_small_body_get_the_same_clear_error(settings: Settings) -> None:
    async with running(settings) as rt:
        deep = b"[" * 1000 + b"]" * 1000
        json_type = {"content-type": "application/json"}
        r = await rt.client.post("/api/v1/auth/login", content=deep, headers=json_type)
        assert r.status_code == 422 and "nested deeper" in r.json()["error"]["message"]


def test_the_limits_table_covers_the_documented_routes() -> None:
    table = limits.installed(create_app(Settings(media={"enabled": False})))
    assert table.limit_for("POST", "/api/v1/auth/login").max_bytes == limits.LOGIN_BODY_LIMIT
    assert table.limit_for("POST", "/").max_bytes == limits.CLOUD_API_BODY_LIMIT
    assert table.limit_for("POST", "/api/dev/usersig").max_bytes == limits.DEV_BODY_LIMIT
    assert table.limit_for("PATCH", "/api/v1/applications/1").max_bytes == limits.BODY_LIMIT
    assert table.limit_for("GET", "/unknown").max_bytes == limits.BODY_LIMIT
