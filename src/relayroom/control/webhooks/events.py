"""RoomEvent (what the room manager reports) -> TRTC callback events (groups 1 and 2).

Rules from spec/trtc-compat.md §3: 101 carries the creator's UserId (the first member, so it is held
until that member's enter arrives), 102 has no UserId, exit sends only 104 (stream stops that are part
of an exit or a room close are dropped), 202/204/206 carry ``Reason: 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from relayroom.control.rooms.manager import RoomEvent, RoomEventType

GROUP_ROOM = 1
GROUP_MEDIA = 2

CREATE_ROOM, DISMISS_ROOM, ENTER_ROOM, EXIT_ROOM, CHANGE_ROLE = 101, 102, 103, 104, 105
START_VIDEO, STOP_VIDEO, START_AUDIO, STOP_AUDIO, START_ASSIT, STOP_ASSIT = 201, 202, 203, 204, 205, 206

ROLE = {"anchor": 20, "audience": 21}
TERMINAL_OTHER = 100  # the room manager does not know the client's OS yet
USER_TYPE_WEBRTC = 1  # every RelayRoom client speaks WebRTC
ENTER_NORMAL = 1
# ExitReason (0 normal, 1 timeout, 2 kick, 3 role change) -> TRTC exit Reason (1, 2, 3, ...)
EXIT_REASON = {0: 1, 1: 2, 2: 3}
EXIT_TIMEOUT = 2


@dataclass(frozen=True)
class CallbackEvent:
    sdkappid: int
    group: int
    type: int
    user_id: str | None
    info: dict[str, Any]


def _base(ev: RoomEvent) -> dict[str, Any]:
    return {"RoomId": ev.room_id, "EventTs": int(ev.at), "EventMsTs": int(ev.at * 1000)}


def _stream_type(ev: RoomEvent, on: bool) -> int | None:
    if ev.kind == "audio":
        return (START_AUDIO if on else STOP_AUDIO) if ev.stream_type in (None, "main") else None
    if ev.kind == "video":
        if ev.stream_type == "sub":
            return START_ASSIT if on else STOP_ASSIT
        return START_VIDEO if on else STOP_VIDEO
    return None


def _part_of_exit(ev: RoomEvent, rest: Sequence[RoomEvent]) -> bool:
    """A stream stop emitted as part of the member's exit: the room manager emits a leaving member's
    stream stops and then its exit back to back (one synchronous burst, nothing in between)."""
    for r in rest:
        same = r.room_key == ev.room_key and r.user_id == ev.user_id
        if same and r.type is RoomEventType.STREAM_STOPPED:
            continue
        return same and r.type is RoomEventType.USER_EXITED
    return False


@dataclass
class Translator:
    """Stateful across batches: held room creations and which streams are on."""

    pending_create: dict[str, RoomEvent] = field(default_factory=dict)
    streams_on: set[tuple[str, str, str, str]] = field(default_factory=set)

    def translate(self, batch: Sequence[RoomEvent]) -> list[CallbackEvent]:
        out: list[CallbackEvent] = []
        for i, ev in enumerate(batch):
            out.extend(self._one(ev, batch[i + 1 :]))
        return out

    def _one(self, ev: RoomEvent, rest: Sequence[RoomEvent]) -> list[CallbackEvent]:
        t = ev.type

        def mk(group: int, etype: int, user: str | None, info: dict[str, Any]) -> CallbackEvent:
            return CallbackEvent(ev.sdkappid, group, etype, user, info)

        if t is RoomEventType.ROOM_CREATED:
            self.pending_create[ev.room_key] = ev
            return []
        out: list[CallbackEvent] = []
        created = self.pending_create.pop(ev.room_key, None)
        if created is not None:
            info = _base(created)
            if t is RoomEventType.USER_ENTERED and ev.user_id:
                info["UserId"] = ev.user_id
            out.append(mk(GROUP_ROOM, CREATE_ROOM, ev.user_id, info))
        if t is RoomEventType.ROOM_CLOSED:
            self.streams_on = {s for s in self.streams_on if s[0] != ev.room_key}
            info = _base(ev)
            info["RoomId"] = str(ev.room_id)  # the doc's example shows a string here
            out.append(mk(GROUP_ROOM, DISMISS_ROOM, None, info))
        elif t is RoomEventType.USER_ENTERED:
            info = _base(ev) | {
                "UserId": ev.user_id,
                "Role": ROLE.get(ev.role or "anchor", 20),
                "TerminalType": TERMINAL_OTHER,
                "UserType": USER_TYPE_WEBRTC,
                "Reason": ENTER_NORMAL,
            }
            out.append(mk(GROUP_ROOM, ENTER_ROOM, ev.user_id, info))
        elif t is RoomEventType.USER_EXITED:
            self.streams_on = {s for s in self.streams_on if s[:2] != (ev.room_key, ev.user_id)}
            reason = EXIT_REASON.get(ev.reason, EXIT_TIMEOUT) if isinstance(ev.reason, int) else EXIT_TIMEOUT
            info = _base(ev) | {
                "UserId": ev.user_id,
                "Role": ROLE.get(ev.role or "anchor", 20),
                "Reason": reason,
            }
            out.append(mk(GROUP_ROOM, EXIT_ROOM, ev.user_id, info))
        elif t is RoomEventType.ROLE_CHANGED:
            info = _base(ev) | {"UserId": ev.user_id, "Role": ROLE.get(ev.role or "anchor", 20)}
            out.append(mk(GROUP_ROOM, CHANGE_ROLE, ev.user_id, info))
        elif t in (RoomEventType.STREAM_STARTED, RoomEventType.STREAM_UNMUTED):
            etype = _stream_type(ev, True)
            key = (ev.room_key, ev.user_id or "", ev.kind or "", ev.stream_type or "main")
            if etype is not None and key not in self.streams_on:
                self.streams_on.add(key)
                out.append(mk(GROUP_MEDIA, etype, ev.user_id, _base(ev) | {"UserId": ev.user_id}))
        elif t in (RoomEventType.STREAM_STOPPED, RoomEventType.STREAM_MUTED):
            etype = _stream_type(ev, False)
            key = (ev.room_key, ev.user_id or "", ev.kind or "", ev.stream_type or "main")
            leaving = _part_of_exit(ev, rest)
            if etype is not None and key in self.streams_on:
                self.streams_on.discard(key)
                if not leaving:
                    info = _base(ev) | {"UserId": ev.user_id, "Reason": 0}
                    out.append(mk(GROUP_MEDIA, etype, ev.user_id, info))
        return out
