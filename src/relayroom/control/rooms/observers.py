"""Fans the room manager's events out to the subscribers given at build (call history, webhooks...)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from relayroom.control.rooms.manager import RoomEvent

log = logging.getLogger(__name__)


class RoomEventFanout:
    """Called on the room manager's loop: subscribers must only enqueue, never block. One failing
    subscriber does not keep the event from the others."""

    def __init__(self, subscribers: Iterable[Callable[[RoomEvent], None]]) -> None:
        self._subscribers = tuple(subscribers)

    def __call__(self, event: RoomEvent) -> None:
        for cb in self._subscribers:
            try:
                cb(event)
            except Exception:
                log.exception("room event subscriber failed", extra={"event": event.type.value})
