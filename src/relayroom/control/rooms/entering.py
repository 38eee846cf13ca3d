"""Entering, leaving and resuming: TRTC's entry rules (one room per user, capacity, roles, E2EE),
the room snapshot a new member gets, rooms created on first entry."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

from relayroom.auth.privatemapkey import Privilege
from relayroom.control.rooms.core import RoomManagerCore, availability
from relayroom.control.rooms.entry import EntryGrant, PrivilegeNeed, require_privilege
from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.events import RoomEventType
from relayroom.control.rooms.ids import (
    ParticipantId,
    RoomKey,
    RoomRef,
    validate_room,
    validate_sdkappid,
    validate_user_id,
)
from relayroom.control.rooms.params import EnterParams
from relayroom.control.rooms.participant import EventSink, ExitReason, KickReason, Participant, Role
from relayroom.control.rooms.room import Room, Scene


class Entering(RoomManagerCore):
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
        if self._placement is not None and not self._runs(ref.key):
            # A cluster: the room runs (or starts) on another node: the client is redirected there.
            await self._placement.check(ref.key, settled=req.redirects > 0)

        # TRTC: one room per user at a time; the same UserId entering again kicks the older session
        # (here, or in a cluster on the node running the room the user is in).
        present = await self._presence.where(sdkappid, user_id)
        if present is not None and self._placement is not None and not self._runs(RoomKey(present)):
            await self._placement.evict(sdkappid, user_id, present)
        for old in self._sessions_present(present, sdkappid, user_id):
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
                    p.send(*availability(other.user_id, pub, True))

    def _sessions_present(self, room_key: str | None, sdkappid: int, user_id: str) -> list[Participant]:
        """The user's sessions on this node: in ``room_key`` (where the presence has the user) and any
        other this node holds."""
        room = self._rooms.get(RoomKey(room_key)) if room_key is not None else None
        found = room.participants.get(user_id) if room is not None else None
        local = self._sessions_of(sdkappid, user_id)
        return local if found is None or found in local else [*local, found]

    async def evict_session(self, sdkappid: int, user_id: str, room_key: str) -> bool:
        """The user entered a room on another node of the cluster: their session in ``room_key`` here
        is kicked out (TRTC's one room per user). False: no such session here."""
        room = self._rooms.get(RoomKey(room_key))
        p = room.participants.get(user_id) if room is not None and room.ref.sdkappid == sdkappid else None
        if room is None or p is None:
            return False
        async with room.lock:
            if p.closed:
                return False
            await self._remove(room, p, ExitReason.KICK, kick=KickReason.KICK)
        return True

    def _runs(self, key: RoomKey) -> bool:
        """This node runs the room now (an entry to it needs no placement)."""
        room = self._rooms.get(key)
        return room is not None and not room.closed

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
                if self._placement is not None:  # another node claimed it first: go there
                    raise await self._placement.hosted_elsewhere(host)
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
