"""Chaos (cluster): SIGKILL of the node that owns a live room, two real nodes on one PostgreSQL database
and Redis, a few trials (the killed node is started again between trials and becomes the next target).

Expected: the clients' sockets drop; the SDK tries the dead node, then the other one (``reconnect_urls``),
which refuses the room while the dead node's lease is still in Redis (a retryable error) and creates it
once the lease has expired (``lease_ttl_s``); the anchor publishes again, the viewer subscribes again
and media flows. The time from the kill to the viewer's first new audio frame is printed per trial with
p50 and max (docs/cluster.md reports a run); the test itself only bounds it generously, as a failure
bound (no timing assertion: a loaded machine is slower).
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from relayroom.client import RelayRoomClient, SineAudioTrack
from tests.cluster.conftest import prefix, redis, redis_url
from tests.cluster.nodes import Cluster
from tests.soak.run import Server

__all__ = ["prefix", "redis", "redis_url"]

pytestmark = [pytest.mark.timeout(600), pytest.mark.postgres, pytest.mark.slow, pytest.mark.chaos_long]

TRIALS = int(os.environ.get("RELAYROOM_FAILOVER_TRIALS", "3"))
ROOM = 51
TTL = {"RELAYROOM_CLUSTER__LEASE_TTL_S": "3", "RELAYROOM_CLUSTER__NODE_TTL_S": "3"}


async def _client(entry: Server, other: Server, user: str) -> RelayRoomClient:
    c = RelayRoomClient(entry.url, reconnect_urls=[other.base])
    await c.enter_room(sdk_app_id=entry.sdkappid, user_id=user, user_sig=entry.usersig(user), room_id=ROOM)
    return c


async def test_owner_sigkill_clients_back_on_the_other_node_with_media(
    tmp_path: Path, pg_database: str, redis_url: str, prefix: str, redis: aioredis.Redis
) -> None:
    cluster = Cluster(tmp_path, pg_database, redis_url, prefix, TTL)
    clients: list[RelayRoomClient] = []
    seconds: list[float] = []
    try:
        (a,) = await cluster.start_nodes("a")  # alone: placement puts the room on it
        b = cluster.add("b")
        anchor = await _client(a, b, "anchor")
        viewer = await _client(a, b, "viewer")
        clients += [anchor, viewer]
        await anchor.publish(audio_track=SineAudioTrack(500))
        track = await viewer.wait_remote_track("anchor", "audio", within=30)
        await track.wait_frames(10, within=30)
        await cluster.start_nodes("b")
        lease = f"{prefix}room:{a.sdkappid}:n:{ROOM}"
        owner, spare = ("a", a), ("b", b)
        for _trial in range(TRIALS):
            assert await redis.get(lease) == f"node-{owner[0]}"
            killed_at = time.monotonic()
            owner[1].stop(signal.SIGKILL)
            for c in clients:
                await c.wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTED", 60)
            track = await viewer.wait_remote_track("anchor", "audio", within=60)
            await track.wait_frames(10, within=30)
            assert track.first_frame_at is not None and track.first_frame_at > killed_at
            seconds.append(track.first_frame_at - killed_at)
            assert viewer.url == anchor.url == spare[1].url
            assert await redis.get(lease) == f"node-{spare[0]}", cluster.logs()
            # the killed node comes back (same data dir and port) and is the next trial's spare
            cluster.start(owner[0])
            await cluster.ready(owner[0])
            owner, spare = spare, owner
            for c in clients:  # the next trial starts from a settled state
                c.event_log.clear()
        assert not [e for c in clients for e in c.event_log if e.name == "error"]
        print(
            f"\nfailover (SIGKILL -> first audio frame again), {len(seconds)} trials: "
            f"{', '.join(f'{s:.2f}' for s in seconds)} s; p50 {statistics.median(seconds):.2f} s, "
            f"max {max(seconds):.2f} s"
        )
    finally:
        for c in clients:
            await c.close()
        cluster.stop_all()
