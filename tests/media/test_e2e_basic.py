from __future__ import annotations

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent, MediaEventType
from tests.media.peers import close_colour, publish, subscribe, wait_for

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
        await wait_for(lambda: len(sub.video_frames) >= 10 and len(sub.audio_frames) >= 20, within=15)
        assert close_colour(sub.video_frames[-1][2], "red"), sub.video_frames[-1]
        assert max(e for _, _, e in sub.audio_frames[-20:]) > 100
        assert any(e.type == MediaEventType.PRODUCER_ADDED for e in events)
    finally:
        await sub.close()
        await pub.close()
