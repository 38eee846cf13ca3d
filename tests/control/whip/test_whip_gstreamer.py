"""A WHIP publisher that is not RelayRoom code (GStreamer's webrtcbin) into a room; a Python SDK
client and a browser SDK page in the room decode its video and audio. All media on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, colour_close
from tests.control.cloudapi.server import live_server, settings_for
from tests.control.whip.gst import gst_client, require_gstreamer
from tests.serving import eventually
from tests.web.conftest import Browser, running_server
from tests.web.helpers import enter_and_publish, events, sdk_page, wait_media_from
from tests.web.sdk.test_sdk import CENTRE_PIXEL

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


async def test_a_browser_sdk_page_in_the_room_sees_and_hears_a_gstreamer_whip_publisher(
    tmp_path: Path, chromium: Browser
) -> None:
    require_gstreamer("vp8enc", "opusenc")
    async with running_server(tmp_path) as server:
        app, key = server.first.sdkappid, server.first.secret_key
        page = await sdk_page(chromium, server, "web")
        await enter_and_publish(page, "web", ROOM, video=False)
        token = gen_usersig(app, key, "encoder", 3600)
        async with gst_client("whip", f"{server.base_url}/whip/{ROOM}", token, "--colour", "1ec81e") as gst:
            await gst.wait("answered")
            await page.evaluate(
                "() => rr.startRemoteVideo({userId: 'encoder', view: document.getElementById('remote')})"
            )
            await wait_media_from(page, ["encoder"], rr_expr="rr")

            async def green_pixel() -> list[int] | None:
                pixel: list[int] | None = await page.evaluate(CENTRE_PIXEL, "encoder")
                return pixel if pixel and colour_close((pixel[0], pixel[1], pixel[2]), GREEN) else None

            await eventually(green_pixel, within=15, what="the encoder's colour in the page")
            entered = await events(page, "remote-user-enter")
            assert {"userId": "encoder"} in entered
        await page.evaluate("() => rr.exitRoom()")
        await page.close()  # before the server stops: a page left open would try to reconnect
