"""MediaService.stats with real aiortc peers: the publisher's track and the subscriber's RRs fill it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent
from tests.media.peers import publish, subscribe

pytestmark = pytest.mark.timeout(60)


async def test_stats_fill_from_a_real_publisher_and_subscriber(
    media: tuple[MediaService, list[MediaEvent]],
) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-stats")
    pub, producer_ids = await publish(svc, router_id, "alice", "green")
    sub = await subscribe(svc, router_id, "bob", producer_ids)
    latest: dict[str, Any] = {}

    async def filled() -> bool:
        latest.clear()
        latest.update(await svc.stats(router_id))
        producers = latest.get("alice", {}).get("producers", {})
        consumers = latest.get("bob", {}).get("consumers", {})
        video = [s for s in producers.values() if s["kind"] == "video"]
        return (
            len(producers) == 2
            and len(consumers) == 2
            and bool(video)
            and video[0]["width"] == 160
            and all(s["bitrate"] > 0 for s in producers.values())
            and all(s["rttMs"] is not None and s["bitrate"] > 0 for s in consumers.values())
        )

    try:
        for _ in range(100):
            if await filled():
                break
            await asyncio.sleep(0.2)
        assert await filled(), latest
        alice, bob = latest["alice"], latest["bob"]
        video = next(s for s in alice["producers"].values() if s["kind"] == "video")
        assert (video["width"], video["height"]) == (160, 120)
        assert 5 <= video["frameRate"] <= 30
        assert video["fractionLost"] == 0.0 and video["jitterMs"] >= 0
        assert alice["consumers"] == {} and bob["producers"] == {}
        for c in bob["consumers"].values():
            assert c["producerId"] in producer_ids
            assert 0 <= c["rttMs"] < 1000 and c["fractionLost"] is not None
    finally:
        await sub.close()
        await pub.close()


async def test_h264_picture_size_comes_from_the_sps(media: tuple[MediaService, list[MediaEvent]]) -> None:
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    from tests.media.peers import ColourVideoTrack, client_config

    svc, _ = media
    router_id = await svc.create_router("room-h264-stats")
    pc = RTCPeerConnection(client_config())
    transceiver = pc.addTransceiver(ColourVideoTrack("blue", 320, 180), direction="sendonly")
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/H264", "video/rtx")])
    await pc.setLocalDescription(await pc.createOffer())
    result = await svc.publish(router_id, "alice", pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(result.answer_sdp, "answer"))
    (producer,) = result.producers
    try:
        video: dict[str, Any] = {}
        for _ in range(100):
            video = (
                (await svc.stats(router_id))
                .get("alice", {})
                .get("producers", {})
                .get(producer.producer_id, {})
            )
            if video.get("width") is not None:
                break
            await asyncio.sleep(0.2)
        assert (video.get("width"), video.get("height")) == (320, 180), video  # 180: SPS cropping applied
    finally:
        await pc.close()
