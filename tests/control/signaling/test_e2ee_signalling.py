"""The E2EE flag over the /signal WebSocket: the enter response says whether the room is encrypted,
and a member that does not match gets the documented code. No key ever travels to the server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relayroom.control.rooms.errors import ErrorCode
from tests.control.rooms.fakes import make_manager
from tests.control.signaling.server import RunningServer, serve
from tests.control.signaling.test_endpoints import Wire, connect, error_of

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    m, _, _ = make_manager()
    async with serve(m) as running:
        yield running


async def test_the_enter_response_tells_every_member_whether_the_room_is_encrypted(
    server: RunningServer,
) -> None:
    async with connect(server.url) as a, connect(server.url) as b, connect(server.url) as c:
        first = await Wire(a).enter("alice", e2ee=True)
        assert first["ok"] is True and first["data"]["e2ee"] is True
        refused = await Wire(b).enter("bob")
        assert error_of(refused) == (ErrorCode.E2EE_REQUIRED, 0)
        assert "end-to-end encrypted" in refused["error"]["message"]
        second = await Wire(c).enter("carol", e2ee=True)
        assert second["data"]["e2ee"] is True
        clear = await Wire(b).enter("bob", roomId=99)
        assert clear["data"]["e2ee"] is False


async def test_e2ee_must_be_a_boolean(server: RunningServer) -> None:
    async with connect(server.url) as ws:
        r = await Wire(ws).enter("alice", e2ee={"key": "secret"})
        code, _extra = error_of(r)
        assert code == 5000 and "e2ee" in r["error"]["message"] and "secret" not in r["error"]["message"]
