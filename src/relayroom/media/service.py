"""MediaService: the facade the control plane uses to drive media workers.

It spawns N worker processes and talks to them only through :mod:`relayroom.media.channel`.
Everything here is async and safe to call from the control plane's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from relayroom.media.types import (
    CloseReason,
    InvalidStateError,
    MediaEvent,
    MediaEventType,
    MediaKind,
    MediaParams,
    ProducerInfo,
    PublishResult,
    TrackSource,
    UnsupportedError,
)

__all__ = [
    "CloseReason",
    "InvalidStateError",
    "MediaEvent",
    "MediaEventType",
    "MediaKind",
    "MediaParams",
    "MediaService",
    "ProducerInfo",
    "PublishResult",
    "TrackSource",
    "UnsupportedError",
]


class MediaService:
    """Facade over the media workers. One instance per control-plane process."""

    def __init__(self, params: MediaParams) -> None:
        self._params = params

    async def start(self) -> None:
        """Spawn the workers and wait until each one has bound its UDP port."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close every router and stop the workers. Idempotent."""
        raise NotImplementedError

    def on_event(self, cb: Callable[[MediaEvent], None]) -> None:
        """Register a listener. Exceptions in listeners are caught and logged."""
        raise NotImplementedError

    async def create_router(self, room_key: str) -> str:
        """Create a router (one per room) on the least-loaded worker; returns its id."""
        raise NotImplementedError

    async def close_router(self, router_id: str) -> None:
        raise NotImplementedError

    async def publish(self, router_id: str, participant_id: str, offer_sdp: str) -> PublishResult:
        """Apply a publisher's offer to its send transport (created on first call); returns the answer.

        Call again with a renegotiated offer: new sending m-lines become producers, m-lines set inactive
        close theirs.
        """
        raise NotImplementedError

    async def unpublish(self, router_id: str, participant_id: str, producer_id: str) -> None:
        raise NotImplementedError

    async def pause_producer(self, router_id: str, producer_id: str) -> None:
        raise NotImplementedError

    async def resume_producer(self, router_id: str, producer_id: str) -> None:
        raise NotImplementedError

    async def subscribe(self, router_id: str, participant_id: str, producer_ids: Sequence[str]) -> str:
        """Add consumers; returns a (re-)offer for the participant's recv transport covering ALL consumers."""
        raise NotImplementedError

    async def unsubscribe(self, router_id: str, participant_id: str, producer_ids: Sequence[str]) -> str:
        """Close consumers; returns a re-offer (their m-lines become inactive, never removed)."""
        raise NotImplementedError

    async def set_subscriber_answer(self, router_id: str, participant_id: str, answer_sdp: str) -> None:
        raise NotImplementedError

    async def request_keyframe(self, router_id: str, producer_id: str) -> None:
        raise NotImplementedError

    async def close_participant(self, router_id: str, participant_id: str) -> None:
        """Close both transports of a participant and everything on them."""
        raise NotImplementedError

    async def dump(self) -> dict[str, Any]:
        raise NotImplementedError
