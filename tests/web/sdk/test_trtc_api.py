"""trtc-sdk-v5 methods and events on real pages: switchRoom (live rooms; the local tracks keep being
published, into the new room), getVideoSnapshot (a decodable image of the remote video), remote and
local track getters, updateScreenShare and a screen share's audio, the player events (TRACK,
FIRST_VIDEO_FRAME, VIDEO_SIZE_CHANGED, *_PLAY_STATE_CHANGED), DEVICE_CHANGED (a changed device list,
which Chromium's fake devices cannot produce by themselves, so the page's list is swapped and
`devicechange` dispatched), PERMISSION_STATE_CHANGE (permissions granted and revoked by the browser
context), the statics, and TRTC's 5200 for what RelayRoom does not offer."""

from __future__ import annotations

import base64
import io
from typing import Any

import av
import pytest

from tests.serving import eventually
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, Browser, Server
from tests.web.helpers import events, record_events, sdk_page, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

NEW_EVENTS = [
    "track",
    "first-video-frame",
    "video-size-changed",
    "video-play-state-changed",
    "audio-play-state-changed",
    "device-changed",
    "permission-state-change",
]

RECORD_NEW = """(names) => {
  window.__events = window.__events || [];
  for (const name of names) rr.on(name, (d) => {
    const copy = {};
    for (const [k, v] of Object.entries(d || {})) {
      if (v && typeof v === 'object' && 'kind' in v && 'readyState' in v) copy[k] = {kind: v.kind, id: v.id};
      else if (v && typeof v === 'object' && 'deviceId' in v) {
        copy[k] = {deviceId: v.deviceId, kind: v.kind, label: v.label};
      }
      else copy[k] = v;
    }
    window.__events.push([name, copy]);
  });
}"""

ENTER = """async ([userId, roomId, scene, role, publish]) => {
  window.rr = RelayRoom.create();
  const {sdkAppId, userSig} = await window.userSig(userId);
  window.__userSig = userSig;
  await rr.enterRoom({sdkAppId, userId, userSig, roomId, scene, role});
  if (publish) {
    await rr.startLocalAudio();
    await rr.startLocalVideo({view: 'me', option: {profile: '240p'}});
  }
}"""


async def member(
    b: Browser,
    server: Server,
    user: str,
    room: int,
    *,
    scene: str = "rtc",
    role: str = "anchor",
    publish: bool = True,
) -> Any:
    page = await sdk_page(b, server, user)
    await _enter(page, user, room, scene, role, publish)
    return page


async def _enter(page: Any, user: str, room: int, scene: str, role: str, publish: bool) -> None:
    await page.evaluate("(names) => { window.__newEvents = names; }", NEW_EVENTS)
    await page.evaluate(
        ENTER.replace(
            "window.rr = RelayRoom.create();",
            f"window.rr = RelayRoom.create(); ({RECORD_NEW})(window.__newEvents);",
        ),
        [user, room, scene, role, publish],
    )
    await record_events(page, "rr")


async def show(page: Any, user: str, stream_type: str = "main") -> None:
    await page.evaluate(
        "([userId, streamType]) => rr.startRemoteVideo({userId, streamType, view: 'remote'})",
        [user, stream_type],
    )


def decode_png(data_url: str) -> tuple[int, int, float]:
    """(width, height, mean brightness) of a PNG data URL, decoded by FFmpeg (PyAV)."""
    assert data_url.startswith("data:image/png;base64,"), data_url[:40]
    raw = base64.b64decode(data_url.split(",", 1)[1])
    with av.open(io.BytesIO(raw), mode="r", format="png_pipe") as container:
        frame = next(container.decode(video=0))
        pixels = frame.to_ndarray(format="rgb24")
    return frame.width, frame.height, float(pixels.mean())


async def test_switch_room_keeps_publishing_the_same_tracks_into_the_new_room(
    server: Server, chromium: Browser
) -> None:
    alice = await member(chromium, server, "alice", 61, scene="live")
    bob = await member(chromium, server, "bob", 61, scene="live", role="audience", publish=False)
    carol = await member(chromium, server, "carol", 62, scene="live")
    await show(bob, "alice")
    await wait_media_from(bob, ["alice"], rr_expr="rr")
    tracks_before = await alice.evaluate("() => [rr.getVideoTrack().id, rr.getAudioTrack().id]")

    # refusals first: nothing changes
    refused = await alice.evaluate(
        """async (userSig) => {
          const out = {};
          const cases = [['string room', {userSig, strRoomId: 'lobby'}], ['same room', {userSig, roomId: 61}],
                         ['no room', {userSig}], ['bad userSig', {userSig: 5, roomId: 62}]];
          for (const [name, params] of cases) {
            try {
              await rr.switchRoom(params);
              out[name] = 'no error';
            } catch (e) { out[name] = [e.code, e.extraCode]; }
          }
          return out;
        }""",
        await alice.evaluate("window.__userSig"),
    )
    assert refused == {
        "string room": [5000, 5019],
        "same room": [5000, 5020],
        "no room": [5000, 5015],
        "bad userSig": [5000, 0],
    }

    await alice.evaluate("() => rr.switchRoom({userSig: window.__userSig, roomId: 62})")
    assert await alice.evaluate("() => [rr.room.roomId, rr.connectionState]") == [62, "CONNECTED"]
    # the same local tracks, published into room 62: carol plays them; bob (room 61) saw alice leave
    assert await alice.evaluate("() => [rr.getVideoTrack().id, rr.getAudioTrack().id]") == tracks_before
    await show(carol, "alice")
    await wait_media_from(carol, ["alice"], rr_expr="rr")
    await eventually(lambda: events(bob, "remote-user-exit"), what="alice left room 61 for bob")
    assert [e["userId"] for e in await events(alice, "remote-user-enter")] == ["carol"]
    await show(alice, "carol")
    await wait_media_from(alice, ["carol"], rr_expr="rr")
    states = [e["state"] for e in await events(alice, "connection-state-changed")]
    assert states == []  # recorded since the entry: no reconnect, no disconnect around the switch

    # an audience member switches too, and sees both anchors of the new room
    await bob.evaluate("() => rr.switchRoom({userSig: window.__userSig, roomId: 62})")
    await show(bob, "alice")
    await show(bob, "carol")
    await wait_media_from(bob, ["alice", "carol"], rr_expr="rr")

    # rtc rooms have no switchRoom (TRTC: live scene)
    dave = await member(chromium, server, "dave", 63, publish=False)
    result = await dave.evaluate(
        """async () => {
          try { await rr.switchRoom({roomId: 64}); return 'no error'; }
          catch (e) { return [e.code, e.extraCode]; }
        }"""
    )
    assert result == [5100, 0]


async def test_snapshot_tracks_and_player_events(server: Server, chromium: Browser) -> None:
    alice = await member(chromium, server, "alice", 65)
    bob = await member(chromium, server, "bob", 65)
    assert (
        await bob.evaluate("() => rr.getVideoSnapshot({userId: 'alice'})") == ""
    )  # not playing yet, as TRTC
    await show(bob, "alice")
    await wait_media_from(bob, ["alice"], rr_expr="rr")

    # a snapshot of the remote video decodes to the remote picture's size, and is not black
    snap = await bob.evaluate("() => rr.getVideoSnapshot({userId: 'alice', streamType: 'main'})")
    width, height, brightness = decode_png(snap)
    assert (width, height) == (320, 240) and brightness > 10, (width, height, brightness)
    local = decode_png(await bob.evaluate("() => rr.getVideoSnapshot()"))
    assert local[:2] == (320, 240)

    # the remote tracks are the ones playing
    remote = await bob.evaluate(
        """() => {
          const v = rr.getVideoTrack({userId: 'alice'});
          const a = rr.getAudioTrack('alice');
          const shown = document.querySelector('#remote video').srcObject.getVideoTracks()[0];
          return [v.kind, v.readyState, v === shown, a.kind, rr.getAudioTrack({userId: 'alice'}) === a,
                  rr.getVideoTrack({userId: 'alice', streamType: 'sub'}),
                  rr.getVideoTrack({userId: 'nobody'})];
        }"""
    )
    assert remote == ["video", "live", True, "audio", True, None, None]

    tracks = await events(bob, "track")
    assert {(t["userId"], t["streamType"], t["track"]["kind"]) for t in tracks} >= {
        ("", "main", "audio"),
        ("", "main", "video"),
        ("alice", "main", "audio"),
        ("alice", "main", "video"),
    }
    first = await eventually(lambda: events(bob, "first-video-frame"), what="first frames")
    assert {"userId": "alice", "streamType": "main", "width": 320, "height": 240} in first
    assert {"userId": "", "streamType": "main", "width": 320, "height": 240} in first
    plays = await eventually(lambda: events(bob, "video-play-state-changed"), what="video playing")
    assert {"userId": "alice", "streamType": "main", "state": "PLAYING", "reason": "playing"} in plays
    audio_plays = await eventually(lambda: events(bob, "audio-play-state-changed"), what="audio playing")
    assert {"userId": "alice", "state": "PLAYING", "reason": "playing"} in audio_plays

    # the publisher's picture shrinks: both its preview and the remote player report the new size
    await alice.evaluate("() => rr.updateLocalVideo({option: {profile: '120p'}})")
    local_sizes = await eventually(lambda: events(alice, "video-size-changed"), within=30, what="local size")
    assert {"userId": "", "streamType": "main", "newWidth": 160, "newHeight": 120} in local_sizes
    sizes = await eventually(lambda: events(bob, "video-size-changed"), within=30, what="remote size")
    assert {"userId": "alice", "streamType": "main", "newWidth": 160, "newHeight": 120} in sizes

    # stopping the player stops it
    await bob.evaluate("() => rr.stopRemoteVideo({userId: 'alice', streamType: 'main'})")
    plays = await events(bob, "video-play-state-changed")
    assert plays[-1] == {"userId": "alice", "streamType": "main", "state": "STOPPED", "reason": "ended"}


async def test_screen_share_update_and_its_audio(server: Server, chromium: Browser) -> None:
    # carol has no microphone: the audio others hear from her is her screen share's
    carol = await member(chromium, server, "carol", 66, publish=False)
    bob = await member(chromium, server, "bob", 66)
    await carol.evaluate(
        """async () => {
          const ctx = new AudioContext();
          const osc = ctx.createOscillator();
          const dest = ctx.createMediaStreamDestination();
          osc.connect(dest);
          osc.start();
          window.__tone = dest.stream.getAudioTracks()[0];
          const option = {profile: '480p', systemAudio: true, audioTrack: window.__tone};
          await rr.startScreenShare({option});
        }"""
    )
    await show(bob, "carol", "sub")
    await wait_media_from(bob, ["carol"], rr_expr="rr", stream_type="sub")
    assert await carol.evaluate("() => rr.getAudioTrack({streamType: 'sub'}) === window.__tone")
    assert await carol.evaluate("() => rr.getVideoTrack({streamType: 'sub'}).kind") == "video"

    # updateScreenShare({publish: false}) stops sending the share (preview kept), true sends it again
    await carol.evaluate("() => rr.updateScreenShare({publish: false})")
    await eventually(
        lambda: _has(bob, "remote-video-unavailable", {"userId": "carol", "streamType": "sub"}),
        what="share unpublished",
    )
    await carol.evaluate("() => rr.updateScreenShare({publish: true, option: {fillMode: 'cover'}})")
    await eventually(
        lambda: _count(bob, "remote-video-available", {"userId": "carol", "streamType": "sub"}, 2),
        what="share published again",
    )
    await wait_media_from(bob, ["carol"], rr_expr="rr", stream_type="sub")

    # with a microphone too, both are mixed into carol's one audio stream
    await carol.evaluate("() => rr.startLocalAudio()")
    assert await carol.evaluate("() => rr._local.sent('audio').mixed === true")
    await wait_media_from(bob, ["carol"], rr_expr="rr", video=False)
    await carol.evaluate("() => rr.stopScreenShare()")
    assert await carol.evaluate("() => rr._local.sent('audio').track === rr.getAudioTrack()")
    await wait_media_from(bob, ["carol"], rr_expr="rr", video=False)


async def _has(page: Any, name: str, fields: dict[str, Any]) -> bool:
    return any(all(e.get(k) == v for k, v in fields.items()) for e in await events(page, name))


async def _count(page: Any, name: str, fields: dict[str, Any], n: int) -> bool:
    return len([e for e in await events(page, name) if all(e.get(k) == v for k, v in fields.items())]) >= n


async def test_devices_permissions_statics_and_what_is_not_offered(server: Server, chromium: Browser) -> None:
    page = await sdk_page(chromium, server, "erin")
    statics = await page.evaluate(
        """async () => {
          const s = await RelayRoom.isSupported();
          const cams = await RelayRoom.getCameraList();
          const mics = await RelayRoom.getMicrophoneList(false);
          const perms = await RelayRoom.getPermissions({request: false});
          return {result: s.result, detail: s.detail, mics: mics.length, perms,
                  cams: cams.map((d) => [d.kind, !!d.label, !!d.deviceId])};
        }"""
    )
    assert statics["result"] is True
    assert statics["detail"]["isH264EncodeSupported"] and statics["detail"]["isVp8DecodeSupported"]
    assert statics["detail"]["isSmallStreamSupported"] is True
    assert statics["cams"] and all(c == ["videoinput", True, True] for c in statics["cams"])
    assert statics["mics"] >= 1

    await _enter(page, "erin", 67, "rtc", "anchor", True)
    active = await eventually(lambda: events(page, "device-changed"), what="active devices")
    assert {(e["type"], e["action"]) for e in active} == {("camera", "active"), ("microphone", "active")}

    # a device appears and one goes: the page's list changes and the browser's devicechange event fires
    await page.evaluate(
        """() => {
          const md = navigator.mediaDevices;
          const real = md.enumerateDevices.bind(md);
          md.enumerateDevices = async () => {
            const list = (await real()).filter((d) => d.kind !== 'audiooutput');
            return [...list, {deviceId: 'usb-cam-2', kind: 'videoinput', label: 'USB camera', groupId: 'g2'}];
          };
          md.dispatchEvent(new Event('devicechange'));
        }"""
    )
    changed = await eventually(lambda: _has(page, "device-changed", {"action": "add"}), what="device added")
    assert changed
    rows = await events(page, "device-changed")
    added = [e for e in rows if e["action"] == "add"]
    assert added == [
        {
            "type": "camera",
            "action": "add",
            "device": {"deviceId": "usb-cam-2", "kind": "videoinput", "label": "USB camera"},
        }
    ]
    assert all(e["type"] == "speaker" for e in rows if e["action"] == "remove")

    not_offered = await page.evaluate(
        """async () => {
          const out = {};
          const attempt = async (name, fn) => {
            try { await fn(); out[name] = 'no error'; } catch (e) { out[name] = [e.code, e.extraCode]; }
          };
          await attempt('startPlugin', () => rr.startPlugin('VirtualBackground', {}));
          await attempt('use', () => rr.use({plugin: {}}));
          await attempt('callExperimentalAPI', () => rr.callExperimentalAPI('enableAudioFrameEvent', {}));
          await attempt('on audio-frame', () => rr.on(RelayRoom.EVENT.AUDIO_FRAME, () => {}));
          return out;
        }"""
    )
    assert not_offered == {
        "startPlugin": [5200, 5210],
        "use": [5200, 5210],
        "callExperimentalAPI": [5200, 0],
        "on audio-frame": [5200, 0],
    }


async def test_permission_changes_are_reported(server: Server) -> None:
    """Chromium's fake media UI grants everything for good; without it the permissions start as 'prompt'
    and the browser context grants and revokes them."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
        b = Browser(await p.chromium.launch(executable_path=CHROMIUM, args=args))
        try:
            page = await sdk_page(b, server, "frank")
            initial = await page.evaluate(
                """async () => {
                  window.rr = RelayRoom.create();
                  window.__perms = [];
                  rr.on('permission-state-change', (e) => window.__perms.push(e));
                  return RelayRoom.getPermissions({request: false});
                }"""
            )
            assert initial == {"camera": "prompt", "microphone": "prompt"}
            await page.context.grant_permissions(["camera", "microphone"], origin=server.base_url)
            await eventually(
                lambda: page.evaluate(
                    "() => __perms.some((e) => e.camera === 'granted' && e.microphone === 'granted')"
                ),
                what="both granted",
            )
            await page.context.clear_permissions()
            await eventually(
                lambda: page.evaluate(
                    "() => __perms.at(-1).camera === 'prompt' && __perms.at(-1).microphone === 'prompt'"
                ),
                what="both back to prompt",
            )
            await page.evaluate("() => rr.destroy()")
        finally:
            await b.browser.close()
        assert not b.errors, b.errors
