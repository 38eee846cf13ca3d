"""Draining a node (control/drain.py) through the real server stop path (control/server.py): members in
rooms get the ``redirect`` (reason "drain"), the SDK leaves and goes back where it came from (a single
node: nowhere else), the drain ends when they are gone; a client that does not follow holds the drain
until the timeout, then gets the shutdown notice. Real signalling server, media workers and SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from relayroom.client import RelayRoomClient, TestPatternVideoTrack
from relayroom.control.drain import Drainer, DrainReport
from relayroom.control.rooms.manager import RoomLimits, RoomManager
from relayroom.control.server import Server, server_config
from relayroom.control.signaling.connections import SignalConnections
from relayroom.media.service import MediaService
from relayroom.media.types import MediaParams
from tests.client.crowd_server import room_manager
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import signalling_app
from tests.serving import eventually, running

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

LIMITS = RoomLimits(idle_timeout_s=20.0, heartbeat_interval_s=1.0, sweep_interval_s=0.2)


@pytest.fixture
async def media() -> AsyncIterator[MediaService]:
    service = MediaService(MediaParams(workers=1, loopback_only=True))
    await service.start()
    try:
        yield service
    finally:
        await service.close()


def draining_server(media: MediaService, drain_timeout_s: float) -> tuple[Server, RoomManager]:
    """The signalling server as `relayroom serve` stops it, with a drain of ``drain_timeout_s``."""
    manager = room_manager(media, LIMITS)
    app, connections = signalling_app(manager)
    config = server_config(app, "127.0.0.1", 0, log_level="warning", lifespan="off", ws="websockets-sansio")
    return Server(config, app, connections=connections, drain_timeout_s=drain_timeout_s), manager


async def test_sdk_members_are_told_to_move_and_leave_so_the_drain_ends_before_its_timeout(
    media: MediaService,
) -> None:
    server, manager = draining_server(media, 60)
    await manager.start()
    clients: list[RelayRoomClient] = []
    try:
        async with running(server, stop_within=60) as port:
            for user in ("alice", "bob"):
                c = RelayRoomClient(f"ws://127.0.0.1:{port}/signal", reconnect_timeout=3)
                await c.enter_room(sdk_app_id=SDKAPPID, user_id=user, user_sig=usersig(user), room_id=5)
                clients.append(c)
            alice, bob = clients
            await alice.publish(video_track=TestPatternVideoTrack((200, 40, 40)))
            await bob.subscribe("alice", "video")
            await (await bob.wait_remote_track("alice", "video", within=30)).wait_frames(3, within=30)

            server.should_exit = True  # what SIGTERM does
            for c in clients:
                ev = await c.wait_for_event("redirect", within=20)
                assert ev.data == {"url": c.url, "reason": "drain"}  # single node: back where it came from

            def drained() -> DrainReport | None:
                return server.drainer.report if server.drainer is not None else None

            report = await eventually(drained, 60, what="the drain")
        assert report is not None
        assert (report.told, report.left, report.remaining, report.target) == (2, 2, 0, None)
        assert manager.get_room(f"{SDKAPPID}:n:5") is None  # they exited: the room closed
        for c in clients:  # nowhere to go: the SDK tried the node again until it gave up
            await c.wait_for_event("error", lambda d: d.get("reason") == "reconnect_failed", within=30)
            assert c.connection_state == "DISCONNECTED"
    finally:
        for c in clients:
            await c.close()
        await manager.close()


async def test_a_member_that_does_not_follow_holds_the_drain_until_the_timeout_then_is_told_of_the_stop(
    media: MediaService,
) -> None:
    server, manager = draining_server(media, 1)
    await manager.start()
    try:
        async with running(server, stop_within=30) as port:
            async with connect(f"ws://127.0.0.1:{port}/signal") as ws:
                enter = {"sdkAppId": SDKAPPID, "userId": "old", "userSig": usersig("old"), "roomId": 6}
                await ws.send(json.dumps({"v": 1, "id": 1, "type": "enter", "data": enter}))
                while json.loads(await asyncio.wait_for(ws.recv(), 30)).get("id") != 1:
                    pass
                server.should_exit = True
                seen: list[dict[str, object]] = []
                async for raw in ws:  # until the server closes the socket
                    seen.append(json.loads(raw))
        redirects = [m for m in seen if m.get("type") == "redirect"]
        assert [(m["url"], m["reason"]) for m in redirects] == [("", "drain")]
        assert any(m.get("event") == "server-shutdown" for m in seen)  # after the drain, the stop notice
        assert server.drainer is not None and server.drainer.report is not None
        assert (server.drainer.report.told, server.drainer.report.remaining) == (1, 1)
    finally:
        await manager.close()


async def test_a_second_drain_waits_for_the_first_and_new_sockets_are_refused() -> None:
    members = SignalConnections()
    drainer = Drainer(members, timeout_s=5)
    first, second = await asyncio.gather(drainer.drain(), drainer.drain())
    assert first is second and members.closing
