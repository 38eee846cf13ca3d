"""Many members entering at once on a two-worker node: every one of them must get the streams it wants.

Live rooms with an anchor already publishing; the audience enters concurrently (Python SDK clients), as
when a class starts. Each audience member must receive the anchor's audio and video. The server runs in
its own process (tests/client/crowd_server.py), so that the clients' event loop, busy decoding, sees
the server's messages with production timing. The slow test runs 20 members; a smaller crowd runs in
the normal suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack, colour_close
from tests.client.crowd_server import CrowdServer, crowd_server
from tests.control.rooms.fakes import SDKAPPID, usersig

COLOURS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (220, 220, 30)]


@pytest.fixture
async def server() -> AsyncIterator[CrowdServer]:
    async with crowd_server(workers=2) as running:
        yield running


@dataclass
class CrowdResult:
    members: int
    without_media: list[str] = field(default_factory=list)  # user ids that never decoded the anchor
    errors: dict[str, list[str]] = field(default_factory=dict)  # user id -> error events it got


async def enter_crowd(url: str, rooms: int, audience_per_room: int) -> CrowdResult:
    """One anchor publishing per live room, then every audience member of every room enters within
    about a second."""
    clients: list[RelayRoomClient] = []
    try:
        for r in range(rooms):
            anchor = RelayRoomClient(url)
            clients.append(anchor)
            await anchor.enter_room(
                sdk_app_id=SDKAPPID,
                user_id=f"anchor{r}",
                user_sig=usersig(f"anchor{r}"),
                room_id=9000 + r,
                scene="live",
                role="anchor",
                auto_receive_audio=False,
            )
            await anchor.publish(
                audio_track=SineAudioTrack(440.0 + 110 * r), video_track=TestPatternVideoTrack(COLOURS[r])
            )
        audience = [(r, f"aud{r}x{i}") for r in range(rooms) for i in range(audience_per_room)]
        members = {user: RelayRoomClient(url, request_timeout=60) for _, user in audience}
        clients.extend(members.values())

        async def member(index: int, room: int, user: str) -> bool:
            await asyncio.sleep(index / len(audience))  # all within one second
            c = members[user]
            await c.enter_room(
                sdk_app_id=SDKAPPID,
                user_id=user,
                user_sig=usersig(user),
                room_id=9000 + room,
                scene="live",
                role="audience",
                auto_receive_audio=True,
                auto_receive_video=True,
            )
            try:
                video = await c.wait_remote_track(f"anchor{room}", "video", within=90)
                audio = await c.wait_remote_track(f"anchor{room}", "audio", within=30)
                await video.wait_frames(3, within=60)
                await audio.wait_frames(10, within=30)
            except TimeoutError:
                return False
            colour = video.colour()
            assert colour is not None and colour_close(colour, COLOURS[room]), (user, colour)
            return True

        outcomes = await asyncio.gather(*(member(i, r, u) for i, (r, u) in enumerate(audience)))
        result = CrowdResult(len(audience))
        for (_, user), ok in zip(audience, outcomes, strict=True):
            errors = [str(e.data.get("message")) for e in members[user].event_log if e.name == "error"]
            if errors:
                result.errors[user] = errors
            if not ok:
                result.without_media.append(user)
        return result
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def check(result: CrowdResult, server: CrowdServer) -> None:
    log = "\n".join(server.stderr[-40:])
    assert result.without_media == [], f"{result}\nserver log:\n{log}"
    assert result.errors == {}, f"{result}\nserver log:\n{log}"


@pytest.mark.timeout(300)
async def test_six_audience_members_entering_at_once_on_two_workers_all_receive_the_anchor(
    server: CrowdServer,
) -> None:
    check(await enter_crowd(server.url, rooms=2, audience_per_room=3), server)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_twenty_members_entering_at_once_on_two_workers_all_receive_the_anchor(
    server: CrowdServer,
) -> None:
    check(await enter_crowd(server.url, rooms=2, audience_per_room=10), server)
