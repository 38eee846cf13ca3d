"""The end-to-end encryption flag of a room: the first member decides, the others must match."""

from __future__ import annotations

import pytest

from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.manager import RoomManager
from relayroom.control.rooms.participant import Participant
from tests.control.rooms.fakes import SDKAPPID, RecordingSink, enter_params, make_manager

pytestmark = pytest.mark.timeout(30)


async def enter(m: RoomManager, user: str, e2ee: bool) -> Participant:
    return await m.enter(enter_params(user, e2ee=e2ee), RecordingSink())


async def test_the_first_member_makes_the_room_encrypted_and_members_without_e2ee_are_refused() -> None:
    m, _, _ = make_manager()
    await enter(m, "alice", True)
    with pytest.raises(RoomError) as refused:
        await enter(m, "bob", False)
    assert refused.value.code == ErrorCode.E2EE_REQUIRED and int(refused.value.code) == -100210
    assert "end-to-end encrypted" in refused.value.message
    await enter(m, "carol", True)
    room = m.list_rooms(SDKAPPID)[0]
    assert room["members"] == 2
    info = m.room_info(room["roomKey"])
    assert info is not None and info["e2ee"] is True  # what an operator's room view shows


async def test_a_clear_room_refuses_a_member_that_declares_e2ee() -> None:
    m, _, _ = make_manager()
    await enter(m, "alice", False)
    with pytest.raises(RoomError) as refused:
        await enter(m, "bob", True)
    assert refused.value.code == ErrorCode.ROOM_NOT_ENCRYPTED and int(refused.value.code) == -100211
    await enter(m, "carol", False)


async def test_once_the_room_is_empty_the_next_first_member_decides_again() -> None:
    m, _, _ = make_manager()
    alice = await enter(m, "alice", True)
    await m.exit(alice)
    bob = await enter(m, "bob", False)
    await enter(m, "carol", False)
    await m.exit(bob)
    with pytest.raises(RoomError):
        await enter(m, "dave", True)  # carol is still in the clear room
