from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent, MediaParams
from tests.media.peers import loopback_ice


@pytest.fixture
def loopback() -> Iterator[None]:
    with loopback_ice():
        yield


@pytest.fixture
async def media(loopback: None) -> AsyncIterator[tuple[MediaService, list[MediaEvent]]]:
    svc = MediaService(MediaParams(workers=1, loopback_only=True))
    events: list[MediaEvent] = []
    svc.on_event(events.append)
    await svc.start()
    try:
        yield svc, events
    finally:
        await svc.close()
