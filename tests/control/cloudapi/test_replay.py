"""Cloud API: a signed request cannot be re-aimed at another action nor taken twice.

TC3 as the SDK uses it signs content-type and host, not X-TC-Action: the body of one action must not
be a valid body of another (UnknownParameter, as Tencent's API answers), and a state-changing request's
signature is taken once within its timestamp window, while read-only queries stay repeatable.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from relayroom.auth import tc3
from relayroom.control.cloudapi.actions import ACTIONS
from relayroom.control.cloudapi.replay import InMemoryReplayCache, ReplayCacheFull
from relayroom.control.container import ContainerParams
from tests.control.cloudapi.server import Live, live_server, settings_for

pytestmark = pytest.mark.timeout(120)

# Parameters of the actions the SDK version we test against does not model (TRTC's API reference).
NOT_IN_SDK = {
    "SetUserBlocked": {"SdkAppId", "RoomId", "UserId", "IsMute"},
    "SetUserBlockedByStrRoomId": {"SdkAppId", "StrRoomId", "UserId", "IsMute"},
}


class AllowAll:
    """Rate limiter that allows everything: these tests send many requests per second on purpose."""

    async def allow(self, secret_id: str, cls: str, limit: int) -> bool:
        return True


UNLIMITED = ContainerParams(rate_limiter=AllowAll())


def sample_body(action: str, sdkappid: int, now: int) -> dict[str, Any]:
    """A complete, valid body of ``action`` (every parameter it defines)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    values: dict[str, Any] = {
        "SdkAppId": sdkappid,
        "SdkAppid": sdkappid,
        "RoomId": "room1" if "StrRoomId" in action or action == "DescribeRoomInfo" else 1234,
        "StrRoomId": "room1",
        "UserIds": ["bob"],
        "UserId": "bob",
        "IsMute": 1,
        "StartTime": now - 600,
        "EndTime": now - 60,
        "PageNumber": 0,
        "PageSize": 6,
        "CommId": f"{sdkappid}_1234_{now - 600}",
        "DataType": ["aBit"],
    }
    if action == "DescribeUserEvent":
        values["RoomId"] = "1234"
    if action == "DescribeTrtcUsage":
        values.update(StartTime=day, EndTime=day)
    if action == "DescribeTrtcRoomUsage":
        values.update(
            StartTime=time.strftime("%Y-%m-%d %H:%M", time.gmtime(now - 3600)),
            EndTime=time.strftime("%Y-%m-%d %H:%M", time.gmtime(now - 60)),
        )
    return {name: values[name] for name in ACTIONS[action].params}


async def send(
    live: Live,
    action: str,
    body: dict[str, Any],
    sid: str,
    key: str,
    ts: int,
    *,
    signed_for: str | None = None,
    sign_action: bool = False,
) -> dict[str, Any]:
    """POST / with X-TC-Action ``action``, signed as the SDK would for ``signed_for`` (default: the same)."""
    payload = json.dumps(body).encode()
    also = {"x-tc-action": signed_for or action} if sign_action else None
    headers = {
        "Content-Type": "application/json",
        "X-TC-Action": action,
        "X-TC-Version": "2019-07-22",
        "X-TC-Timestamp": str(ts),
        "Authorization": tc3.sign_request(
            secret_id=sid, secret_key=key, host=live.host, payload=payload, timestamp=ts, also_sign=also
        ),
    }
    r = await live.http.post("/", content=payload, headers=headers)
    assert r.status_code == 200
    out: dict[str, Any] = r.json()["Response"]
    return out


def code(resp: dict[str, Any]) -> str | None:
    found: str | None = resp.get("Error", {}).get("Code")
    return found


def test_every_action_defines_exactly_the_parameters_of_the_sdks_request_model() -> None:
    from tencentcloud.trtc.v20190722 import models

    for name, spec in ACTIONS.items():
        model = getattr(models, f"{name}Request", None)
        expected = NOT_IN_SDK[name] if model is None else {k.lstrip("_") for k in vars(model())}
        assert set(spec.params) == expected, name


def test_only_room_management_actions_are_state_changing() -> None:
    changing = {name for name, spec in ACTIONS.items() if spec.changes_state}
    assert changing == {n for n in ACTIONS if not n.startswith("Describe")}


async def test_a_body_signed_for_one_action_is_no_valid_body_of_any_other(tmp_path: Path) -> None:
    """Every ordered pair of actions: A's complete body under X-TC-Action B is refused at the parameter
    checks (UnknownParameter, or B's own Missing/InvalidParameter) and never changes anything; only a
    query may accept another query's complete body. The signature is the same for every pair (one
    captured request): once a state-changing action took it, it is spent."""
    async with live_server(settings_for(tmp_path / "data"), params=UNLIMITED) as live:
        assert live.first is not None
        sid, key = await live.credential()
        now = int(time.time())
        for a, b in itertools.permutations(ACTIONS, 2):
            body = sample_body(a, live.first.sdkappid, now)
            got = code(await send(live, b, body, sid, key, now, signed_for=a))
            assert got != "InternalError", (a, b)
            if set(body) - ACTIONS[b].params:
                assert got == "UnknownParameter", (a, b, got)
            elif ACTIONS[b].changes_state:
                refused = ("MissingParameter", "InvalidParameter", "AuthFailure.SignatureReplay")
                assert got is not None and got.startswith(refused), (a, b, got)
            # else: a query that takes all of A's parameters answers what the signer may read anyway


async def test_an_unknown_parameter_is_refused_by_every_action(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "data"), params=UNLIMITED) as live:
        assert live.first is not None
        sid, key = await live.credential()
        now = int(time.time())
        for action in ACTIONS:
            body = {**sample_body(action, live.first.sdkappid, now), "Extra": 1}
            resp = await send(live, action, body, sid, key, now)
            assert code(resp) == "UnknownParameter", action
            assert "`Extra`" in resp["Error"]["Message"]


async def test_a_state_changing_request_is_taken_once_and_a_read_repeats(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "data"), params=UNLIMITED) as live:
        assert live.first is not None
        sid, key = await live.credential()
        now = int(time.time())
        app = live.first.sdkappid
        for action in ACTIONS:
            body = sample_body(action, app, now)
            first = await send(live, action, body, sid, key, now)
            assert code(first) != "AuthFailure.SignatureReplay", action
            again = await send(live, action, body, sid, key, now)
            if ACTIONS[action].changes_state:
                assert code(again) == "AuthFailure.SignatureReplay", action
                assert "already accepted" in again["Error"]["Message"]
                # the same action, newly signed (a later timestamp), is taken
                fresh = await send(live, action, body, sid, key, now + 1)
                assert code(fresh) != "AuthFailure.SignatureReplay", action
            else:
                assert code(again) == code(first), action  # a query may be repeated at once
        # concurrent copies of one signed request: exactly one is taken
        body = {"SdkAppId": app, "RoomId": 999}
        results = await asyncio.gather(*(send(live, "DismissRoom", body, sid, key, now) for _ in range(8)))
        assert sorted(code(r) == "AuthFailure.SignatureReplay" for r in results) == [False] + [True] * 7


async def test_x_tc_action_may_be_signed_and_then_binds_the_signature(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "data")) as live:
        assert live.first is not None
        sid, key = await live.credential()
        now = int(time.time())
        body = {"SdkAppId": live.first.sdkappid, "RoomId": 4242}
        ok = await send(live, "DismissRoom", body, sid, key, now, sign_action=True)
        assert code(ok) == "FailedOperation.RoomNotExist"  # authenticated, executed, no such room
        swapped = await send(
            live, "DismissRoomByStrRoomId", body, sid, key, now + 1, signed_for="DismissRoom",
            sign_action=True,
        )
        assert code(swapped) == "AuthFailure.SignatureFailure"


async def test_a_body_over_one_mib_is_refused_in_the_envelope_before_it_is_read(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "data")) as live:
        r = await live.http.post(
            "/", content=b"{" + b" " * (1 << 20) + b"}", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json()["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded"


async def test_a_deeply_nested_body_is_a_clear_invalid_parameter(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "data")) as live:
        sid, key = await live.credential()
        now = int(time.time())
        payload = b'{"SdkAppId": ' + b"[" * 2000 + b"]" * 2000 + b"}"
        headers = {
            "Content-Type": "application/json",
            "X-TC-Action": "DescribeScaleInfo",
            "X-TC-Version": "2019-07-22",
            "X-TC-Timestamp": str(now),
            "Authorization": tc3.sign_request(
                secret_id=sid, secret_key=key, host=live.host, payload=payload, timestamp=now
            ),
        }
        r = await live.http.post("/", content=payload, headers=headers)
        err = r.json()["Response"]["Error"]
        assert err["Code"] == "InvalidParameter" and "nested deeper than 32" in err["Message"]


async def test_the_replay_cache_forgets_after_the_window_and_refuses_when_full() -> None:
    now = [1000.0]
    cache = InMemoryReplayCache(clock=lambda: now[0], max_entries=2)
    assert await cache.add("a", 10) is True
    assert await cache.add("a", 10) is False
    assert await cache.add("b", 20) is True
    with pytest.raises(ReplayCacheFull):
        await cache.add("c", 10)
    now[0] += 10.5
    assert len(cache) == 1  # "a" expired, "b" remains
    assert await cache.add("a", 10) is True  # outside its window a signature would not verify anyway
    assert await cache.add("b", 10) is False


async def test_the_replay_cache_keeps_its_memory_bounded_under_a_flood() -> None:
    now = [0.0]
    cache = InMemoryReplayCache(clock=lambda: now[0], max_entries=1000)
    for i in range(20_000):
        now[0] = i / 20  # 20 requests per second, each remembered for 10 s
        assert await cache.add(f"k{i}", 10)
    assert len(cache) <= 201


def test_the_raw_sender_here_signs_what_the_official_sdk_signs() -> None:
    """Sanity for the helpers above: without also_sign the header is the SDK's shape."""
    h = tc3.sign_request(secret_id="AKID", secret_key="k", host="h", payload=b"{}", timestamp=1)
    assert "SignedHeaders=content-type;host," in h
    h = tc3.sign_request(
        secret_id="AKID", secret_key="k", host="h", payload=b"{}", timestamp=1, also_sign={"x-tc-action": "A"}
    )
    assert "SignedHeaders=content-type;host;x-tc-action," in h
