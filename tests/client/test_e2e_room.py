"""The issue's end-to-end test: real server, real MediaService, Python SDK clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from relayroom.client import (
    ClientEvent,
    RelayRoomClient,
    SineAudioTrack,
    TestPatternVideoTrack,
    colour_close,
)
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

COLOURS = {"alice": (220, 30, 30), "bob": (30, 200, 30), "carol": (30, 30, 220), "dave": (220, 220, 30)}
TONES = {"alice": 440.0, "bob": 660.0, "carol": 880.0, "dave": 550.0}


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[dict[str, RelayRoomClient]]:
    made: dict[str, RelayRoomClient] = {}
    yield made
    await asyncio.gather(*(c.close() for c in made.values()), return_exceptions=True)


async def join(server: RunningServer, made: dict[str, RelayRoomClient], user: str) -> RelayRoomClient:
    client = RelayRoomClient(server.url)
    made[user] = client
    await client.enter_room(
        sdk_app_id=SDKAPPID,
        user_id=user,
        user_sig=usersig(user),
        room_id=4242,
        auto_receive_audio=True,
        auto_receive_video=True,
    )
    await client.publish(
        audio_track=SineAudioTrack(TONES[user]),
        video_track=TestPatternVideoTrack(COLOURS[user]),
    )
    return client


async def check_receives(client: RelayRoomClient, others: list[str]) -> None:
    for other in others:
        video = await client.wait_remote_track(other, "video", within=20)
        audio = await client.wait_remote_track(other, "audio", within=20)
        await video.wait_frames(10, within=20)
        await audio.wait_frames(25, within=20)
        colour = video.colour()
        assert colour is not None and colour_close(colour, COLOURS[other]), (client.user_id, other, colour)
        assert audio.last_rms > 2000, (client.user_id, other, audio.last_rms)  # the tone's amplitude is 8000
        # each publisher has its own tone: the client hears the right one
        assert abs(audio.last_frequency - TONES[other]) < 60, (client.user_id, other, audio.last_frequency)


def names_for(events: list[ClientEvent], user: str) -> list[str]:
    return [e.name for e in events if e.data.get("userId") == user and e.name != "track"]


async def test_three_publishers_hear_and_see_each_other_then_one_leaves_and_a_late_joiner_gets_keyframes(
    server: RunningServer, clients: dict[str, RelayRoomClient]
) -> None:
    users = ["alice", "bob", "carol"]
    for user in users:
        await join(server, clients, user)
    await asyncio.gather(*(check_receives(clients[u], [o for o in users if o != u]) for u in users))

    # Events in order: enter before the streams, per remote user.
    for u in users:
        for other in (o for o in users if o != u):
            seq = names_for(clients[u].event_log, other)
            assert seq[0] == "remote-user-enter", (u, other, seq)
            assert {"remote-audio-available", "remote-video-available"} <= set(seq[1:3]), (u, other, seq)

    # carol leaves: the others see her streams go and then her exit.
    await clients["carol"].exit_room()
    for u in ("alice", "bob"):
        ev = await clients[u].wait_for_event("remote-user-exit", lambda d: d["userId"] == "carol")
        assert ev.data["reason"] == 0
        seq = names_for(clients[u].event_log, "carol")
        assert seq[-3:] == ["remote-audio-unavailable", "remote-video-unavailable", "remote-user-exit"], seq

    # dave joins late: he decodes both remaining publishers within a second of his receive track
    # appearing (the SFU asks the publishers for a keyframe instead of waiting for aiortc's 3000-frame GOP).
    dave = await join(server, clients, "dave")
    for other in ("alice", "bob"):
        video = await dave.wait_remote_track(other, "video", within=10)
        await video.wait_frames(1, within=10)
        assert video.first_frame_at is not None
        delay = video.first_frame_at - video.created_at
        assert delay < 1.0, (other, delay)
        await video.wait_frames(5, within=10)
        colour = video.colour()
        assert colour is not None and colour_close(colour, COLOURS[other]), (other, colour)
    # and the earlier members receive dave.
    await asyncio.gather(*(check_receives(clients[u], ["dave"]) for u in ("alice", "bob")))
