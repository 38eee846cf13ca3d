"""TRTC's big/small stream between Chromium pages: the publisher sends its camera as two simulcast
encodings (startLocalVideo option.small), subscriber A takes the big one, B the small one, and B switches
(updateRemoteVideo option.small) with the SFU's layer switching."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.serving import eventually
from tests.web.conftest import Browser, Server
from tests.web.helpers import sdk_page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

VIDEO_WIDTH = """(userId) => {
  const v = document.querySelector(`#remote [data-user-id="${userId}"] video`);
  return v && !v.paused && v.videoWidth ? v.videoWidth : 0;
}"""


async def enter(page: Any, user_id: str, room: int) -> None:
    await page.evaluate(
        """async ([userId, roomId]) => {
          window.rr = RelayRoom.create();
          window.__errors = [];
          rr.on('error', (e) => __errors.push(String(e)));
          const {sdkAppId, userSig} = await window.userSig(userId);
          await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveVideo: false});
        }""",
        [user_id, room],
    )


async def width_of(page: Any, user_id: str) -> int:
    return int(await page.evaluate(VIDEO_WIDTH, user_id))


async def seconds_until_width(page: Any, user_id: str, check: Any, what: str) -> float:
    t0 = time.monotonic()
    await eventually(lambda: _matches(page, user_id, check), what=what, within=10)
    return time.monotonic() - t0


async def _matches(page: Any, user_id: str, check: Any) -> bool:
    return bool(check(await width_of(page, user_id)))


async def test_big_and_small_per_subscriber_and_switching(server: Server, chromium: Browser) -> None:
    room = 3131
    pub = await sdk_page(chromium, server, "pub")
    a = await sdk_page(chromium, server, "a")
    b = await sdk_page(chromium, server, "b")
    await enter(pub, "pub", room)
    await pub.evaluate("() => rr.startLocalVideo({view: 'me', option: {profile: '480p', small: true}})")
    encodings = await pub.evaluate(
        """() => rr._send.sender('video').getParameters().encodings"""
        """.map((e) => [e.rid, e.scaleResolutionDownBy])"""
    )
    assert encodings == [["s", 2], ["b", 1]]
    await enter(a, "a", room)
    await enter(b, "b", room)
    await a.evaluate("() => rr.startRemoteVideo({userId: 'pub', view: 'remote', option: {small: false}})")
    await b.evaluate("() => rr.startRemoteVideo({userId: 'pub', view: 'remote', option: {small: true}})")
    big = await eventually(lambda: width_of(a, "pub"), what="A plays the big stream", within=20)
    small = await eventually(lambda: width_of(b, "pub"), what="B plays the small stream", within=20)
    # Chromium's encoder may start below the capture size while it ramps up: wait for the settled sizes
    await seconds_until_width(a, "pub", lambda w: w >= 640, "A at 640 wide")
    big = await width_of(a, "pub")
    small = await width_of(b, "pub")
    assert 0 < small * 2 <= big, (small, big)

    await b.evaluate("() => rr.updateRemoteVideo({userId: 'pub', option: {small: false}})")
    up = await seconds_until_width(b, "pub", lambda w: w > big // 2, "B switched to big")
    await b.evaluate("() => rr.updateRemoteVideo({userId: 'pub', option: {small: true}})")
    down = await seconds_until_width(b, "pub", lambda w: 0 < w <= big // 2, "B back on small")
    print(f"B to big {up:.2f} s, back to small {down:.2f} s; widths big {big}, small {small}")
    assert await width_of(a, "pub") >= 640  # A never moved
    for page in (pub, a, b):
        assert await page.evaluate("window.__errors") == []


async def test_audio_volume_of_remote_users_comes_from_the_server(server: Server, chromium: Browser) -> None:
    """Three Python publishers with tones at different levels: the page's audio-volume lists the loudest
    first (the SFU's RFC 6464 levels; the page decodes nothing for it)."""
    from relayroom.auth.usersig import gen_usersig
    from relayroom.client import RelayRoomClient, SineAudioTrack

    room = 3132
    sdkappid, key = server.first.sdkappid, server.first.secret_key
    clients = []
    try:
        for user, amplitude in (("loud", 16000), ("mid", 2000), ("soft", 250)):
            c = RelayRoomClient(server.ws_url)
            await c.enter_room(
                sdk_app_id=sdkappid, user_id=user, user_sig=gen_usersig(sdkappid, key, user), room_id=room
            )
            await c.publish(audio_track=SineAudioTrack(440, amplitude=amplitude))
            clients.append(c)
        page = await sdk_page(chromium, server, "ear")
        await enter(page, "ear", room)
        await page.evaluate(
            "() => { window.__volumes = []; rr.enableAudioVolumeEvaluation(200);"
            " rr.on('audio-volume', (e) => __volumes.push(e.result)); }"
        )
        three = await eventually(
            lambda: page.evaluate("() => __volumes.filter((r) => r.length === 3).slice(-3)"),
            what="volumes of three users",
            within=20,
        )
        for result in three:
            assert [r["userId"] for r in result] == ["loud", "mid", "soft"], result
    finally:
        for c in clients:
            await c.close()
