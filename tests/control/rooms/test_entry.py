"""The entry check with real UserSigs and PrivateMapKeys from relayroom.auth."""

from __future__ import annotations

import time

import pytest

from relayroom.auth.privatemapkey import Privilege, gen_privatemapkey
from relayroom.control.rooms.entry import AppEntryInfo, ConsentDecision
from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.manager import DeclaredTrack, RoomLimits, RoomManager, RoomManagerParams
from tests.control.rooms.fakes import (
    KEY,
    OLD_KEY,
    REGION,
    SDKAPPID,
    FakeClock,
    FakeDirectory,
    FakeMedia,
    RecordingSink,
    enter_params,
    usersig,
)

pytestmark = pytest.mark.timeout(30)


def manager(app: AppEntryInfo | None = None, consent: object = None, region: str = REGION) -> RoomManager:
    directory = FakeDirectory(app) if app else FakeDirectory()
    return RoomManager(
        RoomManagerParams(
            media=FakeMedia(),
            directory=directory,
            node_region=region,
            consent=consent,  # type: ignore[arg-type]
            limits=RoomLimits(),
            clock=FakeClock(),
        )
    )


def pmk_app() -> AppEntryInfo:
    return AppEntryInfo(SDKAPPID, "enabled", REGION, (KEY,), permission_key_enabled=True)


def pmk(user: str, privilege: int, room_id: int | None = 1234, str_room_id: str | None = None) -> str:
    return gen_privatemapkey(
        SDKAPPID, KEY, user, 3600, room_id=room_id, str_room_id=str_room_id, privilege=privilege
    )


async def refused(m: RoomManager, **kw: object) -> RoomError:
    user = str(kw.pop("user", "alice"))
    with pytest.raises(RoomError) as exc:
        await m.enter(enter_params(user, **kw), RecordingSink())  # type: ignore[arg-type]
    return exc.value


async def test_valid_usersig_enters_and_a_grace_period_key_is_still_accepted() -> None:
    m = manager()
    alice = await m.enter(enter_params("alice"), RecordingSink())
    bob = await m.enter(enter_params("bob", user_sig=usersig("bob", key=OLD_KEY)), RecordingSink())
    assert (alice.user_id, bob.user_id) == ("alice", "bob") and alice.room_key == bob.room_key
    room = m.get_room(alice.room_key)
    assert room is not None and sorted(p.user_id for p in room.participants.values()) == ["alice", "bob"]


async def test_bad_usersig_is_refused_with_minus_100018() -> None:
    err = await refused(manager(), user_sig=usersig("alice", key="c" * 64))
    assert err.code == ErrorCode.USERSIG_INVALID and int(err.code) == -100018
    assert "userSig verification failed" in err.message
    err = await refused(manager(), user_sig="garbage")
    assert err.code == ErrorCode.USERSIG_INVALID
    err = await refused(manager(), user_sig=usersig("mallory"))  # someone else's sig
    assert err.code == ErrorCode.USERSIG_INVALID


async def test_expired_usersig_is_refused() -> None:
    old = usersig("alice", expire=60, now=int(time.time()) - 120)
    err = await refused(manager(), user_sig=old)
    assert err.code == ErrorCode.USERSIG_INVALID and "expire" in err.message.lower()


@pytest.mark.parametrize("status", ["disabled", "terminated"])
async def test_disabled_or_terminated_app_is_refused_as_suspended(status: str) -> None:
    app = AppEntryInfo(SDKAPPID, status, REGION, (KEY,))  # type: ignore[arg-type]
    err = await refused(manager(app))
    assert err.code == ErrorCode.SERVICE_SUSPENDED and int(err.code) == -100013


async def test_app_of_another_region_is_refused() -> None:
    err = await refused(manager(region="eu"))
    assert err.code == ErrorCode.REGION_MISMATCH


async def test_unknown_app_is_refused() -> None:
    with pytest.raises(RoomError) as exc:
        await manager().enter(
            enter_params("alice").__class__(sdkappid=42, user_id="alice", user_sig="x", room_id=1),
            RecordingSink(),
        )
    assert exc.value.code == ErrorCode.APP_NOT_FOUND


async def test_consent_hook_refusal_is_reported_with_its_code() -> None:
    class Refuse:
        async def check(self, sdkappid: int, userid: str, consent_token: str | None) -> ConsentDecision:
            return ConsentDecision(ok=False, code=7, message="parental consent required")

    err = await refused(manager(consent=Refuse()))
    assert err.code == ErrorCode.CONSENT_REQUIRED and err.extra_code == 7
    assert err.message == "parental consent required"


async def test_permission_key_app_needs_a_privatemapkey() -> None:
    err = await refused(manager(pmk_app()))
    assert err.code == ErrorCode.PRIVATEMAPKEY_INVALID and int(err.code) == -100006


async def test_privatemapkey_for_another_room_is_refused() -> None:
    err = await refused(manager(pmk_app()), private_map_key=pmk("alice", 255, room_id=999))
    assert err.code == ErrorCode.PRIVATEMAPKEY_INVALID
    err = await refused(
        manager(pmk_app()), room_id=None, str_room_id="1234", private_map_key=pmk("alice", 255)
    )
    assert err.code == ErrorCode.PRIVATEMAPKEY_INVALID


async def test_privatemapkey_without_create_bit_cannot_open_the_room_but_can_enter_it() -> None:
    m = manager(pmk_app())
    enter_only = int(Privilege.ENTER_ROOM | Privilege.RECV_AUDIO | Privilege.RECV_VIDEO)
    err = await refused(m, user="bob", private_map_key=pmk("bob", enter_only))
    assert err.code == ErrorCode.PRIVATEMAPKEY_INVALID and "create" in err.message
    await m.enter(enter_params("alice", private_map_key=pmk("alice", 255)), RecordingSink())
    await m.enter(enter_params("bob", private_map_key=pmk("bob", enter_only)), RecordingSink())


async def test_privilege_bits_gate_sending_and_receiving() -> None:
    m = manager(pmk_app())
    audio_only = int(Privilege.CREATE_ROOM | Privilege.ENTER_ROOM | Privilege.SEND_AUDIO)
    a = await m.enter(enter_params("alice", private_map_key=pmk("alice", audio_only)), RecordingSink())
    with pytest.raises(RoomError) as exc:
        await m.publish(a, "audio video", [DeclaredTrack("audio", "main"), DeclaredTrack("video", "main")])
    assert exc.value.code == ErrorCode.PRIVATEMAPKEY_INVALID and "send video" in exc.value.message
    await m.publish(a, "audio", [DeclaredTrack("audio", "main")])
    b = await m.enter(
        enter_params("bob", private_map_key=pmk("bob", int(Privilege.ENTER_ROOM))), RecordingSink()
    )
    with pytest.raises(RoomError) as exc:
        await m.set_subscription(b, "alice", "main", "audio", True)
    assert "receive audio" in exc.value.message
