"""One member's bad input never degrades another: the bad-SSRC room, end to end (real server, real
worker, Python SDK clients on 127.0.0.1)."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

import pytest
from aiortc import RTCPeerConnection

from relayroom.client import RelayRoomClient, RelayRoomError, TestPatternVideoTrack, colour_close
from relayroom.media.service import MediaService
from relayroom.media.service_state import ParticipantState, RouterState
from relayroom.media.worker_handle import WorkerHandle
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer

pytestmark = pytest.mark.timeout(120)

GREEN = (30, 200, 30)
BLUE = (30, 30, 220)


async def member(server: RunningServer, user: str) -> RelayRoomClient:
    c = RelayRoomClient(server.url)
    await c.enter_room(
        sdk_app_id=SDKAPPID, user_id=user, user_sig=usersig(user), room_id=31, auto_receive_video=True
    )
    return c


async def video_offer() -> str:
    """A real aiortc offer with one sending video track (VP8 + RTX, a=ssrc-group:FID)."""
    pc = RTCPeerConnection()
    pc.addTransceiver(TestPatternVideoTrack(BLUE), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    text = pc.localDescription.sdp
    await pc.close()
    return text


def with_fid(offer: str, media_ssrc: int, rtx_ssrc: int) -> str:
    """The offer with its FID group (and a=ssrc lines) rewritten to the given values."""
    match = re.search(r"a=ssrc-group:FID (\d+) (\d+)", offer)
    assert match is not None
    old_media, old_rtx = match.groups()
    out = offer.replace(f"a=ssrc:{old_media} ", f"a=ssrc:{media_ssrc} ")
    out = out.replace(f"a=ssrc:{old_rtx} ", f"a=ssrc:{rtx_ssrc} ")
    return out.replace(match.group(0), f"a=ssrc-group:FID {media_ssrc} {rtx_ssrc}")


async def test_a_malformed_offer_is_refused_and_a_later_subscriber_still_receives_honest_publishers(
    server: RunningServer,
) -> None:
    alice = await member(server, "alice")
    mallory = await member(server, "mallory")
    bob: RelayRoomClient | None = None
    try:
        await alice.publish(video_track=TestPatternVideoTrack(GREEN))
        offer = await video_offer()
        for media_ssrc, rtx_ssrc in ((1111, 2**32 + 7), (2**32, 1111), (1111, 0), (-5, 1111), (1111, 1111)):
            with pytest.raises(RelayRoomError) as exc:
                await mallory.request(
                    "publish",
                    {"sdp": with_fid(offer, media_ssrc, rtx_ssrc), "tracks": [{"kind": "video"}]},
                )
            assert exc.value.code == 5000 and "ssrc" in exc.value.message, exc.value
        bob = await member(server, "bob")
        track = await bob.wait_remote_track("alice", "video", within=30)
        await track.wait_frames(5, within=30)
        colour = track.colour()
        assert colour is not None and colour_close(colour, GREEN)
        assert [e for e in bob.event_log if e.name == "error"] == []
    finally:
        for c in (alice, mallory, bob):
            if c is not None:
                await c.close()


async def test_a_producer_the_worker_cannot_consume_fails_alone_and_is_retried(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken: set[str] = set()
    real_consume = MediaService._consume

    async def consume(
        self: MediaService, worker: WorkerHandle, state: RouterState, p: ParticipantState, producer_id: str
    ) -> None:
        if producer_id in broken:  # what a builder raising in the worker looked like to the caller
            raise struct.error("'I' format requires 0 <= number <= 4294967295")
        await real_consume(self, worker, state, p, producer_id)

    monkeypatch.setattr(MediaService, "_consume", consume)
    alice = await member(server, "alice")
    mallory = await member(server, "mallory")
    bob: RelayRoomClient | None = None
    try:
        await alice.publish(video_track=TestPatternVideoTrack(GREEN))
        produced: Sequence[dict[str, str]] = await mallory.publish(video_track=TestPatternVideoTrack(BLUE))
        broken.add(produced[0]["producerId"])
        bob = await member(server, "bob")
        track = await bob.wait_remote_track("alice", "video", within=30)
        await track.wait_frames(5, within=30)
        error = await bob.wait_for_event("error", lambda d: d.get("reason") == "subscribe_failed", 20)
        assert (error.data["userId"], error.data["kind"], error.data["streamType"]) == (
            "mallory",
            "video",
            "main",
        )
        assert bob.remote_track("mallory", "video") is None
        broken.clear()  # the worker recovers: the retry gives bob mallory's stream too
        late = await bob.wait_remote_track("mallory", "video", within=30)
        await late.wait_frames(5, within=30)
        colour = late.colour()
        assert colour is not None and colour_close(colour, BLUE)
    finally:
        for c in (alice, mallory, bob):
            if c is not None:
                await c.close()


async def test_an_offer_without_a_ssrc_gets_a_clear_invalid_parameter_and_no_traceback(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    mallory = await member(server, "mallory")
    try:
        offer = "\r\n".join(
            line for line in (await video_offer()).split("\r\n") if not line.startswith("a=ssrc")
        )
        with pytest.raises(RelayRoomError) as exc:
            await mallory.request("publish", {"sdp": offer, "tracks": [{"kind": "video"}]})
        assert exc.value.code == 5000 and "a=ssrc" in exc.value.message, exc.value
        assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
        await mallory.publish(video_track=TestPatternVideoTrack(BLUE))  # the member carries on
    finally:
        await mallory.close()
