"""The SDK on a bare page: parameter validation before anything is sent, interop with the Python SDK,
and reconnecting by itself (worker killed, signalling socket dropped)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from typing import Any

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack, colour_close
from relayroom.control.deps import container_of
from relayroom.control.rooms.subscriptions import NegotiationTiming
from tests.serving import eventually
from tests.web.conftest import Browser, Server
from tests.web.helpers import enter_and_publish, events, record_events, sdk_page, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

BLUE = (30, 60, 230)

# [call, expected code, expected extraCode]; every call must fail before a socket is opened.
INVALID_CALLS = """async () => {
  const base = {sdkAppId: 1400000001, userId: 'alice', userSig: 'sig', roomId: 1};
  const cases = [
    ['roomId 0', {...base, roomId: 0}],
    ['roomId too big', {...base, roomId: 4294967295}],
    ['roomId fraction', {...base, roomId: 1.5}],
    ['roomId NaN', {...base, roomId: NaN}],
    ['roomId string', {...base, roomId: '123'}],
    ['no room', {sdkAppId: 1400000001, userId: 'alice', userSig: 'sig'}],
    ['strRoomId empty', {...base, roomId: undefined, strRoomId: ''}],
    ['strRoomId 65 bytes', {...base, roomId: undefined, strRoomId: 'a'.repeat(65)}],
    ['strRoomId slash', {...base, roomId: undefined, strRoomId: 'a/b'}],
    ['strRoomId non-ascii', {...base, roomId: undefined, strRoomId: 'caf\\u00e9'}],
    ['strRoomId number', {...base, roomId: undefined, strRoomId: 12}],
    ['userId empty', {...base, userId: ''}],
    ['userId 33', {...base, userId: 'u'.repeat(33)}],
    ['userId space', {...base, userId: 'a b'}],
    ['userId unicode', {...base, userId: '\\u00fcser'}],
    ['userId number', {...base, userId: 7}],
    ['sdkAppId string', {...base, sdkAppId: '1400000001'}],
    ['sdkAppId zero', {...base, sdkAppId: 0}],
    ['userSig missing', {...base, userSig: ''}],
    ['scene', {...base, scene: 'meeting'}],
    ['role', {...base, scene: 'live', role: 'host'}],
    ['autoReceiveVideo', {...base, autoReceiveVideo: 'yes'}],
    ['serverUrl', {...base, serverUrl: 'ftp://x'}],
  ];
  const rr = RelayRoom.create();
  const out = {};
  for (const [name, params] of cases) {
    try { await rr.enterRoom(params); out[name] = 'no error'; }
    catch (e) { out[name] = [e.name, e.code, e.extraCode, e.functionName]; }
  }
  const calls = {
    'sendCustomMessage cmdId 11': () => rr.sendCustomMessage({cmdId: 11, data: new ArrayBuffer(1)}),
    'sendCustomMessage 1025 bytes': () => rr.sendCustomMessage({cmdId: 1, data: new ArrayBuffer(1025)}),
    'sendCustomMessage not in room': () => rr.sendCustomMessage({cmdId: 1, data: new ArrayBuffer(1)}),
    'startRemoteVideo bad streamType': () =>
      rr.startRemoteVideo({userId: 'bob', streamType: 'aux', view: 'me'}),
    'startRemoteVideo not in room': () => rr.startRemoteVideo({userId: 'bob', view: 'me'}),
    'startRemoteVideo no such view': () => rr.startRemoteVideo({userId: 'bob', view: 'nope'}),
    'switchRole bad role': () => rr.switchRole('host'),
    'switchRole not in room': () => rr.switchRole('audience'),
    'muteRemoteAudio bad userId': () => rr.muteRemoteAudio('a b', true),
    'setRemoteAudioVolume negative': async () => rr.setRemoteAudioVolume('bob', -1),
    'startLocalVideo bad profile': () => rr.startLocalVideo({option: {profile: '999p'}}),
    'updateLocalAudio before start': () => rr.updateLocalAudio({mute: true}),
  };
  for (const [name, call] of Object.entries(calls)) {
    try { await call(); out[name] = 'no error'; }
    catch (e) { out[name] = [e.name, e.code, e.extraCode, e.functionName]; }
  }
  // valid ids pass the pure check (roomId wins over a bad strRoomId; the whole strRoomId charset)
  const ok = [
    sdk.validateEnterRoomParams({...base, roomId: 4294967294, strRoomId: 'a/b'}).roomId,
    sdk.validateEnterRoomParams({...base, roomId: undefined,
      strRoomId: 'aZ09 !#$%&()+-:;<=.>?@[]^_{}|~,'}).strRoomId,
    sdk.validateEnterRoomParams({...base, roomId: null, strRoomId: 'x'.repeat(64)}).strRoomId.length,
    sdk.validateEnterRoomParams({...base, userId: 'A-z_9'.padEnd(32, 'x')}).userId.length,
  ];
  const e = (err) => { const r = sdk.fromServerError(err, 'x'); return [r.code, r.extraCode]; };
  const mapped = [e({code: 5012}), e({code: 5101}), e({code: -100018}), e({code: 5000, extraCode: 4}),
                  e({code: 5400}), e({code: 42})];
  const urls = [sdk.signalUrl(), sdk.signalUrl('https://rtc.example.com'), sdk.signalUrl('http://h:8080/'),
                sdk.signalUrl('wss://rtc.example.com/custom')];
  return {out, ok, mapped, urls, origin: location.host, sockets: window.__sockets.length};
}"""

E5000 = ["RtcError", 5000, 0]
EXPECTED: dict[str, list[Any]] = {
    "roomId 0": ["RtcError", 5000, 5012],
    "roomId too big": ["RtcError", 5000, 5012],
    "roomId fraction": ["RtcError", 5000, 5012],
    "roomId NaN": ["RtcError", 5000, 5012],
    "roomId string": ["RtcError", 5000, 5016],
    "no room": ["RtcError", 5000, 5015],
    "strRoomId empty": ["RtcError", 5000, 5013],
    "strRoomId 65 bytes": ["RtcError", 5000, 5013],
    "strRoomId slash": ["RtcError", 5000, 5013],
    "strRoomId non-ascii": ["RtcError", 5000, 5013],
    "strRoomId number": ["RtcError", 5000, 5013],
    "userId empty": E5000,
    "userId 33": E5000,
    "userId space": E5000,
    "userId unicode": E5000,
    "userId number": E5000,
    "sdkAppId string": E5000,
    "sdkAppId zero": E5000,
    "userSig missing": E5000,
    "scene": E5000,
    "role": E5000,
    "autoReceiveVideo": E5000,
    "serverUrl": E5000,
    "sendCustomMessage cmdId 11": E5000,
    "sendCustomMessage 1025 bytes": E5000,
    "sendCustomMessage not in room": ["RtcError", 5100, 5101],
    "startRemoteVideo bad streamType": E5000,
    "startRemoteVideo not in room": ["RtcError", 5100, 5101],
    "startRemoteVideo no such view": E5000,
    "switchRole bad role": E5000,
    "switchRole not in room": ["RtcError", 5100, 5101],
    "muteRemoteAudio bad userId": E5000,
    "setRemoteAudioVolume negative": E5000,
    "startLocalVideo bad profile": E5000,
    "updateLocalAudio before start": ["RtcError", 5100, 0],
}


async def test_invalid_parameters_fail_before_anything_is_sent(server: Server, chromium: Browser) -> None:
    page = await sdk_page(chromium, server, "validation")
    result = await page.evaluate(INVALID_CALLS)
    got = {name: row[:3] for name, row in result["out"].items()}
    assert got == EXPECTED
    assert result["out"]["roomId 0"][3] == "enterRoom"
    assert result["ok"] == [4294967294, "aZ09 !#$%&()+-:;<=.>?@[]^_{}|~,", 64, 32]
    assert result["sockets"] == 0, "a WebSocket was opened for an invalid call"
    # the server's codes as trtc-sdk-v5 applications read them; the default signalling URL
    assert result["mapped"] == [[5000, 5012], [5100, 5101], [5400, -100018], [5000, 4], [5400, 0], [5999, 42]]
    assert result["urls"] == [
        f"ws://{result['origin']}/signal",
        "wss://rtc.example.com/signal",
        "ws://h:8080/signal",
        "wss://rtc.example.com/custom",
    ]

    # What the server refuses comes back as TRTC's SERVER_ERROR with the server's code as extraCode.
    refused = await page.evaluate(
        """async () => {
          const {sdkAppId} = await userSig('mallory');
          const rr = RelayRoom.create();
          try { await rr.enterRoom({sdkAppId, userId: 'mallory', userSig: 'not-a-usersig', roomId: 5}); }
          catch (e) { return [e.code, e.extraCode, rr.connectionState, window.__sockets.length]; }
          return 'entered';
        }"""
    )
    assert refused == [5400, -100018, "DISCONNECTED", 1]
    # Entering twice is an invalid operation; the second call sends nothing.
    twice = await page.evaluate(
        """async () => {
          const {sdkAppId, userSig: sig} = await userSig('alice');
          const rr = RelayRoom.create();
          await rr.enterRoom({sdkAppId, userId: 'alice', userSig: sig, strRoomId: 'lobby'});
          const before = window.__sockets.length;
          let err = null;
          try { await rr.enterRoom({sdkAppId, userId: 'alice', userSig: sig, strRoomId: 'lobby'}); }
          catch (e) { err = [e.code, e.extraCode]; }
          const room = rr.room;
          await rr.exitRoom();
          return [err, window.__sockets.length - before, room.strRoomId, rr.connectionState];
        }"""
    )
    assert twice == [[5100, 0], 0, "lobby", "DISCONNECTED"]


async def _python_client(server: Server, user_id: str, room: int) -> RelayRoomClient:
    sdkappid, key = server.first.sdkappid, server.first.secret_key
    client = RelayRoomClient(server.ws_url)
    await client.enter_room(
        sdk_app_id=sdkappid,
        user_id=user_id,
        user_sig=gen_usersig(sdkappid, key, user_id),
        room_id=room,
        auto_receive_video=True,
    )
    await client.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack(BLUE))
    return client


CENTRE_PIXEL = """(userId) => {
  const v = document.querySelector(`#remote [data-user-id="${userId}"] video`);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  return Array.from(g.getImageData(c.width >> 2, c.height >> 1, 1, 1).data.slice(0, 3));
}"""


async def _python_hears_and_sees(client: RelayRoomClient, user_id: str) -> None:
    video = await client.wait_remote_track(user_id, "video", within=20)
    start = video.frames
    await video.wait_frames(start + 10, within=20)
    audio = await client.wait_remote_track(user_id, "audio", within=20)
    await audio.wait_frames(audio.frames + 20, within=20)
    await eventually(lambda: _async(audio.last_rms > 0), within=10, what="audio energy at the Python client")


async def _async(value: Any) -> Any:
    return value


RECORD_SENT = """() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try { window.__sent.push(JSON.parse(data)); } catch { /* not JSON */ }
    return send.call(this, data);
  };
}"""


async def test_browser_and_python_client_see_and_hear_each_other(server: Server, chromium: Browser) -> None:
    room = 777
    py = await _python_client(server, "py", room)
    try:
        page = await sdk_page(chromium, server, "web")
        await page.evaluate(RECORD_SENT)
        await enter_and_publish(page, "web", room)
        # the SDK tells the server what it is at entry (DescribeUserInfo DeviceType / SdkVersion)
        enter = await page.evaluate("() => window.__sent.find((m) => m.type === 'enter').data")
        assert re.fullmatch(r"Web Chrome \d+ \(Linux\)", enter["deviceType"]), enter["deviceType"]
        assert enter["sdkVersion"] == "relayroom-web/" + await page.evaluate("() => RelayRoom.VERSION")
        await page.evaluate(
            "() => rr.startRemoteVideo({userId: 'py', view: document.getElementById('remote')})"
        )
        await wait_media_from(page, ["py"], rr_expr="rr")

        # (the pattern's moving white bar may cover the sampled pixel in one frame: sample again)
        async def blue_pixel() -> list[int] | None:
            pixel: list[int] | None = await page.evaluate(CENTRE_PIXEL, "py")
            return pixel if pixel and colour_close((pixel[0], pixel[1], pixel[2]), BLUE) else None

        await eventually(blue_pixel, within=15, what="the publisher's colour in the page")
        await _python_hears_and_sees(py, "web")

        # mute and custom messages both ways
        await page.evaluate("() => rr.updateLocalAudio({mute: true})")
        ev = await py.wait_for_event(
            "remote-audio-unavailable", lambda d: d["userId"] == "web" and d.get("reason") == "mute"
        )
        assert ev.data["streamType"] == "main"
        await py.send_custom_message(3, b"from python")
        await page.evaluate("() => rr.sendCustomMessage({cmdId: 4, data: new TextEncoder().encode('web')})")
        got = await py.wait_for_event("custom-message", lambda d: d["userId"] == "web")
        assert got.data["cmdId"] == 4 and got.data["data"] == "d2Vi"
        msgs = await eventually(lambda: events(page, "custom-message"), what="custom message in the page")
        assert msgs[0] == {"userId": "py", "cmdId": 3, "seq": msgs[0]["seq"], "data": "from python"}
        await page.evaluate("() => rr.exitRoom()")
        await py.wait_for_event("remote-user-exit", lambda d: d["userId"] == "web")
    finally:
        await py.close()


COUNT_OFFERS = """() => {
  window.__offers = {};
  __sockets.at(-1).addEventListener('message', (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'event' && msg.event === 'offer') {
      const n = msg.data.negotiationId;
      window.__offers[n] = (window.__offers[n] || 0) + 1;
    }
  });
}"""


async def test_offers_the_server_sends_again_before_the_page_answered_cause_no_error(
    server: Server, chromium: Browser
) -> None:
    # The server sends an unanswered offer again with its negotiationId; make it do so every 2 ms, so
    # that offers reach the page again before its answer is back (there is no setting for this).
    rooms = container_of(server.app).rooms
    assert rooms is not None
    rooms._subs._t = NegotiationTiming(offer_resend_s=0.002, offer_resend_max_s=0.002, answer_timeout_s=60)
    room = 4711
    py = await _python_client(server, "py", room)
    try:
        page = await sdk_page(chromium, server, "web")
        await enter_and_publish(page, "web", room, auto_receive_video=False)  # audio offers only, so far
        await page.evaluate(COUNT_OFFERS)
        await page.evaluate(
            "() => rr.startRemoteVideo({userId: 'py', view: document.getElementById('remote')})"
        )
        await wait_media_from(page, ["py"], rr_expr="rr")
        await _python_hears_and_sees(py, "web")
        offers: dict[str, int] = await page.evaluate("() => window.__offers")
        assert offers and max(offers.values()) >= 2, offers  # the page did get offers twice or more
        assert await events(page, "error") == []
        assert [e for e in py.event_log if e.name == "error"] == []
    finally:
        await py.close()


async def test_page_reconnects_by_itself(server: Server, chromium: Browser) -> None:
    room = 31337
    py = await _python_client(server, "py", room)
    try:
        page = await sdk_page(chromium, server, "web")
        # TRTC's default: video only after startRemoteVideo, which must survive the re-entry below
        await enter_and_publish(page, "web", room, auto_receive_video=False)
        await page.evaluate(
            "() => rr.startRemoteVideo({userId: 'py', view: document.getElementById('remote')})"
        )
        await wait_media_from(page, ["py"], rr_expr="rr")

        # 1. The signalling socket drops: the page resumes its session; media never stopped.
        await page.evaluate("() => window.__sockets.at(-1).close()")
        await eventually(
            lambda: page.evaluate("() => rr.connectionState === 'CONNECTED' && __sockets.length === 2"),
            what="resumed on a second socket",
        )
        states = [e["state"] for e in await events(page, "connection-state-changed")]
        assert states == ["RECONNECTING", "RECONNECTED", "CONNECTED"]
        assert not [e for e in py.event_log if e.name == "remote-user-exit"]
        await wait_media_from(page, ["py"], rr_expr="rr")

        # 2. The media worker holding the room is killed: the service restarts it, the server sends
        # `reconnect {worker_died}`, and the page (and the Python client) enter again and republish without
        # being told to.
        media = container_of(server.app).media
        assert media is not None
        [pid] = media.worker_pids()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await py.wait_for_event("reconnect", lambda d: d["reason"] == "worker_died", within=15)
        await eventually(lambda: _async(media.worker_pids()[0] not in (None, pid)), what="worker restarted")
        await eventually(
            lambda: page.evaluate("() => rr.connectionState === 'CONNECTED'"), what="page connected again"
        )
        states = [e["state"] for e in await events(page, "connection-state-changed")]
        assert states[-3:] == ["RECONNECTING", "RECONNECTED", "CONNECTED"] and len(states) == 6
        # the Python client enters again by itself too, republishing its tracks
        await py.wait_for_event("connection-state-changed", lambda d: d["state"] == "RECONNECTED", 30)
        await wait_media_from(page, ["py"], rr_expr="rr")
        await _python_hears_and_sees(py, "web")
        assert not await events(page, "error")
    finally:
        await py.close()


async def test_live_room_audience_switches_to_anchor_and_back(server: Server, chromium: Browser) -> None:
    sdkappid, key = server.first.sdkappid, server.first.secret_key
    async with RelayRoomClient(server.ws_url) as anchor:
        await anchor.enter_room(
            sdk_app_id=sdkappid,
            user_id="host",
            user_sig=gen_usersig(sdkappid, key, "host"),
            str_room_id="live show",
            scene="live",
            auto_receive_video=True,
        )
        await anchor.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack(BLUE))
        page = await sdk_page(chromium, server, "viewer")
        await page.evaluate(
            """async () => {
              window.rr = RelayRoom.create();
              const {sdkAppId, userSig} = await window.userSig('viewer');
              await rr.enterRoom({sdkAppId, userId: 'viewer', userSig, strRoomId: 'live show', scene: 'live',
                                  role: 'audience', autoReceiveVideo: true});
              try { await rr.sendCustomMessage({cmdId: 1, data: new ArrayBuffer(1)}); }
              catch (e) { window.__audienceSend = [e.code]; }
              await rr.startLocalAudio();  // started, but an audience member does not publish it
            }"""
        )
        assert await page.evaluate("window.__audienceSend") == [5100]
        await wait_media_from(page, ["host"], rr_expr="rr")
        assert not [e for e in anchor.event_log if e.name == "remote-user-enter"]

        await page.evaluate("() => rr.switchRole('anchor')")
        await anchor.wait_for_event("remote-user-enter", lambda d: d["userId"] == "viewer")
        audio = await anchor.wait_remote_track("viewer", "audio", within=20)
        await audio.wait_frames(20, within=20)

        await page.evaluate("() => rr.switchRole('audience')")
        ev = await anchor.wait_for_event("remote-user-exit", lambda d: d["userId"] == "viewer")
        assert ev.data["reason"] == 3
        await wait_media_from(page, ["host"], rr_expr="rr")
        # and back once more: the kept send connection publishes again
        await page.evaluate("() => rr.switchRole('anchor')")
        await eventually(
            lambda: _async(
                len(
                    [
                        e
                        for e in anchor.event_log
                        if e.name == "remote-audio-available" and e.data["userId"] == "viewer"
                    ]
                )
                == 2
            ),
            what="viewer's audio published again",
        )


async def test_kicked_out_when_the_same_user_enters_elsewhere(server: Server, chromium: Browser) -> None:
    page = await sdk_page(chromium, server, "kicked")
    await page.evaluate(
        """async () => {
          window.rr = RelayRoom.create();
          const {sdkAppId, userSig} = await window.userSig('dup');
          await rr.enterRoom({sdkAppId, userId: 'dup', userSig, roomId: 99});
        }"""
    )
    await record_events(page, "rr")
    sdkappid, key = server.first.sdkappid, server.first.secret_key
    async with RelayRoomClient(server.ws_url) as other:
        await other.enter_room(
            sdk_app_id=sdkappid, user_id="dup", user_sig=gen_usersig(sdkappid, key, "dup"), room_id=99
        )
        kicked = await eventually(lambda: events(page, "kicked-out"), what="kicked-out")
        assert kicked == [{"reason": "kick"}]
        await asyncio.sleep(1.0)  # no reconnect attempt follows a kick
        state = await page.evaluate("() => [rr.connectionState, rr.room, __sockets.length]")
        assert state == ["DISCONNECTED", None, 1]
        assert [e["state"] for e in await events(page, "connection-state-changed")] == ["DISCONNECTED"]
        assert [e.name for e in other.event_log if e.name == "remote-user-exit"] == []
    # destroy() leaves the instance unusable
    code = await page.evaluate(
        "async () => { await rr.destroy(); try { await rr.startLocalAudio(); } catch (e) { return e.code; } }"
    )
    assert code == 5100
