"""Malformed cloud-API requests get a TRTC error code, never InternalError: a timestamp with a non-ASCII
digit (found by the TC3 fuzz target), CommIds with such digits or numbers too big for the database,
JSON nested deeper than the parser goes (found writing the fuzzers' cloud-API schema)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from relayroom.auth import tc3
from tests.control.cloudapi.server import Live, live_server, settings_for

pytestmark = pytest.mark.timeout(90)


async def _post(live: Live, action: str, payload: bytes, sid: str, key: str, ts: str | None = None) -> str:
    now = int(time.time())
    headers = {
        b"Content-Type": b"application/json",
        b"Host": live.host.encode(),
        b"X-TC-Action": action.encode(),
        b"X-TC-Version": b"2019-07-22",
        b"X-TC-Timestamp": (ts if ts is not None else str(now)).encode("latin-1"),
        b"Authorization": tc3.sign_request(
            secret_id=sid, secret_key=key, host=live.host, payload=payload, timestamp=now
        ).encode(),
    }
    r: httpx.Response = await live.http.post("/", content=payload, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return str(r.json()["Response"]["Error"]["Code"])


async def test_malformed_requests_get_trtc_error_codes_not_internal_error(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "d")) as live:
        assert live.first is not None
        app = live.first.sdkappid
        sid, key = await live.credential()
        now = int(time.time())
        window = {"SdkAppId": app, "StartTime": now - 600, "EndTime": now}
        # "³" passes str.isdigit() but not int()
        assert await _post(live, "DescribeRoomInfo", json.dumps(window).encode(), sid, key, "³") == (
            "MissingParameter"
        )
        for comm in ("²_1_1", f"{app}_1_²", f"{app}_1_" + "9" * 30, f"{'9' * 30}_1_1"):
            body = json.dumps({**window, "CommId": comm}).encode()
            code = await _post(live, "DescribeUserInfo", body, sid, key)
            assert code.startswith("InvalidParameter"), (comm, code)
        deep = b"[" * 100_000 + b"]" * 100_000  # deeper than Python's JSON parser can go
        assert await _post(live, "DescribeRoomInfo", deep, sid, key) == "InvalidParameter"
