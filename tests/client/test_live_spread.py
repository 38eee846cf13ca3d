"""A live room spread over two workers: the anchor publishes on the room's origin worker, the audience is
placed on both workers (``pipe_threshold`` 0), the edge worker gets the anchor's tracks through pipes.

Real server (signalling + RoomManager + MediaService with two worker processes), Python SDK clients that
decode colours and tones, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack, colour_close
from relayroom.media.service import MediaService
from relayroom.media.types import MediaEventType, MediaParams
from tests.client.crowd_server import room_manager
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer, serve

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

RED = (220, 30, 30)
TONE = 440.0
ROOM = 5151
AUDIENCE = ["v0", "v1", "v2", "v3"]


@pytest.fixture
async def spread_server() -> AsyncIterator[RunningServer]:
    from relayroom.control.rooms.manager import RoomLimits

    media = MediaService(MediaParams(workers=2, loopback_only=True, pipe_threshold=0.0))
    await media.start()
    manager = room_manager(
        media, RoomLimits(idle_timeout_s=10.0, heartbeat_interval_s=1.0, sweep_interval_s=0.2)
    )
    try:
        async with serve(manager, media) as running:
            yield running
    finally:
        await media.close()


@pytest.fixture
async def clients() -> AsyncIterator[dict[str, RelayRoomClient]]:
    made: dict[str, RelayRoomClient] = {}
    yield made
    await asyncio.gather(*(c.close() for c in made.values()), return_exceptions=True)


async def enter(
    server: RunningServer, made: dict[str, RelayRoomClient], user: str, role: str
) -> RelayRoomClient:
    old = made.get(user)
    if old is not None:
        await old.close()  # a reset member comes back as a new client session
    client = RelayRoomClient(server.url)
    made[user] = client
    await client.enter_room(
        sdk_app_id=SDKAPPID,
        user_id=user,
        user_sig=usersig(user),
        room_id=ROOM,
        scene="live",
        role=role,
        auto_receive_audio=True,
        auto_receive_video=True,
    )
    return client


async def decodes_anchor(client: RelayRoomClient, frames: int = 10) -> None:
    video = await client.wait_remote_track("anchor", "video", within=20)
    audio = await client.wait_remote_track("anchor", "audio", within=20)
    await video.wait_frames(video.frames + frames, within=20)
    await audio.wait_frames(audio.frames + 25, within=20)
    colour = video.colour()
    assert colour is not None and colour_close(colour, RED), (client.user_id, colour)
    assert audio.last_rms > 2000, (client.user_id, audio.last_rms)
    assert abs(audio.last_frequency - TONE) < 60, (client.user_id, audio.last_frequency)


def _pipe_stats(dump: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [list(w.get("pipes") or []) for w in dump["workers"]]


async def test_live_room_audience_on_two_workers_decodes_the_anchor_survives_the_edge_worker_and_pipes_close(
    spread_server: RunningServer, clients: dict[str, RelayRoomClient]
) -> None:
    server = spread_server
    media: MediaService = server.media
    events: list[MediaEventType] = []
    media.on_event(lambda e: events.append(e.type))
    anchor = await enter(server, clients, "anchor", "anchor")
    await anchor.publish(audio_track=SineAudioTrack(TONE), video_track=TestPatternVideoTrack(RED))
    for user in AUDIENCE:
        await enter(server, clients, user, "audience")
    await asyncio.gather(*(decodes_anchor(clients[u]) for u in AUDIENCE))

    room = server.manager.get_room(f"{SDKAPPID}:n:{ROOM}")
    assert room is not None
    origin = media.worker_for_router(room.router_id).index
    edge = 1 - origin
    by_participant = media.placement(room.router_id)
    placement = {p.user_id: by_participant[p.participant_id] for p in room.participants.values()}
    on_edge = [u for u in AUDIENCE if placement[u] == edge]
    on_origin = [u for u in AUDIENCE if placement[u] == origin]
    assert on_edge and on_origin, placement
    assert placement["anchor"] == origin
    dump = await media.dump()
    pipes = _pipe_stats(dump)
    assert [p["producersPiped"] for p in pipes[origin]] == [2]  # audio + video, one pipe each, shared
    assert [p["pipeProducers"] for p in pipes[edge]] == [2]

    # worker 2 dies: only its audience is told to reconnect; the origin's audience keeps decoding
    handle = media._workers[edge]
    assert handle is not None
    handle.kill()
    for u in on_edge:
        ev = await clients[u].wait_for_event("reconnect", within=10)
        assert ev.data == {"reason": "worker_died"}
    await asyncio.gather(*(decodes_anchor(clients[u]) for u in on_origin))
    for u in [*on_origin, "anchor"]:
        assert not [e for e in clients[u].event_log if e.name in ("reconnect", "remote-user-exit")], u
    assert server.manager.get_room(f"{SDKAPPID}:n:{ROOM}") is room
    async with asyncio.timeout(20):
        while MediaEventType.WORKER_RESTARTED not in events:
            await asyncio.sleep(0.05)

    # they enter again by themselves and resume (placed again, possibly on the restarted worker)
    for u in on_edge:
        await clients[u].wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTED", 30)
    await asyncio.gather(*(decodes_anchor(clients[u]) for u in on_edge))

    # the anchor leaves: every pipe closes on both workers
    await anchor.exit_room()
    for u in AUDIENCE:
        await clients[u].wait_for_event("remote-user-exit", lambda d: d["userId"] == "anchor", within=10)
    dump = await media.dump()
    for worker_pipes in _pipe_stats(dump):
        assert all(p["producersPiped"] == 0 and p["pipeProducers"] == 0 for p in worker_pipes), worker_pipes
    assert all(
        not r["edges"] or all(not e["pipedProducers"] for e in r["edges"].values())
        for r in dump["routers"].values()
    )
