from __future__ import annotations

import asyncio

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent, MediaEventType
from tests.media.peers import close_colour, publish, subscribe
from tests.serving import eventually

pytestmark = pytest.mark.timeout(60)


async def test_publisher_audio_and_video_reach_a_subscriber(
    media: tuple[MediaService, list[MediaEvent]],
) -> None:
    svc, events = media
    router_id = await svc.create_router("room-1")
    pub, producer_ids = await publish(svc, router_id, "alice", "red")
    assert len(producer_ids) == 2
    sub = await subscribe(svc, router_id, "bob", producer_ids)
    try:
        await eventually(lambda: len(sub.video_frames) >= 10 and len(sub.audio_frames) >= 20, within=15)
        assert close_colour(sub.video_frames[-1][2], "red"), sub.video_frames[-1]
        assert max(e for _, _, e in sub.audio_frames[-20:]) > 100
        assert any(e.type == MediaEventType.PRODUCER_ADDED for e in events)
    finally:
        await sub.close()
        await pub.close()


async def test_offer_with_setup_passive_makes_the_server_the_dtls_client(
    media: tuple[MediaService, list[MediaEvent]],
) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from tests.media.peers import ColourVideoTrack, client_config

    svc, _ = media
    router_id = await svc.create_router("room-passive")
    pc = RTCPeerConnection(client_config())
    pc.addTransceiver(ColourVideoTrack("blue"), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    result = await svc.publish(
        router_id, "alice", pc.localDescription.sdp.replace("a=setup:actpass", "a=setup:passive")
    )
    assert "a=setup:active" in result.answer_sdp
    await pc.setRemoteDescription(RTCSessionDescription(result.answer_sdp, "answer"))
    sub = await subscribe(svc, router_id, "bob", [p.producer_id for p in result.producers])
    try:
        await eventually(lambda: len(sub.video_frames) >= 5, within=15)
        assert close_colour(sub.video_frames[-1][2], "blue")
    finally:
        await sub.close()
        await pc.close()


async def test_h264_publisher_reaches_a_subscriber_through_keyframe_gating(
    media: tuple[MediaService, list[MediaEvent]],
) -> None:
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    from tests.media.peers import ColourVideoTrack, client_config

    svc, _ = media
    router_id = await svc.create_router("room-h264")
    pc = RTCPeerConnection(client_config())
    transceiver = pc.addTransceiver(ColourVideoTrack("green"), direction="sendonly")
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/H264", "video/rtx")])
    await pc.setLocalDescription(await pc.createOffer())
    result = await svc.publish(router_id, "alice", pc.localDescription.sdp)
    assert "H264/90000" in result.answer_sdp and "VP8" not in result.answer_sdp
    await pc.setRemoteDescription(RTCSessionDescription(result.answer_sdp, "answer"))
    late = None
    try:
        await asyncio.sleep(1.0)  # join mid-stream: the consumer must wait for an IDR (PLI forwarded)
        late = await subscribe(svc, router_id, "bob", [p.producer_id for p in result.producers])
        offer = late.pc.remoteDescription.sdp
        assert "H264/90000" in offer and "packetization-mode=1" in offer
        await eventually(lambda: len(late.video_frames) >= 5, within=15)
        assert close_colour(late.video_frames[-1][2], "green")
    finally:
        if late is not None:
            await late.close()
        await pc.close()


async def test_re_offer_with_new_ice_credentials_is_an_ice_restart_not_a_new_transport(
    media: tuple[MediaService, list[MediaEvent]],
) -> None:
    import re

    svc, _ = media
    router_id = await svc.create_router("room-ice-restart")
    pc, producer_ids = await publish(svc, router_id, "alice", "red")
    try:
        offer = pc.localDescription.sdp
        ufrag = re.search(r"a=ice-ufrag:(\S+)", offer)
        pwd = re.search(r"a=ice-pwd:(\S+)", offer)
        assert ufrag and pwd
        restarted = offer.replace(ufrag.group(1), "rstr").replace(pwd.group(1), "restartedpassword0123456789")
        before = (await svc.dump())["workers"][0]["routers"][0]["transportIds"]
        result = await svc.publish(router_id, "alice", restarted)
        assert result.producers == [] and result.closed_producer_ids == []
        assert (await svc.dump())["workers"][0]["routers"][0]["transportIds"] == before
        old_local = re.search(r"a=ice-ufrag:(\S+)", pc.remoteDescription.sdp)
        new_local = re.search(r"a=ice-ufrag:(\S+)", result.answer_sdp)
        assert old_local and new_local and old_local.group(1) != new_local.group(1)
        assert set(producer_ids) <= set((await svc.dump())["routers"][router_id]["producers"])
    finally:
        await pc.close()
