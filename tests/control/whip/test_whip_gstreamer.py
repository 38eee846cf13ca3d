"""A WHIP publisher that is not RelayRoom code (GStreamer's webrtcbin) into a room; a Python SDK
client in the room decodes its video and audio. All media on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, colour_close
from tests.control.cloudapi.server import live_server, settings_for
from tests.control.whip.gst import gst_client, require_gstreamer

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

ROOM = 5150
GREEN = (30, 200, 30)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_gstreamer_publishes_over_whip_and_an_sdk_client_decodes_it(tmp_path: Path, codec: str) -> None:
    require_gstreamer("openh264enc" if codec == "h264" else "vp8enc")
    async with live_server(settings_for(tmp_path / "d", media=True)) as live:
        assert live.first is not None
        app, key = live.first.sdkappid, live.first.secret_key
        async with RelayRoomClient(live.signal_url) as bob:
            await bob.enter_room(
                sdk_app_id=app,
                user_id="bob",
                user_sig=gen_usersig(app, key, "bob", 3600),
                room_id=ROOM,
                auto_receive_audio=True,
                auto_receive_video=True,
            )
            url = f"http://127.0.0.1:{live.port}/whip/{ROOM}"
            token = gen_usersig(app, key, "encoder", 3600)
            async with gst_client("whip", url, token, "--codec", codec, "--colour", "1ec81e") as gst:
                answered = await gst.wait("answered")
                assert answered["status"] == 201 and "/whip/sessions/" in answered["location"]
                video = await bob.wait_remote_track("encoder", "video", within=30)
                audio = await bob.wait_remote_track("encoder", "audio", within=30)
                await video.wait_frames(10, within=30)
                await audio.wait_frames(50, within=30)
                colour = video.colour()
                assert colour is not None and colour_close(colour, GREEN), colour
                assert audio.last_rms > 1000, audio.last_rms
                assert abs(audio.last_frequency - 440.0) < 60, audio.last_frequency
                await gst.stop()
                assert (await gst.wait("deleted"))["status"] == 200
            await bob.wait_for_event("remote-user-exit", lambda d: d["userId"] == "encoder")
