"""TRTC's big/small stream with the Python SDK against the real server: the publisher sends its camera
and a half-size copy, each subscriber chooses; the SFU switches encodings on key frames."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import av
import pytest

from relayroom.client import RelayRoomClient, RemoteTrack, TestPatternVideoTrack
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

GREEN = (30, 200, 30)
BIG = (320, 240)


@contextlib.asynccontextmanager
async def client(server: RunningServer, user: str) -> AsyncIterator[RelayRoomClient]:
    c = RelayRoomClient(server.url)
    try:
        await c.enter_room(
            sdk_app_id=SDKAPPID, user_id=user, user_sig=usersig(user), room_id=81, auto_receive_video=False
        )
        yield c
    finally:
        await c.close()


def width(track: RemoteTrack) -> int | None:
    frame = track.last_frame
    return frame.width if isinstance(frame, av.VideoFrame) else None


async def width_becomes(track: RemoteTrack, wanted: int, within: float) -> float:
    """Seconds until the decoded frames have ``wanted`` width (and keep coming)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if width(track) == wanted:
            frames = track.frames
            await track.wait_frames(frames + 3, 5)
            if width(track) == wanted:
                return time.monotonic() - t0
        await asyncio.sleep(0.05)
    raise AssertionError(f"width stayed {width(track)}, wanted {wanted}")


async def test_subscribers_choose_big_or_small_and_switch(server: RunningServer) -> None:
    async with client(server, "pub") as pub, client(server, "a") as a, client(server, "b") as b:
        await pub.publish(video_track=TestPatternVideoTrack(GREEN, *BIG, fps=15), small=True)
        await a.start_remote_video("pub", small=False)
        await b.start_remote_video("pub", small=True)
        big = await a.wait_remote_track("pub", "video")
        small = await b.wait_remote_track("pub", "video")
        await width_becomes(big, BIG[0], 15)
        await width_becomes(small, BIG[0] // 2, 15)
        assert width(small) is not None and width(big) is not None
        assert width(small) * 2 <= width(big)  # type: ignore[operator]
        # B switches to the big stream and back; one receive track all along (one SSRC)
        await b.update_remote_video("pub", small=False)
        up = await width_becomes(small, BIG[0], 5)
        await b.update_remote_video("pub", small=True)
        down = await width_becomes(small, BIG[0] // 2, 5)
        assert b.remote_track("pub", "video") is small
        assert width(big) == BIG[0]  # A never moved
        print(f"switch to big {up:.2f} s, back to small {down:.2f} s")


async def test_small_falls_back_to_big_when_the_publisher_sends_no_small_stream(
    server: RunningServer,
) -> None:
    async with client(server, "pub") as pub, client(server, "b") as b:
        await pub.publish(video_track=TestPatternVideoTrack(GREEN, *BIG, fps=15))
        await b.start_remote_video("pub", small=True)
        track = await b.wait_remote_track("pub", "video")
        await width_becomes(track, BIG[0], 15)
