"""Three real `relayroom serve` processes on one PostgreSQL database (created by the test) and one Redis
(keys under a prefix of the test's own): two Python clients entering one room through different nodes
see and hear each other (the second one is redirected to the room's node), and a browser page entering
through another node is redirected the same way and plays the room's media."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack, colour_close
from relayroom.cluster.dev import NodeSpec, SharedKeys, node_env, same_code_env
from relayroom.cluster.redis import connect
from tests.cluster.conftest import REDIS_URL, _redis_problem
from tests.conftest import PG_ADMIN_DSN, pg_problem
from tests.processes import free_port, start_server, stop, wait_ready
from tests.serving import eventually
from tests.web.conftest import Browser
from tests.web.helpers import wait_media_from

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(420)]

ROOM = 5150
COLOURS = {"ana": (220, 30, 30), "ben": (30, 200, 30)}
TONES = {"ana": 440.0, "ben": 660.0}


@dataclass
class Cluster:
    nodes: list[NodeSpec]
    procs: list[subprocess.Popen[str]]
    sdkappid: int
    secret_key: str
    prefix: str

    def ws(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.nodes[i].port}/signal"

    def sig(self, user: str) -> str:
        return gen_usersig(self.sdkappid, self.secret_key, user, 3600)

    async def owner(self, room_key: str) -> str | None:
        r = connect(REDIS_URL)
        try:
            found = await r.get(f"{self.prefix}room:{room_key}")
            return str(found) if found is not None else None
        finally:
            await r.aclose()


def _require_services() -> None:
    import os

    for problem in (pg_problem(), _redis_problem()):
        if problem:
            if os.environ.get("CI"):
                pytest.fail(problem)
            pytest.skip(problem)


def _admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _require_services()
    tmp = tmp_path_factory.mktemp("cluster")
    db = f"relayroom_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{db}"')
    database_url = f"{PG_ADMIN_DSN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{db}"
    prefix = f"rrtest:{uuid.uuid4().hex[:12]}:"
    keys = SharedKeys.in_dir(tmp / "shared")
    nodes = [NodeSpec(f"node-{n}", free_port(), tmp / f"node-{n}", 0) for n in "abc"]
    procs: list[subprocess.Popen[str]] = []
    try:
        for node in nodes:  # one after the other: the first one migrates and bootstraps the database
            env = node_env(node, database_url=database_url, redis_url=REDIS_URL, keys=keys, key_prefix=prefix)
            env |= same_code_env() | {"RELAYROOM_MEDIA__LOOPBACK_ONLY": "true"}
            procs.append(start_server(node.data_dir, node.port, env=env, stdout=subprocess.DEVNULL))
            wait_ready(node.port, procs[-1])
        text = (nodes[0].data_dir / "first-start.txt").read_text()
        sdkappid = int(re.search(r"SDKAppID: (\d+)", text).group(1))  # type: ignore[union-attr]
        secret = re.search(r"SDKSecretKey: (\S+)", text).group(1)  # type: ignore[union-attr]
        yield Cluster(nodes, procs, sdkappid, secret, prefix)
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop(proc)
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

        async def forget() -> None:
            r = connect(REDIS_URL)
            try:
                found = [k async for k in r.scan_iter(match=f"{prefix}*", count=500)]
                if found:
                    await r.delete(*found)
            finally:
                await r.aclose()

        asyncio.run(forget())


@pytest.fixture
async def clients() -> AsyncIterator[list[RelayRoomClient]]:
    made: list[RelayRoomClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def _enter(
    cluster: Cluster, made: list[RelayRoomClient], node: int, user: str, room: int
) -> RelayRoomClient:
    client = RelayRoomClient(cluster.ws(node))
    made.append(client)
    await client.enter_room(
        sdk_app_id=cluster.sdkappid,
        user_id=user,
        user_sig=cluster.sig(user),
        room_id=room,
        auto_receive_audio=True,
        auto_receive_video=True,
    )
    await client.publish(
        audio_track=SineAudioTrack(TONES[user]), video_track=TestPatternVideoTrack(COLOURS[user])
    )
    return client


async def _receives(client: RelayRoomClient, other: str) -> None:
    video = await client.wait_remote_track(other, "video", within=30)
    audio = await client.wait_remote_track(other, "audio", within=30)
    await video.wait_frames(10, within=30)
    await audio.wait_frames(25, within=30)
    colour = video.colour()
    assert colour is not None and colour_close(colour, COLOURS[other]), (client.user_id, other, colour)
    assert audio.last_rms > 2000, (client.user_id, other, audio.last_rms)
    assert abs(audio.last_frequency - TONES[other]) < 60, (client.user_id, other, audio.last_frequency)


async def test_two_clients_through_different_nodes_meet_on_the_room_s_node(
    cluster: Cluster, clients: list[RelayRoomClient]
) -> None:
    # the nodes see each other (heartbeats in Redis)
    async with httpx.AsyncClient(trust_env=False) as http:
        for node in cluster.nodes:
            assert (await http.get(f"{node.url}/healthz")).status_code == 200
    ana = await _enter(cluster, clients, 0, "ana", ROOM)
    room_key = f"{cluster.sdkappid}:n:{ROOM}"
    owner = await cluster.owner(room_key)
    assert owner is not None
    owner_node = next(n for n in cluster.nodes if n.name == owner)
    # ana entered through node a; placement may have sent the new room elsewhere, never further
    assert len(ana.redirected_from) <= 1 and ana.url == f"ws://127.0.0.1:{owner_node.port}/signal"
    other = next(i for i, n in enumerate(cluster.nodes) if n.name != owner)
    ben = await _enter(cluster, clients, other, "ben", ROOM)
    # ben entered through a node that does not run the room: redirected once, to the owner
    assert ben.redirected_from == [cluster.ws(other)] and ben.url == ana.url
    await asyncio.gather(_receives(ana, "ben"), _receives(ben, "ana"))
    # a string room with the same digits is another room (numeric and string ids apart)
    assert await cluster.owner(f"{cluster.sdkappid}:s:{ROOM}") is None
    # TRTC's one room per user, across nodes: ana enters another room through another node, and her
    # session on the first room's node is kicked out
    third = next(i for i, n in enumerate(cluster.nodes) if n.name not in (owner, cluster.nodes[other].name))
    again = RelayRoomClient(cluster.ws(third))
    clients.append(again)
    await again.enter_room(
        sdk_app_id=cluster.sdkappid, user_id="ana", user_sig=cluster.sig("ana"), str_room_id="elsewhere"
    )
    assert again.redirected_from == []  # an idle node keeps the new room: the kick crosses nodes
    ev = await ana.wait_for_event("kicked-out", within=10)
    assert ev.data["reason"] == "kick"
    left = await ben.wait_for_event("remote-user-exit", lambda d: d["userId"] == "ana", within=10)
    assert left.data["reason"] == 2  # kicked


BROWSER_PAGE = """<head><meta charset="utf-8"></head>
<body><div id="me" style="width:320px;height:240px"></div><div id="remote"></div></body>"""


async def test_a_browser_entering_through_another_node_is_redirected_and_plays_media(
    cluster: Cluster, clients: list[RelayRoomClient], chromium: Browser
) -> None:
    room = ROOM + 1
    ana = await _enter(cluster, clients, 0, "ana", room)
    owner = await cluster.owner(f"{cluster.sdkappid}:n:{room}")
    entry = next(n for n in cluster.nodes if n.name != owner)  # a node that does not run the room
    page = await chromium.page("web")
    await page.goto(f"{entry.url}/healthz")  # a page of node B's origin
    await page.evaluate("(html) => { document.documentElement.innerHTML = html; }", BROWSER_PAGE)
    await page.evaluate(
        """() => {
          window.__sockets = [];
          const Native = window.WebSocket;
          window.WebSocket = class extends Native {
            constructor(...args) { super(...args); window.__sockets.push(args[0]); }
          };
        }"""
    )
    await page.evaluate(
        """async ([sdkAppId, userSig, roomId]) => {
          const m = await import('/sdk/relayroom.js');
          window.RelayRoom = m.default;
          window.rr = RelayRoom.create();
          await rr.enterRoom({sdkAppId, userId: 'web', userSig, roomId, autoReceiveVideo: true});
          await rr.startLocalAudio();
          await rr.startLocalVideo({view: 'me', option: {profile: '240p'}});
        }""",
        [cluster.sdkappid, cluster.sig("web"), room],
    )
    sockets: list[str] = await page.evaluate("() => window.__sockets")
    owner_port = next(n.port for n in cluster.nodes if n.name == owner)
    assert sockets == [f"ws://127.0.0.1:{entry.port}/signal", f"ws://127.0.0.1:{owner_port}/signal"]
    await page.evaluate("() => rr.startRemoteVideo({userId: 'ana', view: document.getElementById('remote')})")
    await wait_media_from(page, ["ana"], rr_expr="rr")

    async def state() -> Any:
        return await page.evaluate("() => rr.connectionState === 'CONNECTED'")

    await eventually(state, within=10, what="the page connected")
    # and the Python member on the owner decodes the page's camera and microphone
    video = await ana.wait_remote_track("web", "video", within=30)
    await video.wait_frames(video.frames + 10, within=30)
    audio = await ana.wait_remote_track("web", "audio", within=30)
    await audio.wait_frames(audio.frames + 20, within=30)
    await page.evaluate("() => rr.exitRoom()")
