"""The whole app (create_app, lifespan included) served on 127.0.0.1 (tests/serving.py), plus the official
TRTC SDK pointed at it, for the cloud-API, webhook and usage tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from relayroom.clock import Clock
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from relayroom.control.container import Container, ContainerParams
from relayroom.control.deps import RelayRoomApp, container_of
from relayroom.control.rooms.manager import RoomManager
from relayroom.control.whip.service import WhipService
from tests.serving import served


def settings_for(data_dir: Path, *, media: bool = False, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        media=({"workers": 1, "ports": [0], "loopback_only": True} if media else {"enabled": False}),
        rooms={"idle_timeout_s": 10.0},
    )


@dataclass
class Live:
    app: RelayRoomApp
    port: int
    first: FirstStart | None
    http: httpx.AsyncClient
    admin: dict[str, str]

    @property
    def container(self) -> Container:
        return container_of(self.app)

    @property
    def rooms(self) -> RoomManager:
        rooms = self.container.rooms
        assert rooms is not None, "the server runs without media"
        return rooms

    @property
    def whip(self) -> WhipService:
        whip = self.container.whip
        assert whip is not None, "the server runs without media"
        return whip

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def signal_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/signal"

    async def credential(self, account_id: str | None = None) -> tuple[str, str]:
        acc = account_id or (self.first.account_id if self.first else "")
        r = await self.http.post(f"/api/v1/accounts/{acc}/credentials", headers=self.admin)
        assert r.status_code == 201, r.text
        body = r.json()
        return body["secret_id"], body["secret_key"]


@contextlib.asynccontextmanager
async def live_server(
    settings: Settings,
    *,
    clock: Clock | None = None,
    login: tuple[str, str] | None = None,
    params: ContainerParams | None = None,
) -> AsyncIterator[Live]:
    seen: list[FirstStart] = []
    app = create_app(settings, clock=clock, on_first_start=seen.append, params=params)
    async with served(app) as port:
        # generous timeout: the machine is shared with other suites (2 cores)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30
        ) as http:
            first = seen[0] if seen else None
            user, password = login or ((first.username, first.password) if first else ("", ""))
            r = await http.post("/api/v1/auth/login", json={"username": user, "password": password})
            assert r.status_code == 200, r.text
            admin = {"Authorization": f"Bearer {r.json()['token']}"}
            yield Live(app, port, first, http, admin)


def trtc_client(
    host: str, secret_id: str, secret_key: str, *, method: str = "POST", sign: str = "TC3-HMAC-SHA256"
) -> Any:
    """The official client; ``method`` GET/POST (HttpProfile.reqMethod), ``sign`` TC3-HMAC-SHA256,
    HmacSHA256 or HmacSHA1 (ClientProfile.signMethod)."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import trtc_client as tc

    hp = HttpProfile(endpoint=host, protocol="http", reqTimeout=20, reqMethod=method)
    return tc.TrtcClient(
        credential.Credential(secret_id, secret_key),
        "ap-guangzhou",
        ClientProfile(httpProfile=hp, signMethod=sign),
    )


async def call(client: Any, action: str, params: dict[str, Any]) -> Any:
    """Run one SDK action in a thread (the SDK is synchronous); returns the response model."""
    from tencentcloud.trtc.v20190722 import models

    req = getattr(models, f"{action}Request")()
    req.from_json_string(json.dumps(params))
    return await asyncio.to_thread(getattr(client, action), req)


async def tc3_post(
    http: httpx.AsyncClient, host: str, action: str, body: dict[str, Any], sid: str, key: str
) -> dict[str, Any]:
    """POST / with a TC3-signed JSON body built by relayroom.auth.tc3 (for actions the pinned SDK lacks,
    e.g. SetUserBlocked); the envelope's ``Response``. ``http`` is based at the server, ``host`` is
    the Host it signs."""
    from relayroom.auth import tc3

    payload = json.dumps(body).encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-TC-Action": action,
        "X-TC-Version": "2019-07-22",
        "X-TC-Timestamp": str(ts),
        "Authorization": tc3.sign_request(
            secret_id=sid, secret_key=key, host=host, payload=payload, timestamp=ts
        ),
    }
    r = await http.post("/", content=payload, headers=headers)
    assert r.headers["content-type"] == "application/json"
    out: dict[str, Any] = r.json()["Response"]
    return out
