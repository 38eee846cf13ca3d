"""RoomManager: TRTC's room rules on top of the media layer.

The manager owns every room and participant of this node. The signalling endpoint calls it for each
client request; the media layer reports producer/transport/worker events to it; the cloud API uses its
hooks (dismiss_room, remove_users, set_user_blocked, list_rooms, room_info). Time-based rules (idle
members, the live-room grace period) are applied by `sweep()`, which a background task calls and tests
call directly with a fake clock.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from relayroom.auth.privatemapkey import Privilege
from relayroom.control.rooms.backend import MediaBackend
from relayroom.control.rooms.client_info import ClientInfo
from relayroom.control.rooms.entry import (
    RECV_PRIVILEGE,
    SEND_PRIVILEGE,
    AppDirectory,
    ConsentCheck,
    EntryChecker,
    EntryGrant,
    PrivilegeNeed,
    require_privilege,
)
from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.ids import (
    ParticipantId,
    RoomKey,
    RoomRef,
    validate_room,
    validate_sdkappid,
    validate_user_id,
)
from relayroom.control.rooms.participant import (
    EventSink,
    ExitReason,
    KickReason,
    Participant,
    Publication,
    Role,
)
from relayroom.control.rooms.registry import (
    LocalPresence,
    LocalRoomRegistry,
    Presence,
    RoomRegistry,
    UserBlocks,
)
from relayroom.control.rooms.room import Room, Scene
from relayroom.control.rooms.subscriptions import NegotiationTiming, SubscriptionNegotiator
from relayroom.media.channel import ChannelError
from relayroom.media.types import (
    InvalidStateError,
    MediaEvent,
    MediaEventType,
    MediaKind,
    PublishResult,
    TrackSource,
    UnsupportedError,
)

log = logging.getLogger(__name__)

# What a media request may raise when its router, transport or worker is gone or refuses it: the worker's
# errors as the channel carries them (media/channel.py ERRORS, else ChannelError), a closed or broken
# channel, a request that timed out.
_MEDIA_REFUSED: tuple[type[Exception], ...] = (
    InvalidStateError,
    UnsupportedError,
    ValueError,
    TypeError,
    ChannelError,
    OSError,
    TimeoutError,
)


@contextlib.contextmanager
def _best_effort(logger: logging.Logger, what: str, **extra: Any) -> Iterator[None]:
    """A clean-up step whose failure must not stop the steps after it: an expected media refusal is
    logged at debug level, anything else with its traceback (a bug to see, not to hide)."""
    try:
        yield
    except _MEDIA_REFUSED as exc:
        logger.debug("%s: %s: %s", what, type(exc).__name__, exc, extra=extra)
    except Exception:
        logger.exception("%s failed", what, extra=extra)


class RoomEventType(enum.StrEnum):
    """What the observer hears (future webhooks 101-105/201-206 and usage metering)."""

    ROOM_CREATED = "room_created"
    ROOM_CLOSED = "room_closed"
    USER_ENTERED = "user_entered"
    USER_EXITED = "user_exited"
    ROLE_CHANGED = "role_changed"
    STREAM_STARTED = "stream_started"
    STREAM_STOPPED = "stream_stopped"
    STREAM_MUTED = "stream_muted"
    STREAM_UNMUTED = "stream_unmuted"


@dataclass(frozen=True)
class RoomEvent:
    type: RoomEventType
    room_key: str
    sdkappid: int
    room_id: int | str
    at: float  # wall-clock seconds
    user_id: str | None = None
    role: str | None = None
    reason: str | int | None = None
    kind: MediaKind | None = None
    stream_type: TrackSource | None = None
    client: ClientInfo | None = None  # USER_ENTERED: what the client reported (call history)


@dataclass(frozen=True)
class RoomLimits:
    rtc_max_members: int = 300
    live_max_anchors: int = 50
    live_max_audience: int = 100_000
    idle_timeout_s: float = 90.0  # TRTC drops abnormally disconnected users after 90 s
    live_audience_close_delay_s: float = 600.0  # live room whose last leaver was audience: 10 min
    heartbeat_interval_s: float = 10.0  # told to clients at enter
    answer_timeout_s: float = 10.0  # a subscriber offer unanswered this long: the client is told
    offer_resend_s: float = 2.0  # first re-send of an unanswered offer (doubles, up to 30 s)
    subscribe_retry_s: float = 1.0  # first retry of a consumer that failed (doubles, up to 60 s)
    sweep_interval_s: float = 1.0


@dataclass(frozen=True)
class RoomManagerParams:
    media: MediaBackend
    directory: AppDirectory
    node_region: str
    consent: ConsentCheck | None = None
    limits: RoomLimits = field(default_factory=RoomLimits)
    clock: Callable[[], float] = time.monotonic  # timers
    wall_clock: Callable[[], float] = time.time  # UserSig expiry, event timestamps
    observer: Callable[[RoomEvent], None] | None = None
    logger: logging.Logger = log
    # Shared state of a cluster (control/rooms/registry.py); in process by default.
    registry: RoomRegistry = field(default_factory=LocalRoomRegistry)
    presence: Presence = field(default_factory=LocalPresence)
    node_id: str = "local"
    # App-wide blocks kept outside this node (the database: every node and the CLI write them); None:
    # blocks live in this node's memory only.
    blocks: UserBlocks | None = None


@dataclass(frozen=True)
class EnterParams:
    sdkappid: int
    user_id: str
    user_sig: str
    room_id: int | None = None
    str_room_id: str | None = None
    scene: str = "rtc"
    role: str = "anchor"
    private_map_key: str | None = None
    auto_receive_audio: bool = True
    auto_receive_video: bool = False  # TRTC v5.6+ default
    consent_token: str | None = None
    e2ee: bool = False  # the member declares end-to-end encrypted media
    # device type, SDK version, address: for the call history only
    client: ClientInfo = field(default_factory=ClientInfo)


def _small_mids(tracks: Sequence[DeclaredTrack]) -> dict[str, str]:
    """Small stream m-line -> the main camera's m-line, from a publish request's declared tracks."""
    big = next(
        (t.mid for t in tracks if t.kind == "video" and t.source == "main" and not t.small and t.mid), None
    )
    if big is None:
        return {}
    return {t.mid: big for t in tracks if t.small and t.kind == "video" and t.mid and t.mid != big}


@dataclass(frozen=True)
class DeclaredTrack:
    kind: MediaKind
    source: TrackSource
    mid: str | None = None
    small: bool = False  # the small stream of the main camera, sent as a track of its own


_CUSTOM_MAX_BYTES = 1024
_CUSTOM_MAX_PER_S = 30
_CUSTOM_MAX_BYTES_PER_S = 8192


class RoomManager:
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

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._media.on_event(self._on_media_event)
        self._spawn(self._media_event_loop(), "media-events")
        self._spawn(self._sweep_loop(), "sweeper")

    async def close(self) -> None:
        """Drain: every member is told the room is disbanded, routers are closed."""
        if self.closed:
            return
        self.closed = True
        for room in list(self._rooms.values()):
            with _best_effort(self._log, "closing a room at drain", room=room.key):
                await self._close_room(room, KickReason.ROOM_DISBAND)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task, result in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
            if isinstance(result, Exception):  # cancelled ones end with CancelledError, not an Exception
                self._log.error("task %s failed", task.get_name(), exc_info=result)
        self._tasks.clear()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def limits(self) -> RoomLimits:
        return self._limits

    # ------------------------------------------------------------------ enter / exit

    async def enter(
        self,
        req: EnterParams,
        sink: EventSink,
        on_entered: Callable[[Participant, Room], None] | None = None,
    ) -> Participant:
        """Check and admit a client. ``on_entered`` runs before any event reaches ``sink``
        (the endpoint sends its response there, so the response precedes the room snapshot)."""
        if self.closed:
            raise RoomError(ErrorCode.SERVER_ERROR, "server is shutting down")
        sdkappid = validate_sdkappid(req.sdkappid)
        user_id = validate_user_id(req.user_id)
        ref = validate_room(sdkappid, req.room_id, req.str_room_id)
        try:
            scene = Scene(req.scene)
        except ValueError:
            raise RoomError(ErrorCode.INVALID_PARAMETER, "scene must be 'rtc' or 'live'") from None
        try:
            role = Role(req.role)
        except ValueError:
            raise RoomError(ErrorCode.INVALID_PARAMETER, "role must be 'anchor' or 'audience'") from None
        if not isinstance(req.user_sig, str) or not req.user_sig:
            raise RoomError(ErrorCode.USERSIG_INVALID, "userSig verification failed: userSig is required")

        grant = await self._entry.check(ref, user_id, req.user_sig, req.private_map_key, req.consent_token)
        if await self._is_blocked(sdkappid, user_id):
            raise RoomError(ErrorCode.USER_BLOCKED, f"user {user_id} is blocked in this application")
        if grant.permission_key_enforced:
            require_privilege(grant.privileges, Privilege.ENTER_ROOM, PrivilegeNeed.ENTER_ROOM)

        # TRTC: one room per user at a time; the same UserId entering again kicks the older session.
        for old in await self._sessions_present(sdkappid, user_id):
            old_room = self._rooms.get(old.room_key)
            if old_room is not None:
                async with old_room.lock:
                    if not old.closed:
                        await self._remove(old_room, old, ExitReason.KICK, kick=KickReason.KICK)

        for _attempt in range(3):
            room = await self._get_or_create_room(ref, scene, grant.privileges, grant.permission_key_enforced)
            async with room.lock:
                if room.closed:
                    continue  # closed while we waited for its lock: create it again
                existing = room.participants.get(user_id)
                if existing is not None and not existing.closed:
                    # A concurrent entry of the same UserId got in first: the newest one wins.
                    await self._remove(room, existing, ExitReason.KICK, kick=KickReason.KICK)
                    if room.closed:
                        continue
                p = self._admit(room, req, user_id, role, grant, sink, on_entered)
                await self._presence.join(sdkappid, user_id, room.key)
                return p
        raise RoomError(ErrorCode.OPERATION_FAILED, "room closed while entering; enter again")

    def _admit(
        self,
        room: Room,
        req: EnterParams,
        user_id: str,
        role: Role,
        grant: EntryGrant,
        sink: EventSink,
        on_entered: Callable[[Participant, Room], None] | None,
    ) -> Participant:
        ref = room.ref
        if room.scene is Scene.RTC:
            role = Role.ANCHOR  # roles only mean something in live rooms
        self._check_e2ee(room, req.e2ee)
        self._check_capacity(room, role)
        now = self._clock()
        p = Participant(
            participant_id=ParticipantId(uuid.uuid4().hex),
            user_id=user_id,
            room_key=ref.key,
            role=role,
            resume_token="rr_" + secrets.token_urlsafe(24),
            privileges=grant.privileges,
            permission_key_enforced=grant.permission_key_enforced,
            auto_receive_audio=req.auto_receive_audio,
            auto_receive_video=req.auto_receive_video,
            sink=sink,
            last_seen=now,
        )
        room.participants[user_id] = p
        room.close_at = None
        self._by_token[p.resume_token] = p
        if on_entered is not None:
            on_entered(p, room)
        self._log.info(
            "participant entered",
            extra={"room": room.key, "participant": p.participant_id, "role": role.value},
        )
        self._emit(RoomEventType.USER_ENTERED, room, p.user_id, role=role.value, client=req.client)
        if room.is_visible(p):
            for other in room.others(p):
                other.send("remote-user-enter", {"userId": p.user_id})
        self._send_snapshot(room, p)
        self._subs.renegotiate(room, [p])
        return p

    async def exit(self, p: Participant) -> None:
        room = self._rooms.get(p.room_key)
        if room is None or p.closed:
            return
        async with room.lock:
            if not p.closed:
                await self._remove(room, p, ExitReason.NORMAL)

    def touch(self, p: Participant) -> None:
        """Any message from the client proves it is alive (heartbeats included)."""
        p.last_seen = self._clock()

    def detach(self, p: Participant) -> None:
        """The signalling socket went away without exit: keep the membership until the idle timeout,
        so that a client that reconnects with its resume token carries on."""
        if p.closed:
            return
        p.sink = None
        p.detached_at = self._clock()
        self._log.info("participant detached", extra={"participant": p.participant_id})

    async def resume(
        self, token: str, sink: EventSink, on_resumed: Callable[[Participant, Room], None] | None = None
    ) -> Participant:
        p = self._by_token.get(token) if isinstance(token, str) else None
        room = self._rooms.get(p.room_key) if p is not None else None
        if p is None or room is None or p.closed:
            raise RoomError(ErrorCode.SESSION_NOT_FOUND, "session expired or unknown; enter the room again")
        async with room.lock:
            if p.closed:
                raise RoomError(ErrorCode.SESSION_NOT_FOUND, "session expired; enter the room again")
            p.sink = sink
            p.detached_at = None
            p.last_seen = self._clock()
            if on_resumed is not None:
                on_resumed(p, room)
            self._log.info("participant resumed", extra={"participant": p.participant_id})
            if p.pending_offer is not None:
                p.send("offer", p.pending_offer)
            return p

    def room_state(self, room: Room, p: Participant) -> list[dict[str, Any]]:
        """What ``p`` can see of the room: visible members and their available streams."""
        out = []
        for other in room.others(p):
            if not room.is_visible(other):
                continue
            out.append(
                {
                    "userId": other.user_id,
                    "role": other.role.value,
                    "streams": [
                        {"kind": pub.kind, "streamType": pub.source, "muted": pub.muted}
                        for pub in other.publications.values()
                    ],
                }
            )
        return out

    def _send_snapshot(self, room: Room, p: Participant) -> None:
        for other in room.others(p):
            if room.is_visible(other):
                p.send("remote-user-enter", {"userId": other.user_id})
            for pub in other.publications.values():
                if not pub.muted:
                    p.send(*_available(other.user_id, pub, True))

    async def _sessions_present(self, sdkappid: int, user_id: str) -> list[Participant]:
        """The user's sessions the presence knows of (this node holds the sessions of its rooms)."""
        room_key = await self._presence.where(sdkappid, user_id)
        room = self._rooms.get(RoomKey(room_key)) if room_key is not None else None
        found = room.participants.get(user_id) if room is not None else None
        local = self._sessions_of(sdkappid, user_id)
        return local if found is None or found in local else [*local, found]

    def _sessions_of(self, sdkappid: int, user_id: str) -> list[Participant]:
        return [
            p
            for room in self._rooms.values()
            if room.ref.sdkappid == sdkappid
            for p in room.participants.values()
            if p.user_id == user_id and not p.closed
        ]

    async def _get_or_create_room(
        self, ref: RoomRef, scene: Scene, privileges: Privilege, enforced: bool
    ) -> Room:
        async with self._rooms_lock:
            room = self._rooms.get(ref.key)
            if room is not None and not room.closed:
                return room
            if enforced:
                require_privilege(privileges, Privilege.CREATE_ROOM, PrivilegeNeed.CREATE_ROOM)
            host = await self._registry.claim(ref.key, self._node)
            if host != self._node:
                raise RoomError(ErrorCode.OPERATION_FAILED, "the room is hosted by another node")
            try:
                router_id = await self._media.create_router(ref.key)
            except Exception:
                await self._registry.release(ref.key, self._node)
                self._log.exception("create_router failed", extra={"room": ref.key})
                raise RoomError(ErrorCode.SERVER_ERROR, "no media worker available") from None
            room = Room(ref=ref, scene=scene, router_id=router_id, created_at=self._clock())
            self._rooms[ref.key] = room
            self._by_router[router_id] = room
            self._log.info("room created", extra={"room": ref.key, "router": router_id})
            self._emit(RoomEventType.ROOM_CREATED, room, None)
            return room

    @staticmethod
    def _check_e2ee(room: Room, declared: bool) -> None:
        """The first member decides whether the room is end-to-end encrypted; everyone after it must
        declare the same (an encrypted member could not decode a clear one, nor the other way round)."""
        if room.e2ee is None or not room.participants:
            room.e2ee = declared
        elif room.e2ee and not declared:
            raise RoomError(
                ErrorCode.E2EE_REQUIRED,
                "this room is end-to-end encrypted: enter with e2ee (and the room's key)",
            )
        elif declared and not room.e2ee:
            raise RoomError(
                ErrorCode.ROOM_NOT_ENCRYPTED,
                "this room is not end-to-end encrypted: enter without e2ee, or use another room",
            )

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

    # ------------------------------------------------------------------ media requests

    def _room_of(self, p: Participant) -> Room:
        room = self._rooms.get(p.room_key)
        if room is None or p.closed:
            raise RoomError(ErrorCode.NOT_IN_ROOM, "not in a room")
        return room

    async def publish(self, p: Participant, offer_sdp: str, tracks: Sequence[DeclaredTrack]) -> PublishResult:
        room = self._room_of(p)
        if p.role is not Role.ANCHOR:
            raise RoomError(
                ErrorCode.AUDIENCE_CANNOT_PUBLISH, "audience cannot publish; switchRole to anchor"
            )
        if p.permission_key_enforced:
            for t in tracks:
                bit, need = SEND_PRIVILEGE[(t.kind, t.source)]
                require_privilege(p.privileges, bit, need)
        async with room.lock:
            if p.closed:
                raise RoomError(ErrorCode.NOT_IN_ROOM, "not in a room")
            try:
                result = await self._media.publish(
                    room.router_id, p.participant_id, offer_sdp, _small_mids(tracks)
                )
            except (ValueError, TypeError, UnsupportedError) as exc:
                # The offer's own fault (malformed, out of range, unsupported): the publisher is told why.
                raise RoomError(ErrorCode.INVALID_PARAMETER, f"offer refused: {exc}") from None
            except Exception:
                self._log.exception("publish failed", extra={"participant": p.participant_id})
                raise RoomError(ErrorCode.SERVER_ERROR, "publish failed in the media layer") from None
            p.media_lost_at = None
            declared = {t.mid: t.source for t in tracks if t.mid is not None and not t.small}
            for closed_id in result.closed_producer_ids:
                pub = p.publications.pop(closed_id, None)
                if pub is not None:
                    self._announce_unpublished(room, p, pub)
            refused: list[str] = []
            for info in result.producers:
                source: TrackSource = declared.get(info.mid, info.source)
                if p.permission_key_enforced and not p.privileges & SEND_PRIVILEGE[(info.kind, source)][0]:
                    refused.append(info.producer_id)  # an undeclared track the key does not allow
                    continue
                pub = Publication(info.producer_id, info.kind, source, info.mid)
                p.publications[info.producer_id] = pub
                self._announce_published(room, p, pub)
            for producer_id in refused:
                with _best_effort(self._log, "unpublishing a refused track", room=room.key):
                    await self._media.unpublish(room.router_id, p.participant_id, producer_id)
            blocked = self._media_blocked.get((room.key, p.user_id), set())
            for pub in list(p.publications.values()):
                if pub.kind in blocked and not pub.muted:
                    await self._set_muted(room, p, pub, True)
                    self._paused_by_block.add(pub.producer_id)
            self._subs.renegotiate(room, room.others(p))
            return result

    async def unpublish(self, p: Participant, producer_ids: Sequence[str] | None = None) -> list[str]:
        room = self._room_of(p)
        async with room.lock:
            ids = list(p.publications) if producer_ids is None else list(producer_ids)
            done = []
            for producer_id in ids:
                pub = p.publications.pop(producer_id, None)
                if pub is None:
                    continue
                try:
                    await self._media.unpublish(room.router_id, p.participant_id, producer_id)
                except Exception:
                    self._log.warning("unpublish failed", extra={"producer": producer_id})
                self._announce_unpublished(room, p, pub)
                done.append(producer_id)
            self._subs.renegotiate(room, room.others(p))
            return done

    async def mute(self, p: Participant, kind: MediaKind, muted: bool, source: TrackSource = "main") -> None:
        room = self._room_of(p)
        async with room.lock:
            pub = p.publication_for(kind, source)
            if pub is None:
                raise RoomError(ErrorCode.INVALID_OPERATION, f"no published {kind} {source} track to mute")
            if not muted and kind in self._media_blocked.get((room.key, p.user_id), ()):
                raise RoomError(
                    ErrorCode.USER_BLOCKED, f"your {kind} is blocked in this room by the application's server"
                )
            await self._set_muted(room, p, pub, muted)

    async def _set_muted(self, room: Room, p: Participant, pub: Publication, muted: bool) -> None:
        """Pause/resume one publication and tell the room; the caller holds room.lock."""
        if pub.muted == muted:
            return
        try:
            if muted:
                await self._media.pause_producer(room.router_id, pub.producer_id)
            else:
                await self._media.resume_producer(room.router_id, pub.producer_id)
        except Exception:
            self._log.warning("pause/resume failed", extra={"producer": pub.producer_id})
            raise RoomError(ErrorCode.OPERATION_FAILED, "mute failed in the media layer") from None
        pub.muted = muted
        for other in room.others(p):
            event, data = _available(p.user_id, pub, not muted)
            data["reason"] = "mute"
            other.send(event, data)
        etype = RoomEventType.STREAM_MUTED if muted else RoomEventType.STREAM_UNMUTED
        self._emit(etype, room, p.user_id, kind=pub.kind, stream_type=pub.source)
        if not muted and pub.kind == "video":
            # Subscribers need a keyframe to show the resumed picture at once.
            with _best_effort(self._log, "keyframe request after unmute", room=room.key):
                await self._media.request_keyframe(room.router_id, pub.producer_id)

    async def set_media_blocked(self, room_key: str, user_id: str, *, audio: bool, video: bool) -> None:
        """TRTC SetUserBlocked: stop a member's audio and/or video; while blocked, their own unmute and
        new tracks of that kind stay off. Unblocking resumes what the block had paused."""
        room = self._rooms.get(RoomKey(room_key))
        if room is None:
            raise RoomError(ErrorCode.INVALID_OPERATION, "no such room")
        blocked: set[MediaKind] = set()
        if audio:
            blocked.add("audio")
        if video:
            blocked.add("video")
        key = (room.key, user_id)
        async with room.lock:
            if blocked:
                self._media_blocked[key] = blocked
            else:
                self._media_blocked.pop(key, None)
            p = room.participants.get(user_id)
            if p is None:
                return
            for pub in list(p.publications.values()):
                if pub.kind in blocked:
                    if not pub.muted:
                        await self._set_muted(room, p, pub, True)
                        self._paused_by_block.add(pub.producer_id)
                elif pub.producer_id in self._paused_by_block:
                    self._paused_by_block.discard(pub.producer_id)
                    await self._set_muted(room, p, pub, False)

    async def set_subscription(
        self,
        p: Participant,
        user_id: str,
        stream_type: TrackSource,
        kind: MediaKind,
        wanted: bool,
        small: bool | None = None,
    ) -> None:
        room = self._room_of(p)
        if wanted and p.permission_key_enforced:
            bit, need = RECV_PRIVILEGE[(kind, stream_type)]
            require_privilege(p.privileges, bit, need)
        remote = room.participants.get(user_id)
        if remote is None or remote is p:
            raise RoomError(ErrorCode.REMOTE_USER_MISSING, f"user {user_id} is not in the room")
        p.overrides[(user_id, stream_type, kind)] = wanted
        if small is not None and kind == "video" and stream_type == "main":
            # big or small stream of that camera (kept for later publications of it too)
            await self._media.set_small_stream(room.router_id, p.participant_id, remote.participant_id, small)
        self._subs.renegotiate(room, [p])

    async def set_answer(self, p: Participant, negotiation_id: int, answer_sdp: str) -> None:
        self._room_of(p)
        pending = p.pending_answer
        if pending is None or pending[0] != negotiation_id:
            raise RoomError(ErrorCode.INVALID_OPERATION, "no offer with this negotiationId is waiting")
        if not pending[1].done():
            pending[1].set_result(answer_sdp)

    async def switch_role(self, p: Participant, role: str, private_map_key: str | None = None) -> Role:
        room = self._room_of(p)
        try:
            new_role = Role(role)
        except ValueError:
            raise RoomError(ErrorCode.INVALID_PARAMETER, "role must be 'anchor' or 'audience'") from None
        if room.scene is not Scene.LIVE:
            raise RoomError(ErrorCode.INVALID_OPERATION, "switchRole is only meaningful in live rooms")
        if p.permission_key_enforced and private_map_key:
            app = await self._p.directory.get_app(room.ref.sdkappid)
            if app is None:
                raise RoomError(ErrorCode.APP_NOT_FOUND, "application no longer exists")
            p.privileges = self._entry.verify_private_map_key(app, room.ref, p.user_id, private_map_key)
        async with room.lock:
            if p.closed:
                raise RoomError(ErrorCode.NOT_IN_ROOM, "not in a room")
            if new_role is p.role:
                return new_role
            if new_role is Role.ANCHOR:
                self._check_capacity(room, Role.ANCHOR)
                p.role = new_role
                for other in room.others(p):
                    other.send("remote-user-enter", {"userId": p.user_id})
            else:
                for producer_id, pub in list(p.publications.items()):
                    with _best_effort(self._log, "unpublishing at a switch to audience", room=room.key):
                        await self._media.unpublish(room.router_id, p.participant_id, producer_id)
                    self._announce_unpublished(room, p, pub)
                p.publications.clear()
                for other in room.others(p):
                    other.send(
                        "remote-user-exit", {"userId": p.user_id, "reason": int(ExitReason.ROLE_CHANGE)}
                    )
                p.role = new_role
                self._subs.renegotiate(room, room.others(p))
            self._emit(RoomEventType.ROLE_CHANGED, room, p.user_id, role=new_role.value)
            return new_role

    async def custom_message(self, p: Participant, cmd_id: int, data: bytes) -> int:
        """Relay a TRTC sendCustomMessage to the other members; returns its sequence number."""
        room = self._room_of(p)
        if p.role is not Role.ANCHOR:
            raise RoomError(ErrorCode.INVALID_OPERATION, "only anchors can send custom messages")
        if isinstance(cmd_id, bool) or not isinstance(cmd_id, int) or not 1 <= cmd_id <= 10:
            raise RoomError(ErrorCode.INVALID_PARAMETER, "cmdId must be 1..10")
        if len(data) > _CUSTOM_MAX_BYTES:
            raise RoomError(ErrorCode.INVALID_PARAMETER, "custom message data must be at most 1 KB")
        now = self._clock()
        window = p.custom_window
        while window and window[0][0] <= now - 1.0:
            window.popleft()
        if (
            len(window) >= _CUSTOM_MAX_PER_S
            or sum(n for _, n in window) + len(data) > _CUSTOM_MAX_BYTES_PER_S
        ):
            raise RoomError(ErrorCode.RATE_LIMITED, "custom messages are limited to 30 per second and 8 KB/s")
        window.append((now, len(data)))
        p.custom_seq += 1
        payload = {
            "userId": p.user_id,
            "cmdId": cmd_id,
            "seq": p.custom_seq,
            "data": base64.b64encode(data).decode(),
        }
        for other in room.others(p):
            other.send("custom-message", payload)
        return p.custom_seq

    # ------------------------------------------------------------------ announcements

    def _announce_published(self, room: Room, p: Participant, pub: Publication) -> None:
        if not pub.muted:
            for other in room.others(p):
                other.send(*_available(p.user_id, pub, True))
        self._emit(RoomEventType.STREAM_STARTED, room, p.user_id, kind=pub.kind, stream_type=pub.source)

    def _announce_unpublished(self, room: Room, p: Participant, pub: Publication) -> None:
        if not pub.muted:
            for other in room.others(p):
                other.send(*_available(p.user_id, pub, False))
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

    # ------------------------------------------------------------------ media events

    def _on_media_event(self, event: MediaEvent) -> None:
        self._media_events.put_nowait(event)

    async def _media_event_loop(self) -> None:
        while True:
            event = await self._media_events.get()
            try:
                await self.handle_media_event(event)
            except Exception:
                self._log.exception("media event handling failed", extra={"event": event.type.value})

    async def handle_media_event(self, event: MediaEvent) -> None:
        if event.type is MediaEventType.WORKER_DIED:
            for router_id in event.router_ids:
                room = self._by_router.get(router_id)
                if room is not None:
                    await self._reset_room(room, "worker_died")
            return
        room = self._by_router.get(event.router_id or "")
        if room is None:
            return
        if event.type is MediaEventType.SPEAKERS:
            self._send_speakers(room, event.data)
            return
        if event.type is MediaEventType.NETWORK_QUALITY:
            for p in list(room.participants.values()):
                grades = event.data.get(p.participant_id)
                if grades:
                    p.send(
                        "network-quality",
                        {
                            "uplinkNetworkQuality": grades["uplink"],
                            "downlinkNetworkQuality": grades["downlink"],
                        },
                    )
            return
        if event.type is MediaEventType.PRODUCER_CLOSED and event.producer_id:
            async with room.lock:
                for p in room.participants.values():
                    pub = p.publications.pop(event.producer_id, None)
                    if pub is not None:
                        self._announce_unpublished(room, p, pub)
                        self._subs.renegotiate(room, room.others(p))
        elif event.type is MediaEventType.TRANSPORT_CONNECTED and event.participant_id:
            # A keyframe forwarded before the subscriber's DTLS-SRTP was up is lost, and aiortc
            # publishers send the next one only on request: ask again once the transport is up.
            # (a copy: members may enter or leave while the keyframe requests are awaited)
            for p in list(room.participants.values()):
                if p.participant_id == event.participant_id and not p.closed:
                    await self._subs.request_keyframes(room, set(p.subscribed))
        elif event.type is MediaEventType.TRANSPORT_CLOSED and event.participant_id:
            if event.reason in ("closed", "router_closed"):
                return
            if event.reason == "worker_died":
                # The member's transport was on a worker serving part of a spread room (the room
                # lives on): reset this member only, as a lost room resets all of its members.
                async with room.lock:
                    for p in list(room.participants.values()):
                        if p.participant_id == event.participant_id and not p.closed:
                            await self._remove(
                                room, p, ExitReason.TIMEOUT, notice=("reconnect", {"reason": "worker_died"})
                            )
                return
            for p in room.participants.values():
                if p.participant_id == event.participant_id and p.media_lost_at is None:
                    # Media is gone but the client may still talk: tell it to reconnect, and drop it
                    # after the idle timeout if it does not.
                    p.media_lost_at = self._clock()
                    p.send("reconnect", {"reason": event.reason or "transport_closed"})

    def _send_speakers(self, room: Room, data: dict[str, Any]) -> None:
        """``audio-volume`` from the SFU's RFC 6464 levels to every member: each publishing member's
        volume 0..100, loudest first, and the dominant speaker (docs/signalling.md §4)."""
        users: dict[str, str] = {str(p.participant_id): p.user_id for p in room.participants.values()}
        result = [
            {"userId": users[pid], "volume": volume}
            for pid, volume in data.get("volumes", ())
            if pid in users
        ]
        dominant = users.get(str(data.get("dominant") or ""))
        for p in list(room.participants.values()):
            p.send("audio-volume", {"result": result, "dominantSpeaker": dominant})

    async def _reset_room(self, room: Room, reason: str) -> None:
        """The router is lost: members are told to reconnect (re-enter), the room starts over."""
        async with room.lock:
            for p in list(room.participants.values()):
                p.send("reconnect", {"reason": reason})
                p.closed = True
                self._subs.stop(p)
                self._by_token.pop(p.resume_token, None)
                self._emit(RoomEventType.USER_EXITED, room, p.user_id, role=p.role.value, reason=reason)
            for user_id in list(room.participants):
                await self._presence.leave(room.ref.sdkappid, user_id, room.key)
            room.participants.clear()
            room.closed = True
            await self._forget_room(room)
            self._emit(RoomEventType.ROOM_CLOSED, room, None, reason=reason)
        self._log.warning("room reset", extra={"room": room.key, "reason": reason})

    # ------------------------------------------------------------------ timers

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._limits.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                self._log.exception("sweep failed")

    async def sweep(self) -> None:
        """Remove idle members and close rooms whose grace period ended."""
        now = self._clock()
        timeout = self._limits.idle_timeout_s
        for room in list(self._rooms.values()):
            async with room.lock:
                for p in list(room.participants.values()):
                    idle_since = p.detached_at if p.detached_at is not None else p.last_seen
                    lost = p.media_lost_at is not None and now - p.media_lost_at > timeout
                    idle = now - idle_since > timeout and not p.held_by_media
                    if idle or lost:
                        await self._remove(
                            room, p, ExitReason.TIMEOUT, notice=("reconnect", {"reason": "timeout"})
                        )
                if not room.closed and not room.participants and room.close_at is not None:
                    if now >= room.close_at:
                        await self._close_room(room, None, locked=True)

    # ------------------------------------------------------------------ cloud API hooks

    async def dismiss_room(self, room_key: str) -> bool:
        room = self._rooms.get(RoomKey(room_key))
        if room is None:
            return False
        await self._close_room(room, KickReason.ROOM_DISBAND)
        return True

    async def remove_users(self, room_key: str, user_ids: Iterable[str]) -> list[str]:
        room = self._rooms.get(RoomKey(room_key))
        if room is None:
            return []
        removed = []
        async with room.lock:
            for user_id in user_ids:
                p = room.participants.get(user_id)
                if p is not None and not p.closed:
                    await self._remove(room, p, ExitReason.KICK, kick=KickReason.BANNED)
                    removed.append(user_id)
        return removed

    async def set_user_blocked(self, sdkappid: int, user_id: str, blocked: bool) -> None:
        """Block (or unblock) a UserId of an application; a present user is removed. With a shared
        store (``RoomManagerParams.blocks``) the caller has written the block there first, and this
        node keeps no copy of its own (an unblock from another node or the CLI must hold here too)."""
        if self._blocks is None:
            if blocked:
                self._blocked.add((sdkappid, user_id))
            else:
                self._blocked.discard((sdkappid, user_id))
        if not blocked:
            return
        for p in self._sessions_of(sdkappid, user_id):
            room = self._rooms.get(p.room_key)
            if room is not None:
                async with room.lock:
                    if not p.closed:
                        await self._remove(room, p, ExitReason.KICK, kick=KickReason.BANNED)

    async def _is_blocked(self, sdkappid: int, user_id: str) -> bool:
        if self._blocks is not None:
            return await self._blocks.is_blocked(sdkappid, user_id)
        return (sdkappid, user_id) in self._blocked

    def is_user_blocked(self, sdkappid: int, user_id: str) -> bool:
        """Blocked in this node's memory (without a shared store)."""
        return (sdkappid, user_id) in self._blocked

    def blocked_users(self, sdkappid: int) -> list[str]:
        """UserIds of the application blocked in this node's memory (without a shared store), sorted."""
        return sorted(u for a, u in self._blocked if a == sdkappid)

    def list_rooms(self, sdkappid: int | None = None) -> list[dict[str, Any]]:
        return [
            {
                "roomKey": r.key,
                "roomId": r.ref.public_id(),
                "scene": r.scene.value,
                "members": len(r.participants),
                "anchors": len(r.anchors()),
            }
            for r in self._rooms.values()
            if sdkappid is None or r.ref.sdkappid == sdkappid
        ]

    def room_info(self, room_key: str) -> dict[str, Any] | None:
        room = self._rooms.get(RoomKey(room_key))
        return room.dump() if room is not None else None

    def get_room(self, room_key: str) -> Room | None:
        return self._rooms.get(RoomKey(room_key))


def _available(user_id: str, pub: Publication, available: bool) -> tuple[str, dict[str, Any]]:
    state = "available" if available else "unavailable"
    if pub.kind == "audio":
        return f"remote-audio-{state}", {"userId": user_id, "streamType": pub.source}
    return f"remote-video-{state}", {"userId": user_id, "streamType": pub.source}
