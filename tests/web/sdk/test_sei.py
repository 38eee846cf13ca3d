"""SEI messages between two pages (TRTC's sendSEIMessage / SEI_MESSAGE): the sender's H.264 frames carry
them through the SFU (which forwards H.264 untouched) to the receiver's transform, on the camera and on
the screen share, with both payload types, in the worker (RTCRtpScriptTransform) and with the encoded
streams fallback; and the documented refusals."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from tests.serving import eventually
from tests.web.conftest import Browser, Server
from tests.web.helpers import sdk_page, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ENTER = """async ([userId, roomId, streamsFallback]) => {
  if (streamsFallback) window.RTCRtpScriptTransform = undefined;  // as in a browser without it
  window.rr = RelayRoom.create({enableSEI: true});
  window.__sei = [];
  rr.on('sei-message', (e) => window.__sei.push({userId: e.userId, streamType: e.streamType,
    seiPayloadType: e.seiPayloadType,
    text: new TextDecoder().decode(e.data.slice(e.seiPayloadType === 5 ? 16 : 0))}));
  const {sdkAppId, userSig} = await window.userSig(userId);
  await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveVideo: true});
  await rr.startLocalVideo({view: 'me', option: {profile: '240p'}});
  return rr._pipeline._mode;
}"""

# the codec of the page's published camera, from its outbound-rtp stats
SENT_CODEC = """async () => {
  const stats = await rr._send.pc.getStats();
  let codecId = null;
  stats.forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video' && s.codecId) codecId = s.codecId;
  });
  return codecId ? stats.get(codecId).mimeType : null;
}"""

SEND = """([text, options]) => {
  const bytes = new TextEncoder().encode(text);
  let buffer = bytes.buffer;
  if (options.seiPayloadType === 5) {
    const withUuid = new Uint8Array(16 + bytes.length);
    withUuid.set(bytes, 16);
    buffer = withUuid.buffer;
  }
  rr.sendSEIMessage(buffer, options);
}"""


async def sei_page(b: Browser, server: Server, user: str, room: int, streams: bool = False) -> Any:
    page = await sdk_page(b, server, user)
    mode = await page.evaluate(ENTER, [user, room, streams])
    assert mode == ("streams" if streams else "script")
    return page


async def received(page: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await page.evaluate("window.__sei")
    return rows


@pytest.mark.parametrize("fallback", ["script", "streams"])
async def test_sei_messages_travel_in_the_h264_frames_from_one_page_to_the_other(
    server: Server, chromium: Browser, fallback: str
) -> None:
    alice = await sei_page(chromium, server, "alice", 51, streams=fallback == "streams")
    bob = await sei_page(chromium, server, "bob", 51)
    await wait_media_from(bob, ["alice"], rr_expr="rr", audio=False)
    assert await alice.evaluate(SENT_CODEC) == "video/H264"

    # the camera: TRTC's default payload type 243, then 5 (UUID first), sent until one of each arrives
    for text, options in (("lyrics: line 1", {}), ("quiz: 42", {"seiPayloadType": 5})):
        got = await eventually(
            functools.partial(_send_then, alice, bob, text, options), within=20, what=f"SEI {text!r} at bob"
        )
        assert got[0] == {
            "userId": "alice",
            "streamType": "main",
            "seiPayloadType": options.get("seiPayloadType", 243),
            "text": text,
        }

    # the screen share (sub stream) carries its own messages
    await alice.evaluate("() => rr.startScreenShare({option: {profile: '480p'}})")
    await bob.evaluate("() => rr.startRemoteVideo({userId: 'alice', streamType: 'sub', view: 'remote'})")
    got = await eventually(
        lambda: _send_then(alice, bob, "slide 3", {"toSubStream": True}), within=30, what="SEI on the screen"
    )
    assert got[0]["streamType"] == "sub"
    # nothing arrived that was not sent, and the pictures still decode (SEI does not upset the decoder)
    assert {m["text"] for m in await received(bob)} <= {"lyrics: line 1", "quiz: 42", "slide 3"}
    await wait_media_from(bob, ["alice"], rr_expr="rr", audio=False)


async def _send_then(sender: Any, receiver: Any, text: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    await sender.evaluate(SEND, [text, options])
    rows = await received(receiver)
    return [m for m in rows if m["text"] == text]


async def test_sei_refusals_are_trtc_errors(server: Server, chromium: Browser) -> None:
    page = await sdk_page(chromium, server, "carol")
    result = await page.evaluate(
        """async () => {
          const out = {};
          const attempt = (name, fn) => {
            try { fn(); out[name] = 'no error'; } catch (e) { out[name] = [e.code, e.extraCode]; }
          };
          const plain = RelayRoom.create();
          attempt('not enabled', () => plain.sendSEIMessage(new ArrayBuffer(4)));
          const rr = RelayRoom.create({enableSEI: true});
          attempt('not an ArrayBuffer', () => rr.sendSEIMessage(new Uint8Array(4)));
          attempt('empty', () => rr.sendSEIMessage(new ArrayBuffer(0)));
          attempt('1001 bytes', () => rr.sendSEIMessage(new ArrayBuffer(1001)));
          attempt('payload type 6', () => rr.sendSEIMessage(new ArrayBuffer(4), {seiPayloadType: 6}));
          attempt('type 5 without uuid', () => rr.sendSEIMessage(new ArrayBuffer(16), {seiPayloadType: 5}));
          attempt('not in room', () => rr.sendSEIMessage(new ArrayBuffer(4)));
          const {sdkAppId, userSig} = await window.userSig('carol');
          await rr.enterRoom({sdkAppId, userId: 'carol', userSig, roomId: 52});
          attempt('no camera published', () => rr.sendSEIMessage(new ArrayBuffer(4)));
          await rr.startLocalVideo({option: {profile: '240p'}});
          attempt('no screen published', () => rr.sendSEIMessage(new ArrayBuffer(4), {toSubStream: true}));
          attempt('camera published', () => rr.sendSEIMessage(new ArrayBuffer(4)));
          await rr.exitRoom();
          await rr.destroy();
          return out;
        }"""
    )
    assert result == {
        "not enabled": [5100, 5108],
        "not an ArrayBuffer": [5000, 0],
        "empty": [5000, 5017],
        "1001 bytes": [5000, 5018],
        "payload type 6": [5000, 0],
        "type 5 without uuid": [5000, 0],
        "not in room": [5100, 5101],
        "no camera published": [5100, 5109],
        "no screen published": [5100, 5109],
        "camera published": "no error",
    }


async def test_sei_and_end_to_end_encryption_share_one_pipeline(server: Server, chromium: Browser) -> None:
    """With both on, each video sender and receiver has one transform running both stages: an E2EE room
    keeps VP8 (E2EE encrypts VP8 and Opus) and plays, and sendSEIMessage says SEI is not available there."""
    enter = """async ([userId, roomId]) => {
      window.rr = RelayRoom.create({enableSEI: true});
      const {sdkAppId, userSig} = await window.userSig(userId);
      const e2ee = {key: 'sei and e2ee'};
      await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveVideo: true, e2ee});
      await rr.startLocalAudio();
      await rr.startLocalVideo({view: 'me', option: {profile: '240p'}});
    }"""
    pages = {}
    for user in ("erin", "frank"):
        pages[user] = await sdk_page(chromium, server, user)
        await pages[user].evaluate(enter, [user, 53])
    await wait_media_from(pages["erin"], ["frank"], rr_expr="rr")
    await wait_media_from(pages["frank"], ["erin"], rr_expr="rr")
    assert await pages["erin"].evaluate(SENT_CODEC) == "video/VP8"
    refused = await pages["erin"].evaluate(
        """() => { try { rr.sendSEIMessage(new ArrayBuffer(4)); return 'sent'; }
                   catch (e) { return [e.code, e.extraCode]; } }"""
    )
    assert refused == [5200, 5207]
