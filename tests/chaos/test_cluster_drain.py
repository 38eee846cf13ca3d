"""Chaos (cluster): `relayroom node drain` on a node with three live rooms, two real nodes on one
PostgreSQL database and Redis.

Expected: every member gets the redirect (reason "drain") with the other node's URL, leaves and enters
there; the rooms run on the other node (its lease in Redis), media flows again in each; the drained
node exits 0 and the drain command reports it stopped.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from relayroom.client import RelayRoomClient, SineAudioTrack
from tests.cluster.conftest import prefix, redis, redis_url
from tests.cluster.nodes import Cluster
from tests.soak.run import ROOT, Server

__all__ = ["prefix", "redis", "redis_url"]

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres, pytest.mark.slow, pytest.mark.chaos_long]

ROOMS = (41, 42, 43)


async def _member(node: Server, user: str, room: int, anchor: bool) -> RelayRoomClient:
    c = RelayRoomClient(node.url)
    await c.enter_room(sdk_app_id=node.sdkappid, user_id=user, user_sig=node.usersig(user), room_id=room)
    if anchor:
        await c.publish(audio_track=SineAudioTrack(300 + room))
    return c


async def test_drain_moves_every_member_of_three_rooms_to_the_other_node_and_exits_0(
    tmp_path: Path, pg_database: str, redis_url: str, prefix: str, redis: aioredis.Redis
) -> None:
    cluster = Cluster(tmp_path, pg_database, redis_url, prefix, {"RELAYROOM_DRAIN_TIMEOUT_S": "30"})
    clients: list[RelayRoomClient] = []
    try:
        (a,) = await cluster.start_nodes("a")  # alone: placement puts the rooms on it
        pairs = []
        for room in ROOMS:
            anchor = await _member(a, f"anchor{room}", room, True)
            viewer = await _member(a, f"viewer{room}", room, False)
            clients += [anchor, viewer]
            pairs.append((room, anchor, viewer))
        (b,) = await cluster.start_nodes("b")
        for room, _, viewer in pairs:
            track = await viewer.wait_remote_track(f"anchor{room}", "audio", within=30)
            await track.wait_frames(10, within=30)
            assert await redis.get(f"{prefix}room:{a.sdkappid}:n:{room}") == "node-a"

        drain = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "relayroom", "node", "drain", "--data-dir", str(a.data_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert drain.returncode == 0, drain.stderr + cluster.logs()
        assert "drained and stopped" in drain.stdout
        assert a.proc is not None and a.proc.wait(30) == 0, cluster.logs()

        for c in clients:
            redirect = await c.wait_for_event("redirect", within=10)
            assert redirect.data == {"url": b.url, "reason": "drain"}
            await c.wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTED", 60)
            assert c.url == b.url and c.connection_state == "CONNECTED"
        for room, _, viewer in pairs:
            track = await viewer.wait_remote_track(f"anchor{room}", "audio", within=30)
            await track.wait_frames(track.frames + 10, within=30)  # media flows on node b
            assert await redis.get(f"{prefix}room:{b.sdkappid}:n:{room}") == "node-b"
        assert not [e for c in clients for e in c.event_log if e.name == "error"]
    finally:
        for c in clients:
            await c.close()
        cluster.stop_all()
