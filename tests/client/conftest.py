"""A real server for SDK tests: the signalling router, RoomManager and a real MediaService on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relayroom.control.rooms.manager import RoomLimits
from relayroom.media.service import MediaService
from relayroom.media.types import MediaParams
from tests.client.crowd_server import room_manager
from tests.control.signaling.server import RunningServer, serve


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    media = MediaService(MediaParams(workers=1, loopback_only=True))
    await media.start()
    manager = room_manager(
        media, RoomLimits(idle_timeout_s=5.0, heartbeat_interval_s=1.0, sweep_interval_s=0.2)
    )
    try:
        async with serve(manager, media) as running:
            yield running
    finally:
        await media.close()
