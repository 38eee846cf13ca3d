"""Call history: room lives, user stays and user events, written from room events for the cloud API's
monitoring actions (DescribeRoomInfo, DescribeUserInfo, DescribeUserEvent, DescribeScaleInfo, ...).

Like the webhook outbox, the observer callback only enqueues; a writer task persists in batches.
Rooms do not survive a restart, so rows left open by this node's previous process are closed on start;
rows of other nodes sharing the database are theirs (a dead node's are closed by whoever notices it is
gone, with :meth:`CallHistory.close_node_rows`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.cluster.identity import resolve_node_id
from relayroom.control.context import ControlContext
from relayroom.control.event_batches import BatchWriter
from relayroom.control.rooms.client_info import ClientInfo, client_ip
from relayroom.control.rooms.manager import RoomEvent, RoomEventType
from relayroom.storage.models import CallRoom, CallUser, CallUserEvent

log = logging.getLogger(__name__)

# DescribeUserEvent EventIds: RelayRoom uses the callback event types (TRTC's own table is not public).
EVENT_ENTER, EVENT_EXIT, EVENT_ROLE = 103, 104, 105
EVENT_STREAM = {
    ("video", "main", True): 201,
    ("video", "main", False): 202,
    ("audio", "main", True): 203,
    ("audio", "main", False): 204,
    ("video", "sub", True): 205,
    ("video", "sub", False): 206,
}
TYPE_NON_VIDEO, TYPE_BIG = 0, 2
EXIT_CODES = {0: 1, 1: 2, 2: 3}  # as in the exit callback: 1 normal, 2 timeout, 3 removed


@dataclass
class _OpenCall:
    call_id: int
    users: dict[str, int]  # user_id -> CallUser.id of the current stay
    has_creator: bool = False


class CallHistory:
    def __init__(self, ctx: ControlContext, node_id: str | None = None) -> None:
        self.ctx = ctx
        self._node_id = node_id
        self._batches = BatchWriter[RoomEvent](self._write_batch, "call history")
        self._open: dict[str, _OpenCall] = {}
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def call_id_for(self, room_key: str) -> int | None:
        c = self._open.get(room_key)
        return c.call_id if c else None

    def on_room_event(self, event: RoomEvent) -> None:
        if not self.closed:
            self._batches.put(event)

    @property
    def node_id(self) -> str:
        if self._node_id is None:
            self._node_id = resolve_node_id(self.ctx.settings)
        return self._node_id

    async def close_node_rows(self, node_id: str | None, ts: int | None = None) -> int:
        """Close the open room lives (and their stays) of ``node_id``, whose rooms are gone; ``None``:
        rows written before rows had a node. Returns how many room lives were closed."""
        ts = int(self.ctx.clock.time()) if ts is None else ts
        owner = CallRoom.node_id.is_(None) if node_id is None else CallRoom.node_id == node_id
        async with self.ctx.db.write() as s:
            ids = list(
                (await s.execute(select(CallRoom.id).where(CallRoom.destroy_ts.is_(None), owner))).scalars()
            )
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                await s.execute(
                    update(CallUser)
                    .where(CallUser.leave_ts.is_(None), CallUser.call_id.in_(chunk))
                    .values(leave_ts=ts)
                )
                await s.execute(update(CallRoom).where(CallRoom.id.in_(chunk)).values(destroy_ts=ts))
        return len(ids)

    async def start(self) -> None:
        """Close what this node's previous process left open (and rows from before rows had a node);
        never another live node's rows."""
        now = int(self.ctx.clock.time())
        await self.close_node_rows(self.node_id, now)
        await self.close_node_rows(None, now)
        self._task = asyncio.get_running_loop().create_task(self._batches.run(), name="call-history")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def drain(self) -> None:
        """Persist everything queued up to now (the writer task, queries that must see it, shutdown)."""
        await self._batches.drain()

    async def _write_batch(self, batch: list[RoomEvent]) -> None:
        # A failed transaction leaves the open calls as they were: the batch is applied again later.
        before = copy.deepcopy(self._open)
        try:
            async with self.ctx.db.write() as s:
                for ev in batch:
                    await self._apply(s, ev)
        except BaseException:
            self._open = before
            raise

    async def _apply(self, s: AsyncSession, ev: RoomEvent) -> None:
        ts = int(ev.at)
        t = ev.type
        call = self._open.get(ev.room_key)
        if t is RoomEventType.ROOM_CREATED or (call is None and t is not RoomEventType.ROOM_CLOSED):
            if call is not None:  # a new life under the same key; close the old one
                await self._close_call(s, call, ts)
            row = CallRoom(
                sdkappid=ev.sdkappid,
                room_id=str(ev.room_id),
                str_room=isinstance(ev.room_id, str),
                create_ts=ts,
                destroy_ts=None,
                creator="",
                node_id=self.node_id,
            )
            s.add(row)
            await s.flush()
            call = _OpenCall(row.id, {})
            self._open[ev.room_key] = call
            if t is RoomEventType.ROOM_CREATED:
                return
        if call is None:
            return
        if t is RoomEventType.ROOM_CLOSED:
            await self._close_call(s, call, ts)
            self._open.pop(ev.room_key, None)
            return
        user = ev.user_id or ""
        if t is RoomEventType.USER_ENTERED:
            if not call.has_creator:
                call.has_creator = True
                await s.execute(update(CallRoom).where(CallRoom.id == call.call_id).values(creator=user))
            client = ev.client or ClientInfo()
            full_ip = self.ctx.settings.privacy.store_full_client_ip
            stay = CallUser(
                call_id=call.call_id,
                sdkappid=ev.sdkappid,
                user_id=user,
                role=ev.role or "anchor",
                join_ts=ts,
                leave_ts=None,
                device_type=client.device_type,
                sdk_version=client.sdk_version,
                client_ip=client_ip(client.client_ip, full=full_ip),  # /24, /48 unless kept in full
            )
            s.add(stay)
            await s.flush()
            call.users[user] = stay.id
            self._event(s, call, ev, EVENT_ENTER, TYPE_NON_VIDEO, 1, 0)
        elif t is RoomEventType.USER_EXITED:
            stay_id = call.users.pop(user, None)
            if stay_id is not None:
                await s.execute(update(CallUser).where(CallUser.id == stay_id).values(leave_ts=ts))
            code = EXIT_CODES.get(ev.reason, 2) if isinstance(ev.reason, int) else 2
            self._event(s, call, ev, EVENT_EXIT, TYPE_NON_VIDEO, code, 0)
        elif t is RoomEventType.ROLE_CHANGED:
            self._event(s, call, ev, EVENT_ROLE, TYPE_NON_VIDEO, 20 if ev.role == "anchor" else 21, 0)
        elif t in (
            RoomEventType.STREAM_STARTED,
            RoomEventType.STREAM_STOPPED,
            RoomEventType.STREAM_MUTED,
            RoomEventType.STREAM_UNMUTED,
        ):
            on = t in (RoomEventType.STREAM_STARTED, RoomEventType.STREAM_UNMUTED)
            eid = EVENT_STREAM.get((ev.kind or "", ev.stream_type or "main", on))
            if eid is not None:
                etype = TYPE_BIG if ev.kind == "video" and ev.stream_type != "sub" else TYPE_NON_VIDEO
                muted = int(t in (RoomEventType.STREAM_MUTED, RoomEventType.STREAM_UNMUTED))
                self._event(s, call, ev, eid, etype, muted, 0)

    def _event(
        self, s: AsyncSession, call: _OpenCall, ev: RoomEvent, event_id: int, etype: int, p1: int, p2: int
    ) -> None:
        s.add(
            CallUserEvent(
                call_id=call.call_id,
                sdkappid=ev.sdkappid,
                user_id=ev.user_id or "",
                ts_ms=int(ev.at * 1000),
                event_id=event_id,
                type=etype,
                param_one=p1,
                param_two=p2,
            )
        )

    async def _close_call(self, s: AsyncSession, call: _OpenCall, ts: int) -> None:
        for stay_id in call.users.values():
            await s.execute(update(CallUser).where(CallUser.id == stay_id).values(leave_ts=ts))
        call.users.clear()
        await s.execute(update(CallRoom).where(CallRoom.id == call.call_id).values(destroy_ts=ts))
