"""Chaos: the database (a private PostgreSQL) stops during a call and comes back.

Expected: while it is down /readyz says not ready (database unreachable) and /healthz stays up, API
writes answer 503 ``storage_unavailable``, the call keeps its media; once it is back the server
reconnects by itself (no restart): writes succeed, /readyz is ready, new members enter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from relayroom.client import RelayRoomClient
from tests.chaos.private_pg import PrivatePostgres
from tests.processes import served_call

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow, pytest.mark.chaos_long]


async def test_postgres_stop_and_start_during_a_call(tmp_path: Path) -> None:
    try:
        pg = PrivatePostgres()
    except (FileNotFoundError, OSError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no private PostgreSQL possible here: {exc}")
    pg.start()
    try:
        async with served_call(tmp_path, room_id=9, env={"RELAYROOM_DATABASE_URL": pg.url}) as call:
            console = call.console
            await asyncio.to_thread(pg.stop)
            ready = await console.http.get("/readyz")
            assert ready.status_code == 503 and "database unreachable" in ready.json()["reasons"], ready.text
            assert (await console.http.get("/healthz")).status_code == 200
            r = await console.http.post(call.apps_url, json={"name": "while-down"}, headers=console.headers)
            assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable", r.text
            await call.track.wait_frames(20, within=30)  # media does not need the database

            await asyncio.to_thread(pg.start)
            deadline = time.monotonic() + 30
            while (await console.http.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "not ready again after the database came back"
                await asyncio.sleep(0.5)
            r = await console.http.post(call.apps_url, json={"name": "after"}, headers=console.headers)
            assert r.status_code == 201, r.text
            async with RelayRoomClient(call.server.url) as late:
                t = await call.join(late, "late")
                await t.wait_frames(3, within=30)
    finally:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(pg.stop)
        pg.remove()
