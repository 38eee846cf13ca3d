"""A node's start closes its own call records left open and those from before rows had a node; another
node's open records are left alone (they are live on that node)."""

from __future__ import annotations

from sqlalchemy import select

from relayroom.config import Settings
from relayroom.storage.models import CallRoom, CallUser
from tests.control.helpers import running


async def test_start_closes_only_this_nodes_open_rows(settings: Settings) -> None:
    mine = settings.model_copy(update={"node_id": "node-a"})
    async with running(mine) as rt:
        first = rt.first
        async with rt.services.ctx.db.write() as s:
            for node in ("node-a", "node-b", None):
                room = CallRoom(sdkappid=1, room_id=f"r-{node}", create_ts=1, destroy_ts=None, node_id=node)
                s.add(room)
                await s.flush()
                s.add(CallUser(call_id=room.id, sdkappid=1, user_id="u", join_ts=1, leave_ts=None))
    async with running(mine, first=first) as rt:  # node-a restarts
        async with rt.services.ctx.db.read() as s:
            rooms = {r.node_id: r for r in (await s.execute(select(CallRoom))).scalars()}
            users = {u.call_id: u for u in (await s.execute(select(CallUser))).scalars()}
    assert rooms["node-b"].destroy_ts is None and users[rooms["node-b"].id].leave_ts is None  # live elsewhere
    for node in ("node-a", None):  # its own previous life; a row from before rows had a node
        assert rooms[node].destroy_ts is not None and users[rooms[node].id].leave_ts is not None
