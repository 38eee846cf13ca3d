"""WHEP playback with clients that are not RelayRoom code: GStreamer's webrtcbin plays a Python SDK
client's stream; a Chromium page with a plain RTCPeerConnection + fetch plays a GStreamer WHIP
publisher. Viewers are room members; a viewer's session ends with the user it plays."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack, colour_close
from relayroom.control.usage.meter import MeterParams
from relayroom.storage.models import UsageBucket
from tests.control.cloudapi.server import Live, live_server, settings_for
from tests.control.whip.gst import gst_client, require_gstreamer
from tests.serving import eventually
from tests.web.conftest import Browser, artifact

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

ROOM = 7170
RED = (220, 30, 30)
GREEN = (30, 200, 30)


def sig(live: Live, user: str) -> str:
    assert live.first is not None
    return str(gen_usersig(live.first.sdkappid, live.first.secret_key, user, 3600))


def members(live: Live) -> list[str]:
    assert live.first is not None
    info = live.app.state.rooms.room_info(f"{live.first.sdkappid}:n:{ROOM}")
    return sorted(str(m["userId"]) for m in info["members"]) if info else []


async def until(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def video_seconds(live: Live, user: str) -> float:
    """Seconds of video (any tier) metered for ``user``, from the usage table."""
    async with live.app.state.services.ctx.db.read() as session:
        rows = (await session.execute(select(UsageBucket).where(UsageBucket.user_id == user))).scalars()
        five_min = [r for r in rows if r.granularity == "5min"]
        return float(sum(r.sd_s + r.hd_s + r.fhd_s + r.k2_s + r.k4_s for r in five_min))


async def test_gstreamer_plays_an_sdk_clients_stream_over_whep(tmp_path: Path) -> None:
    require_gstreamer("vp8dec", "opusdec")
    meter = {"meter_params": MeterParams(tick_s=0.5, flush_s=1.0)}
    async with live_server(settings_for(tmp_path / "d", media=True), state=meter) as live:
        assert live.first is not None
        async with RelayRoomClient(live.signal_url) as alice:
            await alice.enter_room(
                sdk_app_id=live.first.sdkappid, user_id="alice", user_sig=sig(live, "alice"), room_id=ROOM
            )
            await alice.publish(audio_track=SineAudioTrack(440.0), video_track=TestPatternVideoTrack(RED))
            url = f"http://127.0.0.1:{live.port}/whep/{ROOM}/alice"
            async with gst_client("whep", url, sig(live, "viewer")) as gst:
                answered = await gst.wait("answered")
                assert answered["status"] == 201 and "/whep/sessions/" in answered["location"]
                assert members(live) == ["alice", "viewer"]  # the viewer is a member of the room
                await gst.wait("video", within=30)
                video = await gst.wait("video", within=30)  # a later frame: the picture is settled
                assert colour_close(tuple(video["rgb"]), RED), video
                audio = await gst.wait("audio", within=30)
                audio = await gst.wait("audio", within=30)
                assert audio["rms"] > 1000, audio
                # Usage: the viewer is billed for the video it receives, like an SDK subscriber.
                deadline = time.monotonic() + 20
                while await video_seconds(live, "viewer") < 1.0:
                    assert time.monotonic() < deadline, "no video usage metered for the WHEP viewer"
                    await asyncio.sleep(0.5)
                # The played user leaves: the viewer's session ends with it.
                await alice.exit_room()
                await until(lambda: members(live) == [])
                assert not live.app.state.whip.sessions


async def test_chromium_plays_a_gstreamer_whip_publisher_over_whep(tmp_path: Path, chromium: Browser) -> None:
    require_gstreamer("vp8enc", "opusenc")
    async with live_server(settings_for(tmp_path / "d", media=True)) as live:
        base = f"http://127.0.0.1:{live.port}"
        async with gst_client(
            "whip", f"{base}/whip/{ROOM}", sig(live, "encoder"), "--colour", "1ec81e"
        ) as gst:
            await gst.wait("answered")
            await gst.wait("connection-state", state="connected")
            page = await chromium.page("whep-viewer")
            # The page's origin is http://localhost:<port>, the WHEP URL's http://127.0.0.1:<port>: the
            # fetches are cross-origin, so the CORS answers (preflight included) are exercised.
            await page.goto(f"http://localhost:{live.port}/healthz")
            await page.set_content(PAGE)
            resource = await page.evaluate(
                "([url, token]) => window.play(url, token)", [f"{base}/whep/{ROOM}/encoder", sig(live, "web")]
            )
            assert resource.startswith(f"{base}/whep/sessions/")
            assert members(live) == ["encoder", "web"]

            async def state() -> Any:
                s = await page.evaluate("window.measure()")
                ok = s["framesDecoded"] > 10 and s["rgb"] and s["audioEnergy"] > 0.001
                return s if ok else None

            s = await eventually(state, within=30, what="decoded video and audio in Chromium")
            await page.screenshot(path=str(artifact("whep-viewer.png")))
            assert colour_close(tuple(s["rgb"]), GREEN), s
            assert s["audioCodec"] == "audio/opus" and s["videoCodec"] == "video/VP8", s

            status = await page.evaluate("window.stop()")
            assert status == 200
            await until(lambda: members(live) == ["encoder"])


# The whole WHEP client: a plain RTCPeerConnection, fetch, and getStats/canvas to check what plays.
PAGE = """<!doctype html><html><body>
<video id="v" autoplay playsinline width="320" height="240"></video>
<canvas id="c" width="320" height="240"></canvas>
<script>
let pc, location_, token_;
window.play = async (url, token) => {
  pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.addTransceiver('video', {direction: 'recvonly'});
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); document.getElementById('v').srcObject = stream; };
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(url, {method: 'POST', body: pc.localDescription.sdp,
    headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token}});
  if (r.status !== 201) throw new Error('WHEP POST: ' + r.status + ' ' + await r.text());
  location_ = new URL(r.headers.get('Location'), url).href; token_ = token;
  await pc.setRemoteDescription({type: 'answer', sdp: await r.text()});
  return location_;
};
window.measure = async () => {
  const out = {framesDecoded: 0, audioEnergy: 0, rgb: null, audioCodec: null, videoCodec: null};
  const stats = await pc.getStats();
  const codecs = {};
  stats.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  stats.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video') { out.framesDecoded = s.framesDecoded || 0; out.videoCodec = codecs[s.codecId]; }
    if (s.kind === 'audio') { out.audioEnergy = s.totalAudioEnergy || 0; out.audioCodec = codecs[s.codecId]; }
  });
  const v = document.getElementById('v');
  if (v.videoWidth) {
    const ctx = document.getElementById('c').getContext('2d');
    ctx.drawImage(v, 0, 0, 320, 240);
    const d = ctx.getImageData(160, 120, 1, 1).data;
    out.rgb = [d[0], d[1], d[2]];
  }
  return out;
};
window.stop = async () => {
  const headers = {'Authorization': 'Bearer ' + token_};
  const r = await fetch(location_, {method: 'DELETE', headers});
  pc.close();
  return r.status;
};
</script></body></html>"""
