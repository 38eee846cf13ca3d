"""The official SDK against a live server with media: every action with real data from a room that
Python clients are in."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
from relayroom.control.container import ContainerParams
from relayroom.control.usage.meter import MeterParams
from tests.control.cloudapi.server import Live, call, live_server, settings_for, tc3_post, trtc_client

# every response field is one the SDK model knows (it warns "fileds are useless" otherwise)
pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.slow,
    pytest.mark.filterwarnings("error:.*fileds are useless"),
]
ROOM = 4242


async def _raw(live: Live, action: str, body: dict[str, Any], sid: str, key: str) -> dict[str, Any]:
    """A TC3-signed request built by relayroom.auth.tc3 (SetUserBlocked is not in the CN SDK 3.1.177)."""
    return await tc3_post(live.http, live.host, action, body, sid, key)


async def _join(live: Live, user: str, **room: Any) -> RelayRoomClient:
    assert live.first is not None
    client = RelayRoomClient(live.signal_url)
    await client.enter_room(
        sdk_app_id=live.first.sdkappid,
        user_id=user,
        user_sig=gen_usersig(live.first.sdkappid, live.first.secret_key, user, 3600),
        auto_receive_audio=True,
        auto_receive_video=True,
        **room,
    )
    return client


async def test_every_action_works_with_real_clients_in_a_room(tmp_path: Path) -> None:
    params = ContainerParams(meter_params=MeterParams(tick_s=0.5, flush_s=1.0))
    async with live_server(settings_for(tmp_path / "d", media=True), params=params) as live:
        assert live.first is not None
        app_id = live.first.sdkappid
        sid, key = await live.credential()
        sdk = trtc_client(live.host, sid, key)
        clients: list[RelayRoomClient] = []
        try:
            alice = await _join(live, "alice", room_id=ROOM)
            clients.append(alice)
            bob = await _join(live, "bob", room_id=ROOM)
            clients.append(bob)
            await alice.publish(SineAudioTrack(440.0), TestPatternVideoTrack((220, 30, 30)))
            await bob.publish(SineAudioTrack(660.0), TestPatternVideoTrack((30, 200, 30)))
            for me, other in ((alice, "bob"), (bob, "alice")):
                video = await me.wait_remote_track(other, "video", within=20)
                await video.wait_frames(3, within=20)
            started = time.monotonic()
            await asyncio.sleep(4.0)

            now = int(time.time())
            window = {"SdkAppId": app_id, "StartTime": now - 600, "EndTime": now + 5}
            rooms = await call(sdk, "DescribeRoomInfo", window)
            assert rooms.Total == 1
            room = rooms.RoomList[0]
            assert room.RoomString == str(ROOM) and room.IsFinished is False and room.UserId == "alice"
            comm = room.CommId
            assert comm == f"{app_id}_{ROOM}_{room.CreateTime}"

            users = await call(sdk, "DescribeUserInfo", dict(window, CommId=comm))
            assert users.Total == 2
            assert sorted(u.UserId for u in users.UserList) == ["alice", "bob"]
            assert all(u.Finished is False and u.RoomStr == str(ROOM) for u in users.UserList)

            events = await call(
                sdk, "DescribeUserEvent", dict(window, CommId=comm, UserId="alice", RoomId=str(ROOM))
            )
            ids = [e.EventId for e in events.Data[0].Content]
            assert events.Data[0].PeerId == "alice" and ids[0] == 103 and {201, 203} <= set(ids)

            detail = await call(
                sdk,
                "DescribeCallDetailInfo",
                {**window, "StartTime": now - 300, "CommId": comm, "UserIds": ["alice"], "DataType": ["all"]},
            )
            assert [u.UserId for u in detail.UserList] == ["alice"]
            series = {d.DataType: d.Content for d in detail.Data if d.PeerId == ""}
            assert series["aBit"] and max(p.Value for p in series["aBit"]) > 5  # kbit/s of Opus
            assert series["bigvBit"] and max(p.Value for p in series["bigvBit"]) > 1  # a still test pattern
            # the workers' RTCP statistics: uplink size, frame rate, loss, jitter; downlink RTT and loss
            assert {p.Value for p in series["bigvWidth"]} == {160.0}
            assert {p.Value for p in series["bigvHeight"]} == {120.0}
            assert series["bigvEncFps"] and max(p.Value for p in series["bigvEncFps"]) > 5
            assert series["aLoss"] and series["bigvLoss"] and series["aJitter"] and series["bigvJitter"]
            assert series["rtt"] and all(0 <= p.Value < 1000 for p in series["rtt"])
            downlink = {d.DataType: d.Content for d in detail.Data if d.PeerId == "bob"}
            assert downlink.get("bigvLoss") and all(p.Value <= 100 for p in downlink["bigvLoss"])

            scale = await call(sdk, "DescribeScaleInfo", window)
            today = scale.ScaleList[-1]
            assert today.UserNumber == 2 and today.UserCount == 2 and today.RoomNumbers == 1

            # SetUserBlocked: alice's audio stops for bob, then comes back
            resp = await _raw(
                live,
                "SetUserBlocked",
                {"SdkAppId": app_id, "RoomId": ROOM, "UserId": "alice", "IsMute": 2},
                sid,
                key,
            )
            assert "Error" not in resp, resp
            await bob.wait_for_event("remote-audio-unavailable", lambda d: d["userId"] == "alice", within=10)
            resp = await _raw(
                live,
                "SetUserBlocked",
                {"SdkAppId": app_id, "RoomId": ROOM, "UserId": "alice", "IsMute": 0},
                sid,
                key,
            )
            assert "Error" not in resp, resp
            await bob.wait_for_event(
                "remote-audio-available",
                lambda d: d["userId"] == "alice" and d.get("reason") == "mute",
                within=10,
            )

            # usage: both received the other's video (default tier SD) for about the elapsed time
            elapsed_min = (time.monotonic() - started) / 60
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            usage = await call(
                sdk, "DescribeTrtcUsage", {"StartTime": day, "EndTime": day, "SdkAppId": app_id}
            )
            assert usage.UsageKey == ["Audio", "SD", "HD", "FHD", "2K", "4K"] and len(usage.UsageList) == 288
            sd = sum(p.UsageValue[1] for p in usage.UsageList)
            assert 2 * (elapsed_min - 0.1) <= sd <= 2 * (elapsed_min + 0.2), (sd, elapsed_min)
            start = datetime.fromtimestamp(now - 600, UTC).strftime("%Y-%m-%d %H:%M")
            end = datetime.fromtimestamp(now + 600, UTC).strftime("%Y-%m-%d %H:%M")
            room_usage = await call(
                sdk, "DescribeTrtcRoomUsage", {"SdkAppid": app_id, "StartTime": start, "EndTime": end}
            )
            rows = list(csv.DictReader(io.StringIO(room_usage.Data)))
            assert sorted(r["UserId"] for r in rows) == ["alice", "bob"]
            assert all(r["RoomId"] == str(ROOM) and int(r["SDDuration"]) >= 3 for r in rows)

            # RemoveUser really removes
            await call(sdk, "RemoveUser", {"SdkAppId": app_id, "RoomId": ROOM, "UserIds": ["bob"]})
            kicked = await bob.wait_for_event("kicked-out", within=10)
            assert kicked.data["reason"] == "banned"
            await alice.wait_for_event("remote-user-exit", lambda d: d["userId"] == "bob", within=10)
            users = await call(
                sdk, "DescribeUserInfo", dict(window, CommId=comm, EndTime=int(time.time()) + 5)
            )
            assert {u.UserId: u.Finished for u in users.UserList} == {"alice": False, "bob": True}

            # DismissRoom really ends the room
            await call(sdk, "DismissRoom", {"SdkAppId": app_id, "RoomId": ROOM})
            kicked = await alice.wait_for_event("kicked-out", within=10)
            assert kicked.data["reason"] == "room_disband"
            manager = live.container.rooms
            assert manager is not None and manager.list_rooms(app_id) == []
            rooms = await call(sdk, "DescribeRoomInfo", dict(window, EndTime=int(time.time()) + 5))
            assert rooms.RoomList[0].IsFinished is True and rooms.RoomList[0].DestroyTime >= room.CreateTime

            unusual = await call(sdk, "DescribeUnusualEvent", {**window, "StartTime": now - 1800})
            assert unusual.Total == 0 and unusual.AbnormalExperienceList == []

            # the ...ByStrRoomId variants on a string room
            carol = await _join(live, "carol", str_room_id="lobby 1")
            clients.append(carol)
            resp = await _raw(
                live,
                "SetUserBlockedByStrRoomId",
                {"SdkAppId": app_id, "StrRoomId": "lobby 1", "UserId": "carol", "IsMute": 1},
                sid,
                key,
            )
            assert "Error" not in resp, resp
            await call(
                sdk, "RemoveUserByStrRoomId", {"SdkAppId": app_id, "RoomId": "lobby 1", "UserIds": ["carol"]}
            )
            assert (await carol.wait_for_event("kicked-out", within=10)).data["reason"] == "banned"
            carol2 = await _join(live, "carol", str_room_id="lobby 1")
            clients.append(carol2)
            await call(sdk, "DismissRoomByStrRoomId", {"SdkAppId": app_id, "RoomId": "lobby 1"})
            await carol2.wait_for_event("kicked-out", lambda d: d["reason"] == "room_disband", within=10)
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
