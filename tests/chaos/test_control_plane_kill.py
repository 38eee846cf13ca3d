"""Chaos: the control plane of a real `relayroom serve` is SIGKILLed during a call, then restarted on the
same data dir and port.

Expected: its media workers exit with it (no orphan keeps the UDP ports or forwards media for a room
nobody runs); the clients notice (``connection-state-changed: RECONNECTING``) and, once the server is
back, are in the room again by themselves (the SDK's reconnection: the restarted server does not know
the old membership, so they enter again, publish again and subscribe again) with media flowing;
nothing stored is lost or corrupt (the operation-log chain verifies, the application is there).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
from tests.soak.run import Console, Server

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow, pytest.mark.chaos_long]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead too
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


async def _call(server: Server, room: int) -> tuple[RelayRoomClient, RelayRoomClient]:
    anchor, viewer = RelayRoomClient(server.url), RelayRoomClient(server.url)
    await anchor.enter_room(
        sdk_app_id=server.sdkappid, user_id="anchor", user_sig=server.usersig("anchor"), room_id=room
    )
    await anchor.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack())
    await viewer.enter_room(
        sdk_app_id=server.sdkappid,
        user_id="viewer",
        user_sig=server.usersig("viewer"),
        room_id=room,
        auto_receive_video=True,
    )
    track = await viewer.wait_remote_track("anchor", "video", within=30)
    await track.wait_frames(5, within=30)
    return anchor, viewer


async def test_control_plane_sigkill_and_restart_clients_re_enter_nothing_lost(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", workers=1, log=tmp_path / "server.log")
    server.start()
    console = Console(server)
    try:
        await server.wait_ready()
        await console.login()
        workers = [w["pid"] for w in (await console.introspect())["media"]["workers"]]
        assert len(workers) == 1
        anchor, viewer = await _call(server, 31)
        reconnecting = asyncio.Event()
        viewer.on(
            "connection-state-changed",
            lambda e: reconnecting.set() if e.data["state"] == "RECONNECTING" else None,
        )
        old_track = viewer.remote_track("anchor", "video")

        server.stop(signal.SIGKILL)
        await asyncio.wait_for(reconnecting.wait(), 15)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not any(_alive(p) for p in workers), "a media worker outlived its control plane"

        server.start()  # same data dir, same port
        await server.wait_ready()
        await console.login()  # the admin's password survived
        for c in (anchor, viewer):  # back by themselves: entered again, published again
            await c.wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTED", 60)
        assert old_track is not None and old_track.ended
        track = await viewer.wait_remote_track("anchor", "video", within=30)
        await track.wait_frames(10, within=30)
        assert not [e for e in (*anchor.event_log, *viewer.event_log) if e.name == "error"]
        await anchor.close()
        await viewer.close()
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            metrics = (await http.get("/metrics")).text
            assert "relayroom_oplog_chain_ok 1.0" in metrics
            apps = await http.get(f"/api/v1/applications/{server.sdkappid}", headers=console.headers)
            assert apps.status_code == 200 and apps.json()["status"] == "enabled", apps.text
            assert (await http.get("/readyz")).status_code == 200
    finally:
        await console.close()
        server.stop()
