"""A participant: one UserId's session in one room, its publications and its subscriptions."""

from __future__ import annotations

import asyncio
import collections
import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from relayroom.auth.privatemapkey import Privilege
from relayroom.control.rooms.ids import ParticipantId, RoomKey
from relayroom.media.types import MediaKind, TrackSource


class Role(enum.StrEnum):
    ANCHOR = "anchor"
    AUDIENCE = "audience"


class KickReason(enum.StrEnum):
    """TRTC's kicked-out reasons."""

    KICK = "kick"  # the same UserId entered again
    BANNED = "banned"  # removed by the cloud API (RemoveUser) or blocked
    ROOM_DISBAND = "room_disband"  # DismissRoom


class ExitReason(enum.IntEnum):
    """TRTC's remote-user-exit reasons."""

    NORMAL = 0
    TIMEOUT = 1
    KICK = 2
    ROLE_CHANGE = 3


class EventSink(Protocol):
    """Where events for one participant go: non-blocking and in order (the signalling connection)."""

    def send_event(self, event: str, data: dict[str, Any]) -> None: ...


@dataclass
class Publication:
    producer_id: str
    kind: MediaKind
    source: TrackSource
    mid: str
    muted: bool = False


SubscriptionKey = tuple[str, TrackSource, MediaKind]  # (userId, streamType, kind)


@dataclass
class FailedSubscription:
    """A producer this participant could not be given a consumer for, and when to try again."""

    attempts: int
    retry_at: float  # event-loop time
    told: bool = False  # the client got an `error` event naming the stream


@dataclass
class Participant:
    participant_id: ParticipantId
    user_id: str
    room_key: RoomKey
    role: Role
    resume_token: str
    privileges: Privilege
    permission_key_enforced: bool
    auto_receive_audio: bool
    auto_receive_video: bool
    sink: EventSink | None
    last_seen: float
    detached_at: float | None = None
    media_lost_at: float | None = None
    closed: bool = False
    # No signalling socket (WHIP/WHEP): no heartbeats, the membership lasts as long as its media.
    held_by_media: bool = False
    publications: dict[str, Publication] = field(default_factory=dict)
    # Producers the media layer currently forwards to this participant's recv transport.
    subscribed: set[str] = field(default_factory=set)
    # Producers whose consumer could not be created: retried with backoff (subscriptions.py).
    subscribe_failed: dict[str, FailedSubscription] = field(default_factory=dict)
    # The recv transport changed since the client last accepted an offer: offer its current state again.
    offer_needed: bool = False
    answer_refusals: int = 0  # consecutive refused answers (backoff before the next offer)
    # Explicit subscribe/unsubscribe requests override the autoReceive flags.
    overrides: dict[SubscriptionKey, bool] = field(default_factory=dict)
    negotiator: asyncio.Task[None] | None = None
    negotiator_wakeup: asyncio.Event = field(default_factory=asyncio.Event)  # a room change while idle
    negotiation_seq: int = 0
    pending_answer: tuple[int, asyncio.Future[str]] | None = None
    pending_offer: dict[str, Any] | None = None  # re-sent after a resume
    custom_seq: int = 0
    custom_window: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

    def send(self, event: str, data: dict[str, Any]) -> None:
        if self.sink is not None and not self.closed:
            self.sink.send_event(event, data)

    def publication_for(self, kind: MediaKind, source: TrackSource) -> Publication | None:
        for pub in self.publications.values():
            if pub.kind == kind and pub.source == source:
                return pub
        return None

    def dump(self) -> dict[str, Any]:
        return {
            "participantId": self.participant_id,
            "userId": self.user_id,
            "role": self.role.value,
            "attached": self.sink is not None,
            "tracks": [
                {"producerId": p.producer_id, "kind": p.kind, "streamType": p.source, "muted": p.muted}
                for p in self.publications.values()
            ],
            "subscribed": sorted(self.subscribed),
        }
