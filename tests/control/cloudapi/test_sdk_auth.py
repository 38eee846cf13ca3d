"""The official tencentcloud-sdk-python-trtc against the running server: authentication and errors."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from relayroom.auth import tc3
from tests.control.cloudapi.server import Live, call, live_server, settings_for, trtc_client

pytestmark = [pytest.mark.timeout(90), pytest.mark.filterwarnings("error:.*fileds are useless")]


class OffsetClock:
    """Wall clock that a test can move (the server's view of "now")."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


async def _raw(
    live: Live, action: str, body: dict[str, object], sid: str, key: str, ts: int | None = None
) -> httpx.Response:
    payload = json.dumps(body).encode()
    ts = ts or int(time.time())
    headers = {
        "Content-Type": "application/json",
        "Host": live.host,
        "X-TC-Action": action,
        "X-TC-Version": "2019-07-22",
        "X-TC-Timestamp": str(ts),
        "X-TC-Region": "ap-guangzhou",
        "Authorization": tc3.sign_request(
            secret_id=sid, secret_key=key, host=live.host, payload=payload, timestamp=ts
        ),
    }
    return await live.http.post("/", content=payload, headers=headers)


async def _code(coro: object) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        await coro  # type: ignore[misc]
    return str(info.value.get_code())


async def test_sdk_auth_failures_raise_tencentcloudsdkexception_with_trtc_codes(tmp_path: Path) -> None:
    clock = OffsetClock()
    async with live_server(settings_for(tmp_path / "data"), clock=clock) as live:
        assert live.first is not None
        sid, key = await live.credential()
        app_id = live.first.sdkappid
        now = int(time.time())
        window = {"SdkAppId": app_id, "StartTime": now - 3600, "EndTime": now}

        good = trtc_client(live.host, sid, key)
        resp = await call(good, "DescribeRoomInfo", window)
        assert resp.Total == 0 and resp.RoomList == [] and resp.RequestId

        assert await _code(call(trtc_client(live.host, sid, key[:-1] + "x"), "DescribeRoomInfo", window)) == (
            "AuthFailure.SignatureFailure"
        )
        assert await _code(call(trtc_client(live.host, "AKIDnobody", key), "DescribeRoomInfo", window)) == (
            "AuthFailure.SecretIdNotFound"
        )
        clock.offset = 301.0  # the client's timestamp is now more than 300 s old
        assert await _code(call(good, "DescribeRoomInfo", window)) == "AuthFailure.SignatureExpire"
        clock.offset = 0.0

        # another account's credential on this account's application
        r = await live.http.post(
            "/api/v1/users", headers=live.admin, json={"username": "mallory", "password": "mallory-password"}
        )
        assert r.status_code == 201, r.text
        r = await live.http.post(
            "/api/v1/accounts", headers=live.admin, json={"name": "M", "owner_username": "mallory"}
        )
        assert r.status_code == 201, r.text
        other_acc = r.json()["id"]
        r = await live.http.post(
            "/api/v1/auth/login", json={"username": "mallory", "password": "mallory-password"}
        )
        mallory = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await live.http.post(f"/api/v1/accounts/{other_acc}/credentials", headers=mallory)
        assert r.status_code == 201, r.text
        m_client = trtc_client(live.host, r.json()["secret_id"], r.json()["secret_key"])
        assert await _code(call(m_client, "DescribeRoomInfo", window)) == "UnauthorizedOperation.SdkAppId"
        assert await _code(call(m_client, "DismissRoom", {"SdkAppId": app_id, "RoomId": 1})) == (
            "UnauthorizedOperation.SdkAppId"
        )

        # unknown action, missing and invalid parameters, no room
        assert await _code(asyncio.to_thread(good.call_json, "NoSuchAction", {})) == "InvalidAction"
        assert await _code(call(good, "DismissRoom", {"SdkAppId": app_id})) == "MissingParameter.RoomId"
        assert (
            await _code(call(good, "DismissRoom", {"SdkAppId": app_id, "RoomId": 0}))
            == "InvalidParameter.RoomId"
        )
        assert await _code(call(good, "DismissRoom", {"SdkAppId": app_id, "RoomId": 77})) == (
            "FailedOperation.RoomNotExist"
        )
        too_many = {"SdkAppId": app_id, "RoomId": 77, "UserIds": [f"u{i}" for i in range(11)]}
        assert await _code(call(good, "RemoveUser", too_many)) == "InvalidParameter.UserIds"
        old = dict(window, StartTime=now - 15 * 86400, EndTime=now - 15 * 86400 + 60)
        assert await _code(call(good, "DescribeRoomInfo", old)) == "InvalidParameter.StartTimeExpire"
        wide = dict(window, StartTime=now - 2 * 86400)
        assert await _code(call(good, "DescribeRoomInfo", wide)) == "InvalidParameter.QueryScaleOversize"
        assert await _code(call(good, "DescribeRoomInfo", dict(window, PageSize=101))) == (
            "InvalidParameter.PageSizeOversize"
        )

        # the envelope: HTTP 200, Content-Type exactly application/json, errors included
        r = await _raw(live, "NoSuchAction", {}, sid, key)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json()["Response"]["Error"]["Code"] == "InvalidAction" and r.json()["Response"]["RequestId"]
        r = await live.http.post("/", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
        # a signature for another body does not verify
        payload = json.dumps(window).encode()
        ts = int(time.time())
        auth = tc3.sign_request(secret_id=sid, secret_key=key, host=live.host, payload=b"{}", timestamp=ts)
        r = await live.http.post(
            "/",
            content=payload,
            headers={
                "Content-Type": "application/json",
                "X-TC-Action": "DescribeRoomInfo",
                "X-TC-Version": "2019-07-22",
                "X-TC-Timestamp": str(ts),
                "Authorization": auth,
            },
        )
        assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"

        # SetUserBlocked is not in this SDK version: a raw TC3-signed request
        r = await _raw(
            live, "SetUserBlocked", {"SdkAppId": app_id, "RoomId": 5, "UserId": "u", "IsMute": 1}, sid, key
        )
        assert r.json()["Response"]["Error"]["Code"] == "FailedOperation.RoomNotExist"
        r = await _raw(
            live, "SetUserBlocked", {"SdkAppId": app_id, "RoomId": 5, "UserId": "u", "IsMute": 9}, sid, key
        )
        assert r.json()["Response"]["Error"]["Code"] == "InvalidParameter"

        # usage APIs: 5 per second per credential
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        codes = []
        for _ in range(7):
            r = await _raw(live, "DescribeTrtcUsage", {"StartTime": today, "EndTime": today}, sid, key)
            codes.append(r.json()["Response"].get("Error", {}).get("Code"))
        assert codes[:5] == [None] * 5 and "RequestLimitExceeded" in codes[5:]
