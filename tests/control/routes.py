"""Every HTTP route of an app, schema'd or not, as (method, path template): for tests that walk them all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute

# Values that fill path parameters; a walk needs the route to match, not the object to exist.
SAMPLE_PARAMS = {
    "account_id": "acc-0",
    "sdkappid": "1400000001",
    "secret_id": "AKIDsample",
    "user_id": "user-0",
    "request_id": "req-0",
    "receipt_id": "rcpt-0",
    "room_key": "1400000001:n:1",
    "name": "index.html",
    "room": "1",
    "resource_id": "session-0",
}


def _walk(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        inner: Any = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            yield from _walk(list(inner.routes))
        else:
            yield route


def http_routes(app: FastAPI) -> list[tuple[str, str]]:
    out = set()
    for route in _walk(list(app.router.routes)):
        for method in getattr(route, "methods", None) or ():
            out.add((method, str(getattr(route, "path", ""))))
    return sorted(out, key=lambda mp: (mp[1], mp[0]))


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: SAMPLE_PARAMS[m.group(1)], path)
