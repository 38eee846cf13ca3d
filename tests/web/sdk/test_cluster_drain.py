"""Chromium follows a drain: a browser page in a room on node A of a two-node cluster (real `relayroom
serve` processes on one PostgreSQL database and Redis) gets the redirect (reason "drain") when node A
drains (`relayroom node drain`), leaves, enters again on node B and plays the remote member's media
again; node A exits 0."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
from tests.cluster.conftest import prefix, redis, redis_url
from tests.cluster.nodes import Cluster
from tests.serving import eventually
from tests.soak.run import ROOT
from tests.web.conftest import Browser
from tests.web.helpers import SDK_PAGE, record_events, wait_media_from

__all__ = ["prefix", "redis", "redis_url"]

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]  # about 12 s here: not slow

ROOM = 4711


async def test_a_browser_page_follows_the_drain_to_the_other_node_and_plays_media_again(
    tmp_path: Path, pg_database: str, redis_url: str, prefix: str, redis: aioredis.Redis, chromium: Browser
) -> None:
    cluster = Cluster(tmp_path, pg_database, redis_url, prefix, {"RELAYROOM_DRAIN_TIMEOUT_S": "30"})
    anchor: RelayRoomClient | None = None
    try:
        (a,) = await cluster.start_nodes("a")  # alone: placement puts the room on it
        anchor = RelayRoomClient(a.url)
        await anchor.enter_room(
            sdk_app_id=a.sdkappid, user_id="anchor", user_sig=a.usersig("anchor"), room_id=ROOM
        )
        await anchor.publish(
            audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack((220, 30, 30))
        )
        page = await chromium.page("web")
        await page.goto(f"{a.base}/healthz")  # a page of node A's origin
        await page.evaluate("(html) => { document.documentElement.innerHTML = html; }", SDK_PAGE)
        await page.evaluate(
            """async ([sdkAppId, userSig, roomId]) => {
              const m = await import('/sdk/relayroom.js');
              window.RelayRoom = m.default;
              window.rr = RelayRoom.create();
              await rr.enterRoom({sdkAppId, userId: 'web', userSig, roomId, autoReceiveVideo: true});
            }""",
            [a.sdkappid, a.usersig("web"), ROOM],
        )
        await record_events(page, "rr")
        await page.evaluate(
            "() => rr.startRemoteVideo({userId: 'anchor', view: document.getElementById('remote')})"
        )
        await wait_media_from(page, ["anchor"], rr_expr="rr")
        (b,) = await cluster.start_nodes("b")
        assert await redis.get(f"{prefix}room:{a.sdkappid}:n:{ROOM}") == "node-a"

        drain = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "relayroom", "node", "drain", "--data-dir", str(a.data_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert drain.returncode == 0, drain.stderr + cluster.logs()
        assert a.proc is not None and a.proc.wait(30) == 0, cluster.logs()

        async def back_on_b() -> Any:
            rows = await page.evaluate("window.__events || []")
            states = [d.get("state") for n, d in rows if n == "connection-state-changed"]
            return "RECONNECTED" in states and await page.evaluate("() => rr.connectionState === 'CONNECTED'")

        await eventually(back_on_b, within=60, what="the page entered again")
        assert await redis.get(f"{prefix}room:{b.sdkappid}:n:{ROOM}") == "node-b"
        await wait_media_from(page, ["anchor"], rr_expr="rr")  # the anchor followed too: media on node B
        rows = await page.evaluate("window.__events || []")
        assert not [d for n, d in rows if n == "error"], rows
        await page.evaluate("() => rr.exitRoom()")
    finally:
        if anchor is not None:
            await anchor.close()
        cluster.stop_all()
