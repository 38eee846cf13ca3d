"""Fakes at the rooms package's Protocol seams: media backend, app directory, clock, event sink."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from relayroom.auth.usersig import gen_usersig
from relayroom.control.rooms.entry import AppEntryInfo
from relayroom.control.rooms.manager import (
    EnterParams,
    RoomEvent,
    RoomLimits,
    RoomManager,
    RoomManagerParams,
)
from relayroom.media.types import (
    MediaEvent,
    MediaKind,
    ProducerInfo,
    PublishResult,
    SubscribeResult,
    TrackSource,
)

SDKAPPID = 1400000001
KEY = "a" * 64
OLD_KEY = "b" * 64
REGION = "local"


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeDirectory:
    def __init__(self, *apps: AppEntryInfo) -> None:
        self.apps = {a.sdkappid: a for a in apps} or {
            SDKAPPID: AppEntryInfo(SDKAPPID, "enabled", REGION, (KEY, OLD_KEY))
        }

    async def get_app(self, sdkappid: int) -> AppEntryInfo | None:
        return self.apps.get(sdkappid)


class FakeMedia:
    """Offers are whitespace-separated tokens: ``audio``, ``video``, ``video:sub`` make producers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.listeners: list[Callable[[MediaEvent], None]] = []
        self._ids = itertools.count(1)
        self.answers: dict[str, list[str]] = {}
        self.consumers: dict[str, set[str]] = {}
        self.fail_create = False
        self.failing: set[str] = set()  # producer ids whose consumer cannot be created
        self.refused_answers: set[str] = set()  # answer SDPs set_subscriber_answer refuses

    def on_event(self, cb: Callable[[MediaEvent], None]) -> None:
        self.listeners.append(cb)

    def emit(self, event: MediaEvent) -> None:
        for cb in self.listeners:
            cb(event)

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]

    async def create_router(self, room_key: str) -> str:
        self.calls.append(("create_router", (room_key,)))
        if self.fail_create:
            raise RuntimeError("no worker")
        return f"router-{next(self._ids)}"

    async def close_router(self, router_id: str) -> None:
        self.calls.append(("close_router", (router_id,)))

    async def publish(
        self,
        router_id: str,
        participant_id: str,
        offer_sdp: str,
        small_mids: Mapping[str, str] | None = None,
    ) -> PublishResult:
        self.calls.append(("publish", (router_id, participant_id)))
        producers = []
        for i, token in enumerate(offer_sdp.split()):
            kind, _, source = token.partition(":")
            if kind not in ("audio", "video"):
                raise ValueError("bad offer")
            k: MediaKind = "audio" if kind == "audio" else "video"
            s: TrackSource = "sub" if source == "sub" else "main"
            producers.append(ProducerInfo(f"prod-{next(self._ids)}", participant_id, k, s, str(i), 1000 + i))
        return PublishResult(answer_sdp="answer", producers=producers)

    async def set_small_stream(
        self, router_id: str, participant_id: str, publisher_id: str, small: bool
    ) -> None:
        self.calls.append(("set_small_stream", (router_id, participant_id, publisher_id, small)))

    async def unpublish(self, router_id: str, participant_id: str, producer_id: str) -> None:
        self.calls.append(("unpublish", (router_id, participant_id, producer_id)))

    async def pause_producer(self, router_id: str, producer_id: str) -> None:
        self.calls.append(("pause_producer", (router_id, producer_id)))

    async def resume_producer(self, router_id: str, producer_id: str) -> None:
        self.calls.append(("resume_producer", (router_id, producer_id)))

    async def subscribe(
        self, router_id: str, participant_id: str, producer_ids: Sequence[str], *, audience: bool = False
    ) -> SubscribeResult:
        """Producers in ``failing`` fail alone (the others are consumed), as MediaService does."""
        self.calls.append(("subscribe", (router_id, participant_id, tuple(producer_ids))))
        ok = [pid for pid in producer_ids if pid not in self.failing]
        self.consumers.setdefault(participant_id, set()).update(ok)
        failed = {pid: "TypeError: bad producer" for pid in producer_ids if pid in self.failing}
        return SubscribeResult(self._offer(participant_id), ok, failed)

    async def subscriber_offer(self, router_id: str, participant_id: str) -> str:
        self.calls.append(("subscriber_offer", (router_id, participant_id)))
        return self._offer(participant_id)

    def _offer(self, participant_id: str) -> str:
        return "offer " + " ".join(sorted(self.consumers.get(participant_id, set())))

    async def unsubscribe(self, router_id: str, participant_id: str, producer_ids: Sequence[str]) -> str:
        self.calls.append(("unsubscribe", (router_id, participant_id, tuple(producer_ids))))
        self.consumers.setdefault(participant_id, set()).difference_update(producer_ids)
        return "offer " + " ".join(sorted(self.consumers[participant_id]))

    async def set_subscriber_answer(self, router_id: str, participant_id: str, answer_sdp: str) -> None:
        self.calls.append(("set_subscriber_answer", (router_id, participant_id)))
        if answer_sdp in self.refused_answers:
            raise ValueError("answer has no dtls fingerprint")
        self.answers.setdefault(participant_id, []).append(answer_sdp)

    async def request_keyframe(self, router_id: str, producer_id: str) -> None:
        self.calls.append(("request_keyframe", (router_id, producer_id)))

    async def close_participant(self, router_id: str, participant_id: str) -> None:
        self.calls.append(("close_participant", (router_id, participant_id)))


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def send_event(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((event, data))

    def names(self) -> list[str]:
        return [e for e, _ in self.events]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [d for e, d in self.events if e == name]


def usersig(user_id: str, *, key: str = KEY, expire: int = 3600, now: int | None = None) -> str:
    return gen_usersig(SDKAPPID, key, user_id, expire, now=now)


def enter_params(user_id: str, room_id: int | None = 1234, **kw: Any) -> EnterParams:
    kw.setdefault("user_sig", usersig(user_id))
    return EnterParams(sdkappid=SDKAPPID, user_id=user_id, room_id=room_id, **kw)


def make_manager(
    media: FakeMedia | None = None,
    clock: FakeClock | None = None,
    directory: FakeDirectory | None = None,
    observer: Callable[[RoomEvent], None] | None = None,
    **limits: Any,
) -> tuple[RoomManager, FakeMedia, FakeClock]:
    media = media or FakeMedia()
    clock = clock or FakeClock()
    params = RoomManagerParams(
        media=media,
        directory=directory or FakeDirectory(),
        node_region=REGION,
        limits=RoomLimits(**limits),
        clock=clock,
        observer=observer,
    )
    return RoomManager(params), media, clock
