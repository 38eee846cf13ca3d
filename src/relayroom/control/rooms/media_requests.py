"""A member's media requests: publish, unpublish, mute, subscriptions, role switches, custom messages,
and the application's media block (TRTC SetUserBlocked)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from relayroom.control.rooms.core import RoomManagerCore, availability, best_effort
from relayroom.control.rooms.entry import RECV_PRIVILEGE, SEND_PRIVILEGE, require_privilege
from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.events import RoomEventType
from relayroom.control.rooms.ids import RoomKey
from relayroom.control.rooms.params import DeclaredTrack
from relayroom.control.rooms.participant import ExitReason, Participant, Publication, Role
from relayroom.control.rooms.room import Room, Scene
from relayroom.media.types import MediaKind, PublishResult, TrackSource, UnsupportedError


def _small_mids(tracks: Sequence[DeclaredTrack]) -> dict[str, str]:
    """Small stream m-line -> the main camera's m-line, from a publish request's declared tracks."""
    big = next(
        (t.mid for t in tracks if t.kind == "video" and t.source == "main" and not t.small and t.mid), None
    )
    if big is None:
        return {}
    return {t.mid: big for t in tracks if t.small and t.kind == "video" and t.mid and t.mid != big}


_CUSTOM_MAX_BYTES = 1024
_CUSTOM_MAX_PER_S = 30
_CUSTOM_MAX_BYTES_PER_S = 8192


class MediaRequests(RoomManagerCore):
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
                with best_effort(self._log, "unpublishing a refused track", room=room.key):
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
            event, data = availability(p.user_id, pub, not muted)
            data["reason"] = "mute"
            other.send(event, data)
        etype = RoomEventType.STREAM_MUTED if muted else RoomEventType.STREAM_UNMUTED
        self._emit(etype, room, p.user_id, kind=pub.kind, stream_type=pub.source)
        if not muted and pub.kind == "video":
            # Subscribers need a keyframe to show the resumed picture at once.
            with best_effort(self._log, "keyframe request after unmute", room=room.key):
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
                    with best_effort(self._log, "unpublishing at a switch to audience", room=room.key):
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
