"""Real Chromium (Debian, via Playwright) through the SFU, both directions, on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent
from tests.media.peers import publish, subscribe
from tests.serving import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

CHROMIUM = shutil.which("chromium")

PAGE_JS = """
window.pcs = {};
window.publish = async () => {
  const pc = new RTCPeerConnection();
  window.pcs.pub = pc;
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
  for (const t of stream.getTracks()) pc.addTransceiver(t, {direction: 'sendonly', streams: [stream]});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => {
    if (pc.iceGatheringState === 'complete') r();
    else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
  });
  return pc.localDescription.sdp;
};
window.publishBwe = async () => {
  let aob = 0;
  (await window.pcs.pub.getStats()).forEach(r => {
    if (r.type === 'candidate-pair' && r.nominated) aob = r.availableOutgoingBitrate || 0;
  });
  return aob;
};
window.setPublishAnswer = async (sdp) => {
  await window.pcs.pub.setRemoteDescription({type: 'answer', sdp});
};
window.subscribe = async (offer) => {
  let pc = window.pcs.sub;
  if (!pc) {
    pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
    window.pcs.sub = pc;
    window.videos = [];
    pc.ontrack = (ev) => {
      if (ev.track.kind === 'audio') {
        const a = document.createElement('audio');
        a.autoplay = true;
        a.srcObject = new MediaStream([ev.track]);
        document.body.appendChild(a);
        a.play().catch(() => {});
        return;
      }
      const v = document.createElement('video');
      v.muted = true; v.autoplay = true; v.playsInline = true;
      v.srcObject = new MediaStream([ev.track]);
      document.body.appendChild(v);
      window.videos.push(v);
      v.play().catch(() => {});
    };
  }
  await pc.setRemoteDescription({type: 'offer', sdp: offer});
  await pc.setLocalDescription(await pc.createAnswer());
  return pc.localDescription.sdp;
};
window.inbound = async () => {
  const out = {video: 0, audio: 0, audioEnergy: 0, samples: 0};
  const stats = await window.pcs.sub.getStats();
  stats.forEach(s => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video') out.video += s.framesDecoded || 0;
    if (s.kind === 'audio') { out.audio += s.packetsReceived || 0; out.audioEnergy += s.totalAudioEnergy || 0;
                              out.samples += s.totalSamplesReceived || 0; }
  });
  return out;
};
window.audioLevel = () => {
  let level = 0;
  for (const r of window.pcs.sub.getReceivers()) {
    if (r.track.kind !== 'audio') continue;
    for (const s of r.getSynchronizationSources()) level = Math.max(level, s.audioLevel || 0);
  }
  return level;
};
window.centerPixel = () => {
  const v = window.videos[0];
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  return Array.from(g.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3));
};
"""


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            pg = await browser.new_page()
            # a secure context without a server: answer http://localhost/ from Playwright itself
            await pg.route(
                "http://localhost/**",
                lambda route: route.fulfill(body="<html><body></body></html>", content_type="text/html"),
            )
            await pg.goto("http://localhost/")
            await pg.add_script_tag(content=PAGE_JS)
            yield pg
        finally:
            await browser.close()


async def test_chromium_publisher_reaches_an_aiortc_subscriber(
    media: tuple[MediaService, list[MediaEvent]], page: Any
) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-chrome-pub")
    offer = await page.evaluate("publish()")
    result = await svc.publish(router_id, "chrome", offer)
    assert sorted(p.kind for p in result.producers) == ["audio", "video"]
    await page.evaluate("(sdp) => setPublishAnswer(sdp)", result.answer_sdp)
    sub = await subscribe(svc, router_id, "bob", [p.producer_id for p in result.producers])
    try:
        await eventually(lambda: len(sub.video_frames) > 10 and len(sub.audio_frames) > 20, within=20)
        assert max(e for _, _, e in sub.audio_frames) > 10  # Chromium's fake microphone beeps
        assert "transport-cc" in result.answer_sdp and "goog-remb" not in result.answer_sdp
        # Our transport-wide CC feedback drives Chromium's estimator: it probes past 800 kbps at once
        # (loss-based estimation alone starts at 300 kbps and grows ~8 % per second).
        bwe = 0.0
        for _ in range(100):  # 20 s: a CPU-starved machine delays the probes
            bwe = await page.evaluate("publishBwe()")
            if bwe > 800_000:
                break
            await page.wait_for_timeout(200)
        assert bwe > 800_000, bwe
    finally:
        await sub.close()


async def test_aiortc_publisher_reaches_a_chromium_subscriber_with_the_right_colour(
    media: tuple[MediaService, list[MediaEvent]], page: Any
) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-chrome-sub")
    pub, producer_ids = await publish(svc, router_id, "alice", "red")
    try:
        offer = (await svc.subscribe(router_id, "chrome", producer_ids)).offer_sdp
        answer = await page.evaluate("(sdp) => subscribe(sdp)", offer)
        await svc.set_subscriber_answer(router_id, "chrome", answer)
        stats: dict[str, Any] = {}

        async def poll() -> bool:
            stats.update(await page.evaluate("inbound()"))
            return bool(stats["video"] > 10 and stats["audio"] > 20)

        for _ in range(100):
            if await poll():
                break
            await page.wait_for_timeout(200)
        assert stats["video"] > 10 and stats["audio"] > 20, stats
        assert stats["audioEnergy"] > 0
        # the publisher's ssrc-audio-level extension arrives under the subscriber's extension id
        assert await page.evaluate("audioLevel()") > 0
        pixel = None
        for _ in range(25):
            pixel = await page.evaluate("centerPixel()")
            if pixel:
                break
            await page.wait_for_timeout(200)
        assert pixel is not None
        r, g, b = pixel
        assert r > 180 and g < 80 and b < 80, pixel  # the publisher paints red
    finally:
        await pub.close()
