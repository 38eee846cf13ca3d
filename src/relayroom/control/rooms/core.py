"""The room manager's state and the steps every part of it shares: take a member out, close a room,
announce publications, emit room events. The parts (entering, media requests, housekeeping, cloud-API
hooks) are mixins over this core, assembled in control/rooms/manager.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from relayroom.control.rooms.entry import EntryChecker
from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.events import RoomEvent, RoomEventType
from relayroom.control.rooms.ids import RoomKey
from relayroom.control.rooms.params import RoomLimits, RoomManagerParams
from relayroom.control.rooms.participant import ExitReason, KickReason, Participant, Publication, Role
from relayroom.control.rooms.room import Room, Scene
from relayroom.control.rooms.subscriptions import NegotiationTiming, SubscriptionNegotiator
from relayroom.media.channel import ChannelError
from relayroom.media.types import InvalidStateError, MediaEvent, MediaKind, UnsupportedError

# What a media request may raise when its router, transport or worker is gone or refuses it: the worker's
# errors as the channel carries them (media/channel.py ERRORS, else ChannelError), a closed or broken
# channel, a request that timed out.
MEDIA_REFUSED: tuple[type[Exception], ...] = (
    InvalidStateError,
    UnsupportedError,
    ValueError,
    TypeError,
    ChannelError,
    OSError,
    TimeoutError,
)


@contextlib.contextmanager
def best_effort(logger: logging.Logger, what: str, **extra: Any) -> Iterator[None]:
    """A clean-up step whose failure must not stop the steps after it: an expected media refusal is
    logged at debug level, anything else with its traceback (a bug to see, not to hide)."""
    try:
        yield
    except MEDIA_REFUSED as exc:
        logger.debug("%s: %s: %s", what, type(exc).__name__, exc, extra=extra)
    except Exception:
        logger.exception("%s failed", what, extra=extra)


class RoomManagerCore:
    def __init__(self, params: RoomManagerParams) -> None:
        self._p = params
        self._media = params.media
        self._limits = params.limits
        self._clock = params.clock
        self._log = params.logger
        lim = params.limits
        timing = NegotiationTiming(
            offer_resend_s=lim.offer_resend_s,
            answer_timeout_s=lim.answer_timeout_s,
            retry_s=lim.subscribe_retry_s,
        )
        self._subs = SubscriptionNegotiator(params.media, timing, self._spawn, params.logger)
        self._entry = EntryChecker(params.directory, params.node_region, params.consent, params.wall_clock)
        self._registry = params.registry
        self._presence = params.presence
        self._blocks = params.blocks
        self._placement = params.placement
        self._node = params.node_id
        self._rooms: dict[RoomKey, Room] = {}
        self._by_router: dict[str, Room] = {}
        self._by_token: dict[str, Participant] = {}
        self._blocked: set[tuple[int, str]] = set()
        # SetUserBlocked: (room key, user id) -> kinds kept off; producers the block paused
        self._media_blocked: dict[tuple[str, str], set[MediaKind]] = {}
        self._paused_by_block: set[str] = set()
        self._rooms_lock = asyncio.Lock()  # creation/removal of rooms in the dict
        self._media_events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self.closed = False

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def limits(self) -> RoomLimits:
        return self._limits

    def _sessions_of(self, sdkappid: int, user_id: str) -> list[Participant]:
        return [
            p
            for room in self._rooms.values()
            if room.ref.sdkappid == sdkappid
            for p in room.participants.values()
            if p.user_id == user_id and not p.closed
        ]

    def _check_capacity(self, room: Room, role: Role) -> None:
        lim = self._limits
        if room.scene is Scene.RTC:
            if len(room.participants) >= lim.rtc_max_members:
                raise RoomError(ErrorCode.ROOM_FULL, f"room is full ({lim.rtc_max_members} members)")
        elif role is Role.ANCHOR:
            if len(room.anchors()) >= lim.live_max_anchors:
                raise RoomError(ErrorCode.ANCHOR_LIMIT, f"room already has {lim.live_max_anchors} anchors")
        elif room.audience_count() >= lim.live_max_audience:
            raise RoomError(ErrorCode.ROOM_FULL, f"room is full ({lim.live_max_audience} audience members)")

    async def _remove(
        self,
        room: Room,
        p: Participant,
        reason: ExitReason,
        kick: KickReason | None = None,
        media_alive: bool = True,
        notice: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Take ``p`` out of ``room`` (caller holds room.lock), tell the others, apply close rules."""
        if kick is not None:
            p.send("kicked-out", {"reason": kick.value})
        if notice is not None:
            p.send(*notice)
        p.closed = True
        self._subs.stop(p)
        if room.participants.get(p.user_id) is p:
            del room.participants[p.user_id]
            await self._presence.leave(room.ref.sdkappid, p.user_id, room.key)
        self._by_token.pop(p.resume_token, None)
        if media_alive:
            try:
                await self._media.close_participant(room.router_id, p.participant_id)
            except Exception:
                self._log.warning("close_participant failed", extra={"participant": p.participant_id})
        for pub in list(p.publications.values()):
            self._announce_unpublished(room, p, pub)
        p.publications.clear()
        if room.is_visible(p):
            for other in room.participants.values():
                other.send("remote-user-exit", {"userId": p.user_id, "reason": int(reason)})
        self._emit(RoomEventType.USER_EXITED, room, p.user_id, role=p.role.value, reason=int(reason))
        self._log.info(
            "participant left",
            extra={"room": room.key, "participant": p.participant_id, "reason": reason.name},
        )
        if media_alive:
            self._subs.renegotiate(room, room.participants.values())
        if not room.participants and not room.closed:
            delay = 0.0
            if room.scene is Scene.LIVE and p.role is Role.AUDIENCE:
                delay = self._limits.live_audience_close_delay_s
            if delay <= 0:
                await self._close_room(room, None, media_alive=media_alive, locked=True)
            else:
                room.close_at = self._clock() + delay

    async def _close_room(
        self, room: Room, kick: KickReason | None, media_alive: bool = True, locked: bool = False
    ) -> None:
        if room.closed:
            return
        if locked:
            await self._close_room_locked(room, kick, media_alive)
        else:
            async with room.lock:
                await self._close_room_locked(room, kick, media_alive)

    async def _close_room_locked(self, room: Room, kick: KickReason | None, media_alive: bool) -> None:
        if room.closed:
            return
        room.closed = True  # set first: the removals below must not close it again
        for p in list(room.participants.values()):
            await self._remove(room, p, ExitReason.KICK, kick=kick, media_alive=False)
        await self._forget_room(room)
        if media_alive:
            try:
                await self._media.close_router(room.router_id)
            except Exception:
                self._log.warning("close_router failed", extra={"room": room.key})
        self._log.info("room closed", extra={"room": room.key})
        self._emit(RoomEventType.ROOM_CLOSED, room, None, reason=kick.value if kick else None)

    async def _forget_room(self, room: Room) -> None:
        # A new room under the same key may exist already (entered while this one was closing).
        if self._rooms.get(room.ref.key) is room:
            del self._rooms[room.ref.key]
            await self._registry.release(room.ref.key, self._node)
        if self._by_router.get(room.router_id) is room:
            del self._by_router[room.router_id]
        for key in [k for k in self._media_blocked if k[0] == room.key]:
            del self._media_blocked[key]

    def _room_of(self, p: Participant) -> Room:
        room = self._rooms.get(p.room_key)
        if room is None or p.closed:
            raise RoomError(ErrorCode.NOT_IN_ROOM, "not in a room")
        return room

    # ------------------------------------------------------------------ announcements

    def _announce_published(self, room: Room, p: Participant, pub: Publication) -> None:
        if not pub.muted:
            for other in room.others(p):
                other.send(*availability(p.user_id, pub, True))
        self._emit(RoomEventType.STREAM_STARTED, room, p.user_id, kind=pub.kind, stream_type=pub.source)

    def _announce_unpublished(self, room: Room, p: Participant, pub: Publication) -> None:
        if not pub.muted:
            for other in room.others(p):
                other.send(*availability(p.user_id, pub, False))
        for other in room.participants.values():
            other.subscribe_failed.pop(pub.producer_id, None)
        self._emit(RoomEventType.STREAM_STOPPED, room, p.user_id, kind=pub.kind, stream_type=pub.source)

    def _emit(self, etype: RoomEventType, room: Room, user_id: str | None, **kw: Any) -> None:
        if self._p.observer is None:
            return
        event = RoomEvent(
            type=etype,
            room_key=room.key,
            sdkappid=room.ref.sdkappid,
            room_id=room.ref.public_id(),
            at=self._p.wall_clock(),
            user_id=user_id,
            **kw,
        )
        try:
            self._p.observer(event)
        except Exception:
            self._log.exception("room observer failed")

    async def _is_blocked(self, sdkappid: int, user_id: str) -> bool:
        if self._blocks is not None:
            return await self._blocks.is_blocked(sdkappid, user_id)
        return (sdkappid, user_id) in self._blocked


def availability(user_id: str, pub: Publication, available: bool) -> tuple[str, dict[str, Any]]:
    state = "available" if available else "unavailable"
    if pub.kind == "audio":
        return f"remote-audio-{state}", {"userId": user_id, "streamType": pub.source}
    return f"remote-video-{state}", {"userId": user_id, "streamType": pub.source}
