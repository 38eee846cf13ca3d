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

from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
from tests.chaos.private_pg import PrivatePostgres
from tests.soak.run import Console, Server

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow, pytest.mark.chaos_long]


async def test_postgres_stop_and_start_during_a_call(tmp_path: Path) -> None:
    try:
        pg = PrivatePostgres()
    except (FileNotFoundError, OSError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no private PostgreSQL possible here: {exc}")
    pg.start()
    server = Server(tmp_path / "data", workers=1, log=tmp_path / "server.log")
    server.start({"RELAYROOM_DATABASE_URL": pg.url})
    console = Console(server)
    anchor, viewer = RelayRoomClient(server.url), RelayRoomClient(server.url)
    try:
        await server.wait_ready()
        await console.login()
        await anchor.enter_room(
            sdk_app_id=server.sdkappid, user_id="anchor", user_sig=server.usersig("anchor"), room_id=9
        )
        await anchor.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack())
        await viewer.enter_room(
            sdk_app_id=server.sdkappid,
            user_id="viewer",
            user_sig=server.usersig("viewer"),
            room_id=9,
            auto_receive_video=True,
        )
        track = await viewer.wait_remote_track("anchor", "video", within=30)
        await track.wait_frames(5, within=30)
        me = (await console.http.get("/api/v1/me", headers=console.headers)).json()
        account_id = me.get("account_id") or me["accounts"][0]["id"]
        apps_url = f"/api/v1/accounts/{account_id}/applications"

        await asyncio.to_thread(pg.stop)
        ready = await console.http.get("/readyz")
        assert ready.status_code == 503 and "database unreachable" in ready.json()["reasons"], ready.text
        assert (await console.http.get("/healthz")).status_code == 200
        r = await console.http.post(apps_url, json={"name": "while-down"}, headers=console.headers)
        assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable", r.text
        await track.wait_frames(20, within=30)  # media does not need the database

        await asyncio.to_thread(pg.start)
        deadline = time.monotonic() + 30
        while (await console.http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the database came back"
            await asyncio.sleep(0.5)
        r = await console.http.post(apps_url, json={"name": "after"}, headers=console.headers)
        assert r.status_code == 201, r.text
        async with RelayRoomClient(server.url) as late:
            await late.enter_room(
                sdk_app_id=server.sdkappid,
                user_id="late",
                user_sig=server.usersig("late"),
                room_id=9,
                auto_receive_video=True,
            )
            t = await late.wait_remote_track("anchor", "video", within=30)
            await t.wait_frames(3, within=30)
    finally:
        await anchor.close()
        await viewer.close()
        await console.close()
        server.stop()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(pg.stop)
        pg.remove()
