"""WHIP publishers and WHEP viewers as room members.

A session is an ordinary participant of the room manager (same entry checks, capacity, callbacks, usage,
DescribeRoomInfo) whose events go to a sink that only watches for the end of the session: there is no
signalling socket, so it receives nothing automatically (autoReceive off) and is held by its media
(``Participant.held_by_media``). It ends on DELETE, when its media transport closes (ICE consent lost),
when the room rules remove it (kick, RemoveUser, DismissRoom, the same UserId entering again) and, for
a viewer, when the user it plays leaves the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from relayroom.auth.errors import UserSigDecodeError
from relayroom.auth.usersig import decode_usersig, verify_usersig
from relayroom.control.deps import MAX_SDKAPPID
from relayroom.control.rooms.entry import RECV_PRIVILEGE, AppDirectory
from relayroom.control.rooms.errors import RoomError
from relayroom.control.rooms.manager import DeclaredTrack, EnterParams, RoomManager
from relayroom.control.rooms.participant import Participant, Role
from relayroom.control.rooms.room import Room
from relayroom.control.signaling.ice_servers import IceServers
from relayroom.control.whip.protocol import (
    WhipError,
    from_room_error,
    link_header,
    parse_room,
    parse_trickle,
    unauthorized,
)
from relayroom.media import sdp
from relayroom.media.types import InvalidStateError, PlayResult, TrackSource, UnsupportedError

log = logging.getLogger(__name__)

Protocol_ = Literal["whip", "whep"]
# Keyframe requests after a viewer's answer: the first picture should not wait for the publisher's GOP.
_VIEWER_KEYFRAME_DELAYS_S = (0.3, 1.0, 2.5)


class PlayBackend(Protocol):
    """The part of MediaService a WHEP viewer needs."""

    async def play(
        self,
        router_id: str,
        participant_id: str,
        producer_ids: Sequence[str],
        offer_sdp: str,
        *,
        audience: bool = False,
    ) -> PlayResult: ...
    async def request_keyframe(self, router_id: str, producer_id: str) -> None: ...


@dataclass(frozen=True)
class EntryOptions:
    """What the URL's query adds to the bearer UserSig (the same fields as an SDK's enterRoom)."""

    scene: str = "rtc"
    private_map_key: str | None = None
    consent_token: str | None = None


@dataclass
class Session:
    resource_id: str
    protocol: Protocol_
    participant: Participant
    sdkappid: int
    user_id: str
    token_digest: bytes
    etag: str
    ice_ufrag: str
    watched_user: str | None = None  # WHEP: whose tracks are played
    ended: bool = False


@dataclass(frozen=True)
class Created:
    resource_id: str
    location: str
    answer_sdp: str
    etag: str
    link: str | None


@dataclass
class WhipParams:
    rooms: RoomManager
    media: PlayBackend | None
    ice_servers: IceServers
    directory: AppDirectory
    wall_clock: Callable[[], float] = time.time


class _Sink:
    """The session's EventSink: it only listens for the session's end (called under the room lock, so
    the work is left to a task)."""

    def __init__(self, service: WhipService) -> None:
        self._service = service
        self.session: Session | None = None

    def send_event(self, event: str, data: dict[str, Any]) -> None:
        s = self.session
        if s is None or s.ended:
            return
        if event == "kicked-out":
            self._service.forget(s, f"kicked out ({data.get('reason')})")
        elif event == "reconnect":
            self._service.end_soon(s, f"media lost ({data.get('reason')})")
        elif (
            event == "remote-user-exit"
            and s.watched_user is not None
            and data.get("userId") == s.watched_user
        ):
            self._service.end_soon(s, "the played user left")


class WhipService:
    def __init__(self, params: WhipParams) -> None:
        self._p = params
        self.rooms = params.rooms
        self.sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ WHIP

    async def publish(self, room: str, token: str, offer_sdp: str, opts: EntryOptions) -> Created:
        sdkappid, user_id = _identity(token)
        ref = parse_room(sdkappid, room)
        try:
            offer = sdp.parse_offer(offer_sdp)
        except ValueError as exc:
            raise WhipError(400, "invalid_sdp", f"the offer is not usable SDP: {exc}") from None
        tracks = _whip_tracks(offer)
        sink = _Sink(self)
        p = await self._enter(ref.room_id, ref.str_room_id, sdkappid, user_id, token, "anchor", opts, sink)
        try:
            result = await self.rooms.publish(p, offer_sdp, tracks)
        except RoomError as exc:
            await self._leave(p)
            err = from_room_error(exc)
            if err.status_code == 400:
                err.code = "offer_refused"
            raise err from None
        except BaseException:
            await self._leave(p)
            raise
        if not p.publications:
            await self._leave(p)
            raise WhipError(422, "unsupported_codec", "no track of the offer could be published")
        return self._created(
            "whip", p, sink, sdkappid, user_id, token, offer.ice_ufrag, result.answer_sdp, None
        )

    # ------------------------------------------------------------------ WHEP

    async def play(
        self, room: str, target: str, token: str, offer_sdp: str, opts: EntryOptions, stream: TrackSource
    ) -> Created:
        sdkappid, user_id = _identity(token)
        ref = parse_room(sdkappid, room)
        if target == user_id:
            raise WhipError(400, "invalid_request", "a viewer's UserId must differ from the played user's")
        if self._p.media is None:
            raise WhipError(503, "unavailable", "media is not available on this node")
        try:
            offer = sdp.parse_viewer_offer(offer_sdp)
        except ValueError as exc:
            raise WhipError(400, "invalid_sdp", f"the offer is not usable SDP: {exc}") from None
        if not any(m.receiving and m.kind in ("audio", "video") for m in offer.media):
            raise WhipError(400, "invalid_sdp", "the offer has no audio or video m-line that receives")
        # Nothing to play in a room that does not exist: answered without creating it (once the
        # UserSig is known good, so that the answer tells strangers nothing).
        await self._verify(token, sdkappid, user_id)
        existing = self.rooms.get_room(ref.key)
        if existing is None or target not in existing.participants:
            raise WhipError(
                404,
                "not_publishing",
                f"user {target[:64]} is not in this room",
                details={"userId": target[:64]},
            )
        sink = _Sink(self)
        p = await self._enter(ref.room_id, ref.str_room_id, sdkappid, user_id, token, "audience", opts, sink)
        try:
            room_obj, producer_ids = self._playable(p, target, stream)
            async with room_obj.lock:
                if p.closed:
                    raise WhipError(
                        409, "session_ended", "the viewer was removed from the room while joining"
                    )
                audience = p.role is Role.AUDIENCE  # spread over workers, like SDK audience members
                result = await self._p.media.play(
                    room_obj.router_id, p.participant_id, producer_ids, offer_sdp, audience=audience
                )
                # What the member receives, as for SDK subscribers: usage metering and the keyframe
                # requests when its transport connects read it.
                p.subscribed = set(result.producer_ids)
        except (ValueError, TypeError) as exc:
            await self._leave(p)
            raise WhipError(400, "invalid_sdp", f"the offer is not usable: {exc}") from None
        except UnsupportedError as exc:
            await self._leave(p)
            raise WhipError(422, "unsupported_codec", str(exc)) from None
        except InvalidStateError:
            await self._leave(p)
            raise WhipError(503, "unavailable", "the room's media is not available") from None
        except BaseException:
            await self._leave(p)
            raise
        created = self._created(
            "whep", p, sink, sdkappid, user_id, token, offer.ice_ufrag, result.answer_sdp, target
        )
        self._spawn(self._keyframes(room_obj.router_id, room_obj, result.producer_ids), "whep-keyframes")
        return created

    def _playable(self, p: Participant, target: str, stream: TrackSource) -> tuple[Room, list[str]]:
        room = self.rooms.get_room(p.room_key)
        if room is None:
            raise WhipError(409, "session_ended", "the room closed while joining")
        other = room.participants.get(target)
        pubs = [pub for pub in (other.publications.values() if other else ()) if pub.source == stream]
        if other is None or not pubs:
            raise WhipError(
                404,
                "not_publishing",
                f"user {target[:64]} publishes no {stream} stream in this room",
                details={"userId": target[:64], "stream": stream},
            )
        if p.permission_key_enforced:
            pubs = [pub for pub in pubs if p.privileges & RECV_PRIVILEGE[(pub.kind, pub.source)][0]]
            if not pubs:
                raise WhipError(
                    403, "privatemapkey_refused", "the privateMapKey allows receiving none of these tracks"
                )
        # audio first: a viewer offer's first m-line is usually audio
        pubs.sort(key=lambda pub: pub.kind != "audio")
        return room, [pub.producer_id for pub in pubs]

    async def _keyframes(self, router_id: str, room: Room, producer_ids: list[str]) -> None:
        assert self._p.media is not None
        video = [
            pub.producer_id
            for o in room.participants.values()
            for pub in o.publications.values()
            if pub.kind == "video" and pub.producer_id in producer_ids
        ]
        for delay in _VIEWER_KEYFRAME_DELAYS_S:
            await asyncio.sleep(delay)
            for producer_id in video:
                with contextlib.suppress(Exception):
                    await self._p.media.request_keyframe(router_id, producer_id)

    # ------------------------------------------------------------------ resources

    async def delete(self, resource_id: str, protocol: Protocol_, token: str) -> None:
        s = await self._authorized(resource_id, protocol, token)
        s.ended = True
        self.sessions.pop(s.resource_id, None)
        await self._leave(s.participant)
        log.info(
            "whip session deleted", extra={"protocol": protocol, "participant": s.participant.participant_id}
        )

    async def patch(
        self, resource_id: str, protocol: Protocol_, token: str, if_match: str | None, fragment: str
    ) -> None:
        """RFC 9725 §4.3: trickle candidates are accepted and ignored (we are ICE-lite: the client's
        checks tell us its addresses); an ICE restart is refused (POST a new session instead)."""
        s = await self._authorized(resource_id, protocol, token)
        if if_match is not None and if_match.strip() not in ("*", s.etag):
            raise WhipError(412, "etag_mismatch", "If-Match does not name this session's current ETag")
        frag = parse_trickle(fragment)
        if frag.ice_ufrag is not None and frag.ice_ufrag != s.ice_ufrag:
            raise WhipError(
                422,
                "ice_restart_unsupported",
                "ICE restarts are not supported: DELETE and POST a new session",
            )

    async def _authorized(self, resource_id: str, protocol: Protocol_, token: str) -> Session:
        s = self.sessions.get(resource_id)
        if s is None or s.protocol != protocol or s.ended:
            raise WhipError(404, "not_found", f"no such {protocol.upper()} session")
        if hmac.compare_digest(_digest(token), s.token_digest):
            return s
        sdkappid, user_id = _identity(token)
        if (sdkappid, user_id) != (s.sdkappid, s.user_id):
            raise WhipError(403, "forbidden", "this session belongs to another user")
        await self._verify(token, sdkappid, user_id)  # a newer UserSig of the same user
        return s

    async def _verify(self, token: str, sdkappid: int, user_id: str) -> None:
        app = await self._p.directory.get_app(sdkappid)
        result = verify_usersig(
            token,
            sdkappid=sdkappid,
            userid=user_id,
            keys=app.secret_keys if app else (),
            now=int(self._p.wall_clock()),
        )
        if not result.ok:
            raise unauthorized(f"userSig verification failed: {result.message}")

    # ------------------------------------------------------------------ sessions

    async def _enter(
        self,
        room_id: int | None,
        str_room_id: str | None,
        sdkappid: int,
        user_id: str,
        token: str,
        role: str,
        opts: EntryOptions,
        sink: _Sink,
    ) -> Participant:
        params = EnterParams(
            sdkappid=sdkappid,
            user_id=user_id,
            user_sig=token,
            room_id=room_id,
            str_room_id=str_room_id,
            scene=opts.scene,
            role=role,
            private_map_key=opts.private_map_key,
            auto_receive_audio=False,
            auto_receive_video=False,
            consent_token=opts.consent_token,
        )

        def entered(p: Participant, _room: Room) -> None:
            p.held_by_media = True

        try:
            return await self.rooms.enter(params, sink, entered)
        except RoomError as exc:
            raise from_room_error(exc) from None

    def _created(
        self,
        protocol: Protocol_,
        p: Participant,
        sink: _Sink,
        sdkappid: int,
        user_id: str,
        token: str,
        ice_ufrag: str,
        answer: str,
        watched: str | None,
    ) -> Created:
        resource_id = secrets.token_urlsafe(18)
        etag = f'"{secrets.token_hex(8)}"'
        s = Session(resource_id, protocol, p, sdkappid, user_id, _digest(token), etag, ice_ufrag, watched)
        sink.session = s
        self.sessions[resource_id] = s
        log.info("whip session created", extra={"protocol": protocol, "participant": p.participant_id})
        return Created(
            resource_id,
            f"/{protocol}/sessions/{resource_id}",
            answer,
            etag,
            link_header(self._p.ice_servers.for_user(user_id)),
        )

    def forget(self, s: Session, why: str) -> None:
        s.ended = True
        self.sessions.pop(s.resource_id, None)
        log.info("whip session ended", extra={"participant": s.participant.participant_id, "reason": why})

    def end_soon(self, s: Session, why: str) -> None:
        self.forget(s, why)
        self._spawn(self._leave(s.participant), "whip-leave")

    async def _leave(self, p: Participant) -> None:
        try:
            await self.rooms.exit(p)
        except Exception:
            log.exception("leaving the room failed", extra={"participant": p.participant_id})

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _identity(token: str) -> tuple[int, str]:
    """The SDKAppID and UserID a UserSig names (decoded only: the room entry verifies it)."""
    try:
        decoded = decode_usersig(token)
    except (UserSigDecodeError, ValueError) as exc:
        raise unauthorized(f"the bearer token is not a UserSig: {exc}") from None
    if not 0 < decoded.sdkappid <= MAX_SDKAPPID:  # TRTC's SDKAppIDs are 32-bit; never a database overflow
        raise unauthorized("the UserSig names no valid SDKAppID")
    return decoded.sdkappid, decoded.identifier


def _whip_tracks(offer: sdp.ParsedOffer) -> list[DeclaredTrack]:
    """A WHIP offer is one audio and/or one video track, published as the user's main stream."""
    sending = [m for m in offer.media if m.sending and m.kind in ("audio", "video")]
    if not sending:
        raise WhipError(400, "invalid_sdp", "the offer sends no audio or video (WHIP m-lines are sendonly)")
    tracks: list[DeclaredTrack] = []
    offered: list[str] = []
    for m in sending:
        if m.kind in offered:
            raise WhipError(422, "too_many_tracks", f"a WHIP offer carries at most one {m.kind} track")
        if m.codec is not None:
            tracks.append(DeclaredTrack("audio" if m.kind == "audio" else "video", "main", m.mid))
        offered.append(m.kind)
    if not tracks:
        raise WhipError(
            422,
            "unsupported_codec",
            "no offered codec can be carried: audio must offer Opus, video VP8 or H.264 "
            "(packetization-mode=1)",
            details={"kinds": offered},
        )
    return tracks
