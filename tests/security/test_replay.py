"""Probe: a captured cloud-API request, replayed and re-aimed (the probe in which a captured RemoveUser
sent again with X-TC-Action: DismissRoom dismissed the room, and identical replays worked for 300 s)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from relayroom.auth import tc3
from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient
from tests.control.cloudapi.server import call, trtc_client
from tests.security.conftest import Server

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

ROOM = 4242


def signed(server: Server, sid: str, key: str, body: dict[str, Any], ts: int) -> tuple[bytes, str]:
    payload = json.dumps(body).encode()
    return payload, tc3.sign_request(
        secret_id=sid, secret_key=key, host=server.host, payload=payload, timestamp=ts
    )


async def send(http: httpx.AsyncClient, action: str, captured: tuple[bytes, str], ts: int) -> str | None:
    payload, authorization = captured
    r = await http.post(
        "/",
        content=payload,
        headers={
            "Content-Type": "application/json",
            "X-TC-Action": action,
            "X-TC-Version": "2019-07-22",
            "X-TC-Timestamp": str(ts),
            "Authorization": authorization,
        },
    )
    code: str | None = r.json()["Response"].get("Error", {}).get("Code")
    return code


async def test_a_captured_remove_user_can_neither_dismiss_the_room_nor_be_replayed(server: Server) -> None:
    admin = server.admin_headers()
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        acc = (await http.get("/api/v1/me", headers=admin)).json()["accounts"][0]["id"]
        cred = (await http.post(f"/api/v1/accounts/{acc}/credentials", headers=admin)).json()
        sid, key = cred["secret_id"], cred["secret_key"]
        async with RelayRoomClient(server.signal_url) as bob:
            await bob.enter_room(
                sdk_app_id=server.sdkappid,
                user_id="bob",
                user_sig=gen_usersig(server.sdkappid, server.secret_key, "bob", 600),
                room_id=ROOM,
            )

            async def room_is_live() -> bool:
                rooms = (
                    await http.get(f"/api/v1/applications/{server.sdkappid}/rooms", headers=admin)
                ).json()
                return any(str(r.get("roomId")) == str(ROOM) for r in rooms)

            assert await room_is_live()
            ts = int(time.time())
            body = {"SdkAppId": server.sdkappid, "RoomId": ROOM, "UserIds": ["nobody"]}
            captured = signed(server, sid, key, body, ts)
            # re-aimed before the original arrives: the body is no DismissRoom body
            assert await send(http, "DismissRoom", captured, ts) == "UnknownParameter"
            assert await room_is_live()
            # the original, once; then every copy is refused, whatever the action header says
            assert await send(http, "RemoveUser", captured, ts) is None
            assert await send(http, "RemoveUser", captured, ts) == "AuthFailure.SignatureReplay"
            assert await send(http, "DismissRoom", captured, ts) == "UnknownParameter"
            assert await room_is_live()
            # a query signed once may be sent again (clients poll)
            now = int(time.time())
            query = signed(
                server, sid, key, {"SdkAppId": server.sdkappid, "StartTime": now - 600, "EndTime": now}, now
            )
            assert await send(http, "DescribeRoomInfo", query, now) is None
            assert await send(http, "DescribeRoomInfo", query, now) is None
    # the official SDK still works unchanged, queries twice in a row included
    client = trtc_client(server.host, sid, key)
    window = {"SdkAppId": server.sdkappid, "StartTime": int(time.time()) - 600, "EndTime": int(time.time())}
    for _ in range(2):
        assert (await call(client, "DescribeRoomInfo", window)).RequestId
