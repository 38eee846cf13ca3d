"""A write is committed before its response is sent: a read right after it sees the change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from tests.serving import served


@pytest.fixture
async def base_url(tmp_path: Path) -> AsyncIterator[tuple[str, FirstStart]]:
    seen: list[FirstStart] = []
    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False})
    async with served(create_app(settings, on_first_start=seen.append)) as port:
        yield f"http://127.0.0.1:{port}", seen[0]


async def test_read_after_write_sees_the_write(base_url: tuple[str, FirstStart]) -> None:
    url, first = base_url
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(30):  # over a real socket: the race showed in ~1 of 5 before the fix
            tok = (
                await http.post("/api/v1/auth/login", json={"username": "admin", "password": first.password})
            ).json()
            me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {tok['token']}"})
            assert me.status_code == 200, me.text
