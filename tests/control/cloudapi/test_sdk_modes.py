"""The official SDK in its other modes against a live server: GET requests (``HttpProfile(reqMethod=
"GET")``) and signature v1 (``ClientProfile(signMethod="HmacSHA256"/"HmacSHA1")``), POST and GET; a v1
request is taken once (its nonce) and a tampered one fails; a browser's GET of ``/`` still goes to the
console while a signed GET never gets HTML."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from relayroom.auth import signv1
from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient
from tests.control.cloudapi.server import Live, call, live_server, settings_for, trtc_client

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.slow,
    pytest.mark.filterwarnings("error:.*fileds are useless"),
]

# (HttpProfile.reqMethod, ClientProfile.signMethod)
MODES = [
    ("GET", "TC3-HMAC-SHA256"),
    ("POST", "HmacSHA256"),
    ("POST", "HmacSHA1"),
    ("GET", "HmacSHA256"),
    ("GET", "HmacSHA1"),
]


class AllowAll:
    """Rate limiter that allows everything (this test sends many requests per second)."""

    def allow(self, secret_id: str, cls: str, limit: int) -> bool:
        return True


async def _join(live: Live, user: str, room_id: int) -> RelayRoomClient:
    assert live.first is not None
    client = RelayRoomClient(live.signal_url)
    await client.enter_room(
        sdk_app_id=live.first.sdkappid,
        user_id=user,
        user_sig=gen_usersig(live.first.sdkappid, live.first.secret_key, user, 3600),
        room_id=room_id,
    )
    return client


async def _code(coro: Any) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        await coro
    return str(info.value.get_code())


async def test_every_action_class_through_the_sdk_in_get_and_v1_modes(tmp_path: Path) -> None:
    state = {"cloudapi_limiter": AllowAll()}
    async with live_server(settings_for(tmp_path / "d", media=True), state=state) as live:
        assert live.first is not None
        app_id = live.first.sdkappid
        sid, key = await live.credential()
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        for i, (method, sign) in enumerate(MODES):
            room, user = 5000 + i, f"user{i}"
            member = await _join(live, user, room)
            other = await _join(live, f"other{i}", room)
            try:
                sdk = trtc_client(live.host, sid, key, method=method, sign=sign)
                now = int(time.time())
                window = {"SdkAppId": app_id, "StartTime": now - 600, "EndTime": now + 5}
                # quality class; integers travel as strings in the query / form
                rooms = await call(sdk, "DescribeRoomInfo", dict(window, RoomId=str(room), PageSize=10))
                assert rooms.Total == 1, (method, sign)
                assert rooms.RoomList[0].RoomString == str(room)
                comm = rooms.RoomList[0].CommId
                # a list parameter (UserIds.0, UserIds.1 in the form)
                users = await call(
                    sdk, "DescribeUserInfo", dict(window, CommId=comm, UserIds=[user, "nobody"])
                )
                assert [u.UserId for u in users.UserList] == [user], (method, sign)
                # usage class
                usage = await call(
                    sdk, "DescribeTrtcUsage", {"StartTime": day, "EndTime": day, "SdkAppId": app_id}
                )
                assert (
                    usage.UsageKey == ["Audio", "SD", "HD", "FHD", "2K", "4K"] and len(usage.UsageList) == 288
                )
                # room class (state-changing): really removes, then really dismisses
                await call(sdk, "RemoveUser", {"SdkAppId": app_id, "RoomId": room, "UserIds": [user]})
                kicked = await member.wait_for_event("kicked-out", within=10)
                assert kicked.data["reason"] == "banned"
                await call(sdk, "DismissRoom", {"SdkAppId": app_id, "RoomId": room})
                kicked = await other.wait_for_event("kicked-out", within=10)
                assert kicked.data["reason"] == "room_disband"
                # TRTC's errors arrive as such in every mode (another room: within one second, TC3 would
                # sign the same request again, which is a replay)
                gone = {"SdkAppId": app_id, "RoomId": room + 100}
                assert await _code(call(sdk, "DismissRoom", gone)) == "FailedOperation.RoomNotExist"
                wrong = trtc_client(live.host, sid, key[:-1] + "x", method=method, sign=sign)
                assert await _code(call(wrong, "DescribeRoomInfo", window)) == "AuthFailure.SignatureFailure"
            finally:
                await member.close()
                await other.close()


def _sdk_v1_request(host: str, sid: str, key: str, action: str, params: dict[str, Any], method: str) -> str:
    """The form the official SDK builds for a v1 request (its own _build_req_inter), not sent."""
    from tencentcloud.common.http.request import RequestInternal

    sdk = trtc_client(host, sid, key, method=method, sign="HmacSHA256")
    req = RequestInternal(host, method, "/")
    sdk._build_req_inter(action, params, req)
    data: str = req.data
    return data


async def _send(live: Live, form: str, method: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": live.host}
    if method == "GET":
        r = await live.http.get(f"/?{form}", headers=headers)
    else:
        r = await live.http.post("/", content=form.encode(), headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text[:200]
    out: dict[str, Any] = r.json()["Response"]
    return out


def _err(resp: dict[str, Any]) -> str | None:
    found: str | None = resp.get("Error", {}).get("Code")
    return found


async def test_a_v1_request_is_taken_once_and_a_tampered_one_fails(tmp_path: Path) -> None:
    state = {"cloudapi_limiter": AllowAll()}
    async with live_server(settings_for(tmp_path / "d"), state=state) as live:
        assert live.first is not None
        app_id = live.first.sdkappid
        sid, key = await live.credential()
        for method in ("POST", "GET"):
            now = int(time.time())
            query = {"SdkAppId": app_id, "StartTime": now - 600, "EndTime": now}

            form = _sdk_v1_request(live.host, sid, key, "DescribeRoomInfo", query, method)
            first = await _send(live, form, method)
            assert _err(first) is None and first["Total"] == 0
            # the same nonce again: refused even for a read (v1's nonce is single-use)
            again = await _send(live, form, method)
            assert _err(again) == "AuthFailure.SignatureReplay" and "Nonce" in again["Error"]["Message"]

            # a state-changing action: the first is executed (no such room), the replay is refused
            dismiss = _sdk_v1_request(
                live.host, sid, key, "DismissRoom", {"SdkAppId": app_id, "RoomId": 7}, method
            )
            assert _err(await _send(live, dismiss, method)) == "FailedOperation.RoomNotExist"
            assert _err(await _send(live, dismiss, method)) == "AuthFailure.SignatureReplay"

            # tampered: another room, another nonce, another method, a parameter added or removed
            fields = dict(
                parse_qsl(
                    _sdk_v1_request(
                        live.host, sid, key, "DismissRoom", {"SdkAppId": app_id, "RoomId": 8}, method
                    )
                )
            )
            for change in (
                {"RoomId": "9"},
                {"Nonce": str(int(fields["Nonce"]) + 1)},
                {"SignatureMethod": "HmacSHA1"},
                {"Extra": "1"},
            ):
                assert _err(await _send(live, urlencode({**fields, **change}), method)) == (
                    "AuthFailure.SignatureFailure"
                ), change
            dropped = {k: v for k, v in fields.items() if k != "Region"}
            assert _err(await _send(live, urlencode(dropped), method)) == "AuthFailure.SignatureFailure"
            # a parameter the action does not define, correctly signed: UnknownParameter as with TC3
            extra = signv1.sign_params(
                {**{k: v for k, v in fields.items() if k != "Signature"}, "Nonce": "42", "Foo": "1"},
                secret_key=key,
                host=live.host,
                method=method,
            )
            assert _err(await _send(live, urlencode(extra), method)) == "UnknownParameter"
            # an expired timestamp
            old = signv1.sign_params(
                {
                    **{k: v for k, v in fields.items() if k != "Signature"},
                    "Nonce": "43",
                    "Timestamp": now - 400,
                },
                secret_key=key,
                host=live.host,
                method=method,
            )
            assert _err(await _send(live, urlencode(old), method)) == "AuthFailure.SignatureExpire"
            # the untampered request still works once
            assert _err(await _send(live, urlencode(fields), method)) == "FailedOperation.RoomNotExist"


async def test_a_browser_get_goes_to_the_console_and_a_signed_get_never_gets_html(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "d")) as live:
        assert live.first is not None
        r = await live.http.get("/")
        assert r.status_code == 307 and r.headers["location"] == "/console/"
        # an API call, signed wrongly or not at all: the JSON envelope, never the console
        for query in (
            "Action=DescribeRoomInfo",
            "Action=DescribeRoomInfo&Signature=x&Nonce=1",
            "SecretId=AKID",
        ):
            r = await live.http.get(f"/?{query}")
            assert r.status_code == 200 and r.headers["content-type"] == "application/json", query
            assert r.json()["Response"]["Error"]["Code"].startswith(("AuthFailure", "MissingParameter"))
        r = await live.http.get("/", headers={"Authorization": "TC3-HMAC-SHA256 nonsense"})
        assert r.headers["content-type"] == "application/json"
        assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
        # the SDK in GET mode: an answer, and with a wrong key TRTC's error (it used to be a decode error)
        sid, key = await live.credential()
        now = int(time.time())
        window = {"SdkAppId": live.first.sdkappid, "StartTime": now - 600, "EndTime": now}
        good = trtc_client(live.host, sid, key, method="GET")
        assert (await call(good, "DescribeRoomInfo", window)).Total == 0
        bad = trtc_client(live.host, sid, key + "x", method="GET")
        assert await _code(call(bad, "DescribeRoomInfo", window)) == "AuthFailure.SignatureFailure"
