"""Chaos: the wall clock jumps (NTP step, VM resume) under a running server, through the clock seam.

TC3 signatures (300 s window) and UserSig (its own expiry) are judged by the server's clock, in both
directions; the purge scheduler runs what a jump made due, and /metrics shows purges due and overdue
(the hard deadline passed) until they ran.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relayroom.auth import tc3
from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, RelayRoomError
from tests.control.cloudapi.server import Live, live_server, settings_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


class JumpingClock:
    """Real time plus an offset that a test moves (a step of the system clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def jump(self, delta: timedelta) -> None:
        self.offset += delta.total_seconds()


async def _cloud(live: Live, sid: str, key: str, signed_at: int) -> str:
    assert live.first is not None
    payload = json.dumps(
        {"SdkAppId": live.first.sdkappid, "StartTime": signed_at - 600, "EndTime": signed_at}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Host": live.host,
        "X-TC-Action": "DescribeRoomInfo",
        "X-TC-Version": "2019-07-22",
        "X-TC-Timestamp": str(signed_at),
        "Authorization": tc3.sign_request(
            secret_id=sid, secret_key=key, host=live.host, payload=payload, timestamp=signed_at
        ),
    }
    r = await live.http.post("/", content=payload, headers=headers)
    err = r.json()["Response"].get("Error")
    return str(err["Code"]) if err else "ok"


async def _metric(live: Live, name: str) -> float:
    text = (await live.http.get("/metrics")).text
    [line] = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    return float(line.split()[1])


async def test_clock_jumps_move_tc3_and_usersig_windows_and_the_purge_scheduler(tmp_path: Path) -> None:
    clock = JumpingClock()
    async with live_server(settings_for(tmp_path / "d", media=True), clock=clock) as live:
        assert live.first is not None
        sid, key = await live.credential()
        real = int(time.time())
        assert await _cloud(live, sid, key, real) == "ok"

        # +1 h: what a client signs with its (right) clock is now "expired"; signed at the server's time: ok
        clock.jump(timedelta(hours=1))
        assert await _cloud(live, sid, key, real) == "AuthFailure.SignatureExpire"
        assert await _cloud(live, sid, key, int(clock.time())) == "ok"

        # UserSig valid for a day, issued at real time: refused once the server's clock is 2 days on
        sdkappid, secret = live.first.sdkappid, live.first.secret_key
        sig = gen_usersig(sdkappid, secret, "u1", expire=86400, now=real)
        clock.jump(timedelta(days=2))
        async with RelayRoomClient(live.signal_url) as c:
            with pytest.raises(RelayRoomError) as exc:
                await c.enter_room(sdk_app_id=sdkappid, user_id="u1", user_sig=sig, room_id=5)
            assert exc.value.code == -100018  # expired
        # and back: the same UserSig enters again (nothing was latched by the jump)
        clock.jump(-timedelta(days=2, hours=1))
        async with RelayRoomClient(live.signal_url) as c:
            await c.enter_room(sdk_app_id=sdkappid, user_id="u1", user_sig=sig, room_id=5)
            await c.exit_room()
        assert await _cloud(live, sid, key, real) == "ok"

        # purge scheduler: terminating an app schedules its purge; a jump past its deadline shows it
        # as due and overdue, and the scheduler's run makes both zero
        r = await live.http.post(f"/api/v1/applications/{sdkappid}/terminate", headers=live.admin)
        assert r.status_code == 200, r.text
        assert await _metric(live, "relayroom_purge_jobs_due") == 0
        clock.jump(timedelta(days=8))
        assert await _metric(live, "relayroom_purge_jobs_due") >= 1
        assert await _metric(live, "relayroom_purge_jobs_overdue") >= 1
        services = live.container.services
        outcomes = await services.retention.run_due()
        assert outcomes, "the purge made due by the jump did not run"
        assert await _metric(live, "relayroom_purge_jobs_due") == 0
        assert await _metric(live, "relayroom_purge_jobs_overdue") == 0
