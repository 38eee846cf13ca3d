"""DescribeUserInfo's DeviceType, SdkVersion and ClientIp through the official SDK after a Python client's
entry: the address cut to its network by default, in full with privacy.store_full_client_ip; the
processing records say which."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient
from relayroom.client.client import DEVICE_TYPE, SDK_VERSION
from relayroom.config import PrivacySettings
from tests.control.cloudapi.server import call, live_server, settings_for, trtc_client

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("error:.*fileds are useless")]


@pytest.mark.parametrize(("full", "address"), [(False, "127.0.0.0"), (True, "127.0.0.1")])
async def test_describe_user_info_reports_what_the_client_said_and_its_address(
    tmp_path: Path, full: bool, address: str
) -> None:
    settings = settings_for(tmp_path / "d", media=True).model_copy(
        update={"privacy": PrivacySettings(store_full_client_ip=full)}
    )
    async with live_server(settings) as live:
        assert live.first is not None
        app_id = live.first.sdkappid
        sid, key = await live.credential()
        client = RelayRoomClient(live.signal_url)
        try:
            await client.enter_room(
                sdk_app_id=app_id,
                user_id="alice",
                user_sig=gen_usersig(app_id, live.first.secret_key, "alice", 3600),
                room_id=31,
            )
            sdk = trtc_client(live.host, sid, key)
            now = int(time.time())
            window = {"SdkAppId": app_id, "StartTime": now - 600, "EndTime": now + 5}
            rooms = await call(sdk, "DescribeRoomInfo", window)
            assert rooms.Total == 1
            users = await call(sdk, "DescribeUserInfo", dict(window, CommId=rooms.RoomList[0].CommId))
            [alice] = users.UserList
            assert alice.UserId == "alice"
            assert alice.DeviceType == DEVICE_TYPE and DEVICE_TYPE.startswith("Python ")
            assert alice.SdkVersion == SDK_VERSION and SDK_VERSION.startswith("relayroom-python/")
            assert alice.ClientIp == address
        finally:
            await client.close()
        records = (await live.http.get("/api/v1/privacy/processing-records", headers=live.admin)).json()
        [calls] = [c for c in records["categories"] if c["data"].startswith("End users' call records")]
        if full:
            assert "in full" in calls["data"] and "/24" not in calls["data"]
        else:
            assert "IPv4 /24, IPv6 /48" in calls["data"] and "in full" not in calls["data"]
