"""A running control plane in-process (lifespan included) with an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from relayroom.clock import Clock
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from relayroom.control.container import Container, ContainerParams
from relayroom.control.deps import RelayRoomApp, container_of
from relayroom.control.services import Services


@dataclass
class Running:
    app: RelayRoomApp
    client: httpx.AsyncClient
    first: FirstStart

    @property
    def container(self) -> Container:
        return container_of(self.app)

    @property
    def services(self) -> Services:
        return self.container.services

    async def login(self, username: str, password: str) -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    async def admin(self) -> dict[str, str]:
        return await self.login(self.first.username, self.first.password)


@asynccontextmanager
async def running(
    settings: Settings,
    clock: Clock | None = None,
    first: FirstStart | None = None,
    params: ContainerParams | None = None,
) -> AsyncIterator[Running]:
    """Start the app (lifespan included). On a restart pass the FirstStart of the first run."""
    seen: list[FirstStart] = [first] if first else []
    app = create_app(settings, clock=clock, on_first_start=seen.append, params=params)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Running(app=app, client=client, first=seen[-1])


async def make_account(
    rt: Running, admin: dict[str, str], name: str, owner: str, password: str
) -> dict[str, Any]:
    """Another customer: its own owner user and account, created by the deployment admin."""
    r = await rt.client.post("/api/v1/users", headers=admin, json={"username": owner, "password": password})
    assert r.status_code == 201, r.text
    r = await rt.client.post("/api/v1/accounts", headers=admin, json={"name": name, "owner_username": owner})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out
