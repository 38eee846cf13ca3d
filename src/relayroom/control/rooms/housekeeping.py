"""The manager's background work: media-layer events (speakers, network quality, lost transports and
workers), the sweep of idle members and rooms whose grace period ended, start and drain."""

from __future__ import annotations

import asyncio
from typing import Any

from relayroom.control.rooms.core import RoomManagerCore, best_effort
from relayroom.control.rooms.events import RoomEventType
from relayroom.control.rooms.participant import ExitReason, KickReason
from relayroom.control.rooms.room import Room
from relayroom.media.types import MediaEvent, MediaEventType


class Housekeeping(RoomManagerCore):
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
            with best_effort(self._log, "closing a room at drain", room=room.key):
                await self._close_room(room, KickReason.ROOM_DISBAND)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task, result in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
            if isinstance(result, Exception):  # cancelled ones end with CancelledError, not an Exception
                self._log.error("task %s failed", task.get_name(), exc_info=result)
        self._tasks.clear()

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
