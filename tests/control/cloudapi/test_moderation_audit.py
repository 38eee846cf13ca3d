"""Every moderation action of the cloud API (the official SDK where it models the action, a TC3-signed
request where it does not) writes an operation-log entry: the credential as actor, the end users as
pseudonymous references, the action as reason."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.control.privacy.refs import subject_ref
from relayroom.control.rooms.manager import EnterParams
from relayroom.control.rooms.participant import Participant
from tests.control.cloudapi.server import Live, call, live_server, settings_for, trtc_client
from tests.control.cloudapi.test_replay import code, send
from tests.control.oplog.entries import entries
from tests.control.rooms.fakes import RecordingSink

pytestmark = pytest.mark.timeout(120)


async def enter(live: Live, user: str, room: int | str) -> tuple[Participant, RecordingSink]:
    """A member in a room of the demo app (the room manager's own entry, UserSig checked)."""
    assert live.first is not None and live.container.rooms is not None
    app = live.first.sdkappid
    sig = gen_usersig(app, live.first.secret_key, user, 3600)
    numeric = isinstance(room, int)
    params = EnterParams(
        sdkappid=app,
        user_id=user,
        user_sig=sig,
        room_id=room if isinstance(room, int) else None,
        str_room_id=None if numeric else str(room),
    )
    sink = RecordingSink()
    return await live.container.rooms.enter(params, sink), sink


async def test_each_cloud_api_moderation_action_is_in_the_operation_log(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "d", media=True)) as live:
        assert live.first is not None
        app = live.first.sdkappid
        sid, key = await live.credential()
        sdk = trtc_client(live.host, sid, key)
        for user, room in (("alice", 1), ("bob", 1), ("carol", "ops"), ("dave", "ops")):
            await enter(live, user, room)

        await call(sdk, "RemoveUser", {"SdkAppId": app, "RoomId": 1, "UserIds": ["bob"]})
        await call(sdk, "RemoveUserByStrRoomId", {"SdkAppId": app, "RoomId": "ops", "UserIds": ["carol"]})
        now = int(time.time())
        # SetUserBlocked is not modelled by the SDK version we test against: signed as the SDK signs
        body: dict[str, Any] = {"SdkAppId": app, "RoomId": 1, "UserId": "alice", "IsMute": 1}
        blocked = await send(live, "SetUserBlocked", body, sid, key, now)
        assert code(blocked) is None, blocked
        body = {"SdkAppId": app, "StrRoomId": "ops", "UserId": "dave", "IsMute": 2}
        blocked = await send(live, "SetUserBlockedByStrRoomId", body, sid, key, now)
        assert code(blocked) is None, blocked
        await call(sdk, "DismissRoom", {"SdkAppId": app, "RoomId": 1})
        await call(sdk, "DismissRoomByStrRoomId", {"SdkAppId": app, "RoomId": "ops"})

        services = live.container.services
        secret = services.ctx.pseudonym_secret

        def ref(user: str) -> dict[str, str]:
            return {"type": "end_user", "ref": subject_ref(secret, app, user)}

        removed = await entries(services, "room.remove_users")
        muted = await entries(services, "room.user.media_block")
        dismissed = await entries(services, "room.dismiss")
        everything: list[dict[str, Any]] = [*removed, *muted, *dismissed]
        assert all(e["actor"] == f"credential:{sid}" and e["after"]["via"] == "cloud-api" for e in everything)
        assert [(e["after"]["room"], e["after"]["targets"], e["after"]["reason"]) for e in removed] == [
            (1, [ref("bob")], "cloud API RemoveUser"),
            ("ops", [ref("carol")], "cloud API RemoveUserByStrRoomId"),
        ]
        forced = [e["after"] for e in muted]
        assert [(a["target"], a["audio_blocked"], a["video_blocked"], a["reason"]) for a in forced] == [
            (ref("alice"), True, True, "cloud API SetUserBlocked IsMute=1"),
            (ref("dave"), True, False, "cloud API SetUserBlockedByStrRoomId IsMute=2"),
        ]
        assert [(e["after"]["room"], e["after"]["reason"], e["result"]) for e in dismissed] == [
            (1, "cloud API DismissRoom", "ok"),
            ("ops", "cloud API DismissRoomByStrRoomId", "ok"),
        ]
        text = json.dumps(everything)
        assert not any(f'"{u}"' in text for u in ("alice", "bob", "carol", "dave"))  # pseudonymous only
        async with services.ctx.db.read() as s:
            assert (await services.oplog.verify(s)).ok  # in the tamper-evident chain
