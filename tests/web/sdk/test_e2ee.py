"""End-to-end encrypted rooms in real Chromium (docs/e2ee.md): pages with the same key play each other,
a page with another key gets e2ee-error and decodes nothing, a page and the Python SDK decode each other,
and key changes during a call keep the pictures going. One page uses the createEncodedStreams fallback,
the others RTCRtpScriptTransform in the SDK's worker."""

from __future__ import annotations

from typing import Any

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack, colour_close
from tests.serving import eventually
from tests.web.conftest import Browser, Server
from tests.web.helpers import events, inbound, record_events, sdk_page, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PASSPHRASE = "correct horse battery staple"
BLUE = (30, 60, 230)

ENTER = """async ([userId, roomId, key, streamsFallback]) => {
  if (streamsFallback) window.RTCRtpScriptTransform = undefined;  // as in a browser without it
  window.rr = RelayRoom.create();
  const {sdkAppId, userSig} = await window.userSig(userId);
  await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveVideo: true, e2ee: {key}});
  await rr.startLocalAudio();
  await rr.startLocalVideo({view: 'me', option: {profile: '240p'}});
  return {e2ee: rr.room.e2ee, mode: rr._pipeline._mode};
}"""

SHOW = """(userId) => rr.startRemoteVideo({userId, view: document.getElementById('remote')})"""

CENTRE_PIXEL = """(userId) => {
  const v = document.querySelector(`#remote [data-user-id="${userId}"] video`);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  return Array.from(g.getImageData(c.width >> 2, c.height >> 1, 1, 1).data.slice(0, 3));
}"""


async def e2ee_page(
    chromium: Browser, server: Server, user: str, room: int, key: str, *, streams: bool = False
) -> Any:
    page = await sdk_page(chromium, server, user)
    state = await page.evaluate(ENTER, [user, room, key, streams])
    assert state == {"e2ee": True, "mode": "streams" if streams else "script"}
    await record_events(page, "rr")
    await page.evaluate("() => rr.on('e2ee-error', (d) => window.__events.push(['e2ee-error', d]))")
    return page


async def decoded(page: Any, user: str) -> tuple[int, float, int]:
    rows = await inbound(page, "rr")
    video, audio = rows.get((user, "video", "main"), {}), rows.get((user, "audio", "main"), {})
    return (
        int(video.get("framesDecoded", 0)),
        float(audio.get("totalAudioEnergy", 0.0)),
        int(video.get("packetsReceived", 0)) + int(audio.get("packetsReceived", 0)),
    )


async def keeps_decoding(page: Any, user: str, frames: int = 10) -> None:
    start = (await decoded(page, user))[0]

    async def more() -> bool:
        return (await decoded(page, user))[0] >= start + frames

    await eventually(more, within=40, what=f"{frames} more frames from {user}")


async def test_pages_with_the_key_play_each_other_and_a_page_with_another_key_gets_e2ee_error(
    server: Server, chromium: Browser
) -> None:
    room = 9001
    alice = await e2ee_page(chromium, server, "alice", room, PASSPHRASE)
    bob = await e2ee_page(chromium, server, "bob", room, PASSPHRASE, streams=True)
    await wait_media_from(alice, ["bob"], rr_expr="rr")
    await wait_media_from(bob, ["alice"], rr_expr="rr")

    carol = await e2ee_page(chromium, server, "carol", room, "another passphrase")

    async def errors_for_both() -> bool:
        users = {e.get("userId") for e in await events(carol, "e2ee-error")}
        return {"alice", "bob"} <= users

    await eventually(errors_for_both, within=40, what="e2ee-error for alice's and bob's streams at carol")
    reasons = {e["reason"] for e in await events(carol, "e2ee-error")}
    assert reasons == {"no-key"}

    async def media_arrived() -> bool:
        return all([(await decoded(carol, u))[2] > 200 for u in ("alice", "bob")])

    await eventually(media_arrived, within=40, what="packets at carol")
    for user in ("alice", "bob"):
        frames, energy, _packets = await decoded(carol, user)
        assert frames == 0 and energy == 0.0, (user, frames, energy)  # nothing decoded, no garbage
    # ... while alice and bob still play each other
    await keeps_decoding(alice, "bob")
    await keeps_decoding(bob, "alice")
    assert not await events(alice, "e2ee-error") or all(
        e.get("userId") == "carol" for e in await events(alice, "e2ee-error")
    )


async def test_a_page_and_the_python_sdk_decode_each_other_in_one_e2ee_room(
    server: Server, chromium: Browser
) -> None:
    room = 9002
    sdkappid, secret = server.first.sdkappid, server.first.secret_key
    py = RelayRoomClient(server.ws_url)
    try:
        await py.enter_room(
            sdk_app_id=sdkappid,
            user_id="py",
            user_sig=gen_usersig(sdkappid, secret, "py"),
            room_id=room,
            auto_receive_video=True,
            e2ee_key=PASSPHRASE,
        )
        await py.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack(BLUE))
        page = await e2ee_page(chromium, server, "web", room, PASSPHRASE)
        await page.evaluate(SHOW, "py")
        await wait_media_from(page, ["py"], rr_expr="rr")
        pixel = await eventually(lambda: page.evaluate(CENTRE_PIXEL, "py"), what="a decoded picture")
        assert colour_close(tuple(pixel), BLUE), pixel

        video = await py.wait_remote_track("web", "video", within=30)
        await video.wait_frames(video.frames + 10, within=30)
        audio = await py.wait_remote_track("web", "audio", within=30)
        await audio.wait_frames(audio.frames + 20, within=30)
        assert py.e2ee is not None and all(d.decrypted >= 20 for d in py.e2ee.decryptors.values())
        # aiortc hands on a frame that lost a packet as it is: such a frame fails authentication and is
        # dropped (auth-failed), but no frame of the page's key is ever unknown to the Python SDK
        assert not [e for e in py.event_log if e.name == "e2ee-error" and e.data["reason"] != "auth-failed"]
        assert not await events(page, "e2ee-error")
    finally:
        await py.close()


async def test_key_rotation_during_a_call_keeps_frames_decoding(server: Server, chromium: Browser) -> None:
    room = 9003
    alice = await e2ee_page(chromium, server, "alice", room, PASSPHRASE)
    bob = await e2ee_page(chromium, server, "bob", room, PASSPHRASE)
    await wait_media_from(bob, ["alice"], rr_expr="rr")

    # The ratchet: alice moves on, bob follows within the window without being told.
    for _ in range(3):
        await alice.evaluate("() => rr.ratchetE2EEKey()")
        await keeps_decoding(bob, "alice", frames=5)
    assert not await events(bob, "e2ee-error")

    # A new key from the application: bob takes it first and still decodes alice's older key; once
    # alice has it too, both sides decode the new key.
    await bob.evaluate("() => rr.setE2EEKey(new TextEncoder().encode('a brand new 32-byte raw key!!!!!'))")
    await keeps_decoding(bob, "alice", frames=5)
    await alice.evaluate("() => rr.setE2EEKey(new TextEncoder().encode('a brand new 32-byte raw key!!!!!'))")
    await keeps_decoding(bob, "alice", frames=10)
    await keeps_decoding(alice, "bob", frames=10)
    assert not await events(bob, "e2ee-error")


async def test_e2ee_calls_are_checked_before_anything_is_sent(server: Server, chromium: Browser) -> None:
    page = await sdk_page(chromium, server, "web")
    out = await page.evaluate(
        """async () => {
          const rr = RelayRoom.create();
          const base = {sdkAppId: 1400000001, userId: 'alice', userSig: 'sig', roomId: 1};
          const codes = {};
          const tries = {
            'e2ee not an object': () => rr.enterRoom({...base, e2ee: 'secret'}),
            'empty passphrase': () => rr.enterRoom({...base, e2ee: {key: ''}}),
            'short raw key': () => rr.enterRoom({...base, e2ee: {key: new Uint8Array(8)}}),
            'key of another type': () => rr.enterRoom({...base, e2ee: {key: 42}}),
            'setE2EEKey outside a room': () => rr.setE2EEKey('secret'),
            'ratchet outside a room': () => rr.ratchetE2EEKey(),
          };
          for (const [name, call] of Object.entries(tries)) {
            try { await call(); codes[name] = 'no error'; } catch (e) { codes[name] = [e.code, e.extraCode]; }
          }
          return {codes, sockets: window.__sockets.length};
        }"""
    )
    assert out["sockets"] == 0
    assert out["codes"] == {
        "e2ee not an object": [5000, 0],
        "empty passphrase": [5000, 0],
        "short raw key": [5000, 0],
        "key of another type": [5000, 0],
        "setE2EEKey outside a room": [5100, 5101],
        "ratchet outside a room": [5100, 5101],
    }
