"""Probe: deeply nested JSON at every entry point (which raised RecursionError on /signal, closing the
socket with a traceback in the log, and InternalError on the cloud API)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from relayroom.auth import tc3
from tests.security.conftest import Server

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

DEEP = "[" * 1000 + "]" * 1000  # a few KiB, far under every size limit


async def test_nested_json_gets_a_clear_error_everywhere_and_the_socket_carries_on(server: Server) -> None:
    log_before = len(server.log())
    async with connect(server.signal_url) as ws:
        await ws.send('{"v": 1, "id": 7, "type": "heartbeat", "data": ' + DEEP + "}")
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert answer["ok"] is False and answer["error"]["extraCode"] == 7
        assert "nested deeper than 32" in answer["error"]["message"]
        await ws.send('{"v": 1, "id": 8, "type": "heartbeat", "data": {}}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["ok"] is True  # the socket carries on
    admin = server.admin_headers()
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        for path in (
            "/api/v1/auth/login",
            "/api/v1/accounts",
            f"/api/v1/applications/{server.sdkappid}/usersig",
        ):
            r = await http.post(path, content=DEEP, headers={**admin, "content-type": "application/json"})
            assert r.status_code == 422 and "nested deeper than 32" in r.json()["error"]["message"], path
        acc = (await http.get("/api/v1/me", headers=admin)).json()["accounts"][0]["id"]
        cred = (await http.post(f"/api/v1/accounts/{acc}/credentials", headers=admin)).json()
        ts = int(time.time())
        payload = ('{"SdkAppId": ' + DEEP + "}").encode()
        auth = tc3.sign_request(
            secret_id=cred["secret_id"],
            secret_key=cred["secret_key"],
            host=server.host,
            payload=payload,
            timestamp=ts,
        )
        r = await http.post(
            "/",
            content=payload,
            headers={
                "Content-Type": "application/json",
                "X-TC-Action": "DescribeScaleInfo",
                "X-TC-Version": "2019-07-22",
                "X-TC-Timestamp": str(ts),
                "Authorization": auth,
            },
        )
        err = r.json()["Response"]["Error"]
        assert err["Code"] == "InvalidParameter" and "nested deeper than 32" in err["Message"]
    log = server.log()[log_before:]  # what this probe made the server write
    assert "RecursionError" not in log and "Traceback" not in log
