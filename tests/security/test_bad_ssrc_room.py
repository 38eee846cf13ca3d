"""Probe: one member's malformed offer must not cut media off for anyone who joins later (the probe in
which an SSRC >= 2^32 in a=ssrc-group:FID made every later subscriber's batch of consumers fail,
honest publishers' streams included)."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCSessionDescription

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, RelayRoomError, TestPatternVideoTrack, colour_close
from tests.security.conftest import Server

GREEN = (30, 200, 30)

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

def spoil(sdp: str, which: str, value: int) -> str:
    """The offer with the main (or RTX) video SSRC of its FID group replaced by ``value``."""
    m = re.search(r"a=ssrc-group:FID (\d+) (\d+)", sdp)
    assert m is not None, "the offer has an FID group"
    old = m.group(1) if which == "main" else m.group(2)
    return re.sub(rf"\b{old}\b", str(value), sdp)


@pytest.mark.parametrize(
    ("which", "value"),
    [
        pytest.param("main", 2**32 + 7, id="main-over-2^32"),
        pytest.param("main", -1, id="main-negative"),
        pytest.param("main", 0, id="main-0"),
        pytest.param("rtx", 2**32, id="rtx-2^32"),
        pytest.param("rtx", -1, id="rtx-negative"),
    ],
)
async def test_a_later_honest_subscriber_still_receives_the_honest_publisher(
    server: Server, which: str, value: int
) -> None:
    room = 5000 + abs(hash((which, value))) % 1000
    app, key = server.sdkappid, server.secret_key

    def sig(user: str) -> str:
        token: str = gen_usersig(app, key, user, 600)
        return token

    async with (
        RelayRoomClient(server.signal_url) as alice,
        RelayRoomClient(server.signal_url) as mallory,
        RelayRoomClient(server.signal_url) as carol,
    ):
        await alice.enter_room(sdk_app_id=app, user_id="alice", user_sig=sig("alice"), room_id=room)
        await alice.publish(video_track=TestPatternVideoTrack(GREEN))
        await mallory.enter_room(sdk_app_id=app, user_id="mallory", user_sig=sig("mallory"), room_id=room)
        pc = mallory._new_peer_connection()
        try:
            transceiver = pc.addTransceiver(TestPatternVideoTrack((200, 0, 0)), direction="sendonly")
            with mallory._gathering():
                await pc.setLocalDescription(await pc.createOffer())
            bad = spoil(pc.localDescription.sdp, which, value)
            tracks = [{"kind": "video", "streamType": "main", "mid": transceiver.mid}]
            try:
                answer = await mallory.request("publish", {"sdp": bad, "tracks": tracks})
                await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            except RelayRoomError as exc:
                assert exc.code == 5000  # refused with a clear error is fine too
            # a member who joins later subscribes to everyone, mallory's producer included
            await carol.enter_room(
                sdk_app_id=app, user_id="carol", user_sig=sig("carol"), room_id=room, auto_receive_video=True
            )
            track = await carol.wait_remote_track("alice", "video", within=30)
            await track.wait_frames(5, within=30)
            colour = track.colour()
            assert colour is not None and colour_close(colour, GREEN)
        finally:
            await pc.close()
