"""The rooms' cluster seams (control/rooms/registry.py): the in-process implementations honour the
protocols' contracts, and the room manager keeps them true (a room is claimed while it exists, a
member is present in one room at a time)."""

from __future__ import annotations

import pytest

from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.registry import LocalPresence, LocalRoomRegistry, Presence, RoomRegistry
from tests.control.rooms.fakes import SDKAPPID, RecordingSink, enter_params, make_manager

pytestmark = pytest.mark.timeout(30)


def registries() -> list[RoomRegistry]:
    return [LocalRoomRegistry()]


def presences() -> list[Presence]:
    return [LocalPresence()]


@pytest.mark.parametrize("registry", registries(), ids=lambda impl: type(impl).__name__)
async def test_a_room_has_one_host_until_it_releases_it(registry: RoomRegistry) -> None:
    assert await registry.host("7:n:1") is None
    assert await registry.claim("7:n:1", "a") == "a"
    assert await registry.claim("7:n:1", "b") == "a"  # taken: the host is told, not replaced
    await registry.release("7:n:1", "b")  # not b's to release
    assert await registry.host("7:n:1") == "a"
    assert await registry.claim("7:s:x", "b") == "b"
    assert await registry.claim("8:n:1", "b") == "b"
    assert sorted(await registry.rooms(7)) == ["7:n:1", "7:s:x"]
    await registry.release("7:n:1", "a")
    assert await registry.host("7:n:1") is None
    assert await registry.claim("7:n:1", "b") == "b"


@pytest.mark.parametrize("presence", presences(), ids=lambda impl: type(impl).__name__)
async def test_a_user_is_present_in_one_room_at_a_time(presence: Presence) -> None:
    assert await presence.join(7, "alice", "7:n:1") is None
    assert await presence.join(7, "alice", "7:n:1") is None  # again in the same room: nothing before
    assert await presence.join(8, "alice", "8:n:1") is None  # another application: another user
    assert await presence.join(7, "bob", "7:n:1") is None
    assert await presence.members("7:n:1") == {"alice", "bob"}
    assert await presence.join(7, "alice", "7:n:2") == "7:n:1"  # moved: told where from
    assert await presence.where(7, "alice") == "7:n:2"
    assert await presence.members("7:n:1") == {"bob"}
    # a late exit from the old room does not undo the newer membership
    assert await presence.leave(7, "alice", "7:n:1") is False
    assert await presence.where(7, "alice") == "7:n:2"
    assert await presence.leave(7, "alice", "7:n:2") is True
    assert await presence.where(7, "alice") is None
    assert await presence.members("7:n:2") == set()
    assert await presence.where(8, "alice") == "8:n:1"


async def test_the_manager_claims_rooms_and_records_presence_while_they_last() -> None:
    registry, presence = LocalRoomRegistry(), LocalPresence()
    m, _, _ = make_manager(shared=(registry, presence), node_id="node-a")
    a = await m.enter(enter_params("alice"), RecordingSink())
    b = await m.enter(enter_params("bob"), RecordingSink())
    [key] = await registry.rooms(SDKAPPID)
    assert await registry.host(key) == "node-a"
    assert await presence.members(key) == {"alice", "bob"}
    # alice enters another room: the presence moves her, the first room keeps bob
    a2 = await m.enter(enter_params("alice", room_id=99), RecordingSink())
    assert a.closed and await presence.where(SDKAPPID, "alice") == a2.room_key
    assert await presence.members(key) == {"bob"}
    await m.exit(b)
    assert await registry.host(key) is None  # the room closed: released
    assert await presence.members(key) == set()
    await m.close()
    assert await registry.rooms(SDKAPPID) == []
    assert await presence.where(SDKAPPID, "alice") is None


async def test_a_room_hosted_by_another_node_is_not_created_here() -> None:
    registry, presence = LocalRoomRegistry(), LocalPresence()
    other, _, _ = make_manager(shared=(registry, presence), node_id="node-b")
    await other.enter(enter_params("carol"), RecordingSink())
    here, media, _ = make_manager(shared=(registry, presence), node_id="node-a")
    with pytest.raises(RoomError) as err:
        await here.enter(enter_params("dave"), RecordingSink())
    assert err.value.code == ErrorCode.OPERATION_FAILED
    assert media.called("create_router") == []
    await other.close()
    await here.enter(enter_params("dave"), RecordingSink())  # released by node-b: created here
    await here.close()
