"""A real worker forwards through the path its setting selects, and aiortc clients decode what either
path sends (the same scenario with ``media.native`` on and off)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaParams
from tests.media.peers import close_colour, publish, subscribe
from tests.serving import eventually

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=[True, False], ids=["native", "python"])
async def service(request: pytest.FixtureRequest, loopback: None) -> AsyncIterator[tuple[MediaService, bool]]:
    svc = MediaService(MediaParams(workers=1, loopback_only=True, native=request.param))
    await svc.start()
    try:
        yield svc, request.param
    finally:
        await svc.close()


async def test_the_selected_path_forwards_media_the_subscriber_decodes(
    service: tuple[MediaService, bool],
) -> None:
    svc, native = service
    router_id = await svc.create_router("room-native")
    pub, producer_ids = await publish(svc, router_id, "alice", "green")
    sub = await subscribe(svc, router_id, "bob", producer_ids)
    try:
        await eventually(lambda: len(sub.video_frames) >= 10 and len(sub.audio_frames) >= 20, within=20)
        assert close_colour(sub.video_frames[-1][2], "green"), sub.video_frames[-1]
        worker = svc._workers[0]
        assert worker is not None
        dump = await worker.request("worker.dump")
        assert dump["native"] is native
        consumers = [c for t in dump["routers"][0]["transports"] for c in t["consumers"]]
        forwarded = sum(c["packets"] for c in consumers)
        assert len(consumers) == 2 and all(c["packets"] > 0 for c in consumers)
        # native: all but the first packet after each re-base (a key frame for video; DTLS connect, layer
        # allocation and key frame requests re-base too) leave through the C fan-out
        if native:
            assert forwarded // 2 < dump["nativePackets"] <= forwarded, (dump["nativePackets"], forwarded)
        else:
            assert dump["nativePackets"] == 0
    finally:
        await sub.close()
        await pub.close()
