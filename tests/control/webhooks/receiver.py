"""A callback receiver on 127.0.0.1 that records every request and can fail or hang on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.serving import served_asgi


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    status: int

    @property
    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.body)
        return out

    @property
    def event_key(self) -> tuple[int, int, Any, str | None]:
        info = self.json["EventInfo"]
        return (self.json["EventType"], info["EventMsTs"], info["RoomId"], info.get("UserId"))


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    fail_first: int = 0  # per event: answer 500 to the first N attempts
    always_fail: bool = False
    hang_s: float = 0.0  # sleep before answering (a receiver that does not answer in time)
    seen: dict[tuple[int, int, Any, str | None], int] = field(default_factory=dict)

    def acked(self) -> list[Received]:
        return [r for r in self.received if r.status == 200]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        rec = Received(body, {k.lower(): v for k, v in request.headers.items()}, 0)
        n = self.seen.get(rec.event_key, 0)
        self.seen[rec.event_key] = n + 1
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        rec.status = 500 if self.always_fail or n < self.fail_first else 200
        self.received.append(rec)
        if rec.status != 200:
            return Response("fail", status_code=500)
        return JSONResponse({"code": 0})


@contextlib.asynccontextmanager
async def receiver(rcv: Receiver | None = None) -> AsyncIterator[Receiver]:
    rcv = rcv or Receiver()
    app = Starlette(routes=[Route("/cb", rcv.handle, methods=["POST"])])
    async with served_asgi(app, force_exit=True) as port:  # a hanging receiver does not hold the test
        rcv.url = f"http://127.0.0.1:{port}/cb"
        yield rcv
