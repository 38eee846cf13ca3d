"""Callbacks end to end: a scripted call through the RoomManager of a live app, a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.config import Settings
from relayroom.control.rooms.entry import AppEntryInfo
from relayroom.control.rooms.manager import EnterParams, RoomManager, RoomManagerParams
from relayroom.control.webhooks import body as cb_body
from relayroom.control.webhooks.service import WebhookParams
from tests.control.cloudapi.server import Live, live_server, settings_for
from tests.control.rooms.fakes import FakeDirectory, FakeMedia, RecordingSink
from tests.control.webhooks.receiver import Receiver, receiver
from tests.processes import free_port, start_server, wait_ready
from tests.serving import eventually

pytestmark = pytest.mark.timeout(90)
FAST = WebhookParams(retry_interval_s=0.3, retry_window_s=1.5, timeout_s=5.0, poll_interval_s=0.1)
KEY = "Cb0Key123"


class _StrictWallClock:
    """Wall time that advances by at least 1 ms per call, so every event has its own EventMsTs
    (bodies carry no unique id; the receiver tells events apart by type, time and user)."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self) -> float:
        self.last = max(time.time(), self.last + 0.001)
        return self.last


def _manager(live: Live) -> RoomManager:
    assert live.first is not None
    directory = FakeDirectory(AppEntryInfo(live.first.sdkappid, "enabled", "local", (live.first.secret_key,)))
    return RoomManager(
        RoomManagerParams(
            media=FakeMedia(),
            directory=directory,
            node_region="local",
            wall_clock=_StrictWallClock(),
            observer=live.app.state.room_observers,
        )
    )


def _enter(live: Live, user: str, **kw: Any) -> EnterParams:
    assert live.first is not None
    sig = gen_usersig(live.first.sdkappid, live.first.secret_key, user, 3600)
    return EnterParams(sdkappid=live.first.sdkappid, user_id=user, user_sig=sig, room_id=8489, **kw)


async def _configure(live: Live, url: str) -> None:
    assert live.first is not None
    r = await live.http.put(
        f"/api/v1/applications/{live.first.sdkappid}/callback",
        headers=live.admin,
        json={"url": url, "key": KEY},
    )
    assert r.status_code == 200, r.text
    assert r.json()["key_set"] is True and r.json()["key"] is None
    r = await live.http.get(f"/api/v1/applications/{live.first.sdkappid}/callback", headers=live.admin)
    assert r.json()["url"] == url and r.json()["key_set"] is True and r.json()["key"] is None


async def _recorded(live: Live, sdkappid: int, count: int) -> list[dict[str, Any]]:
    """The delivery log once it lists ``count`` deliveries, all delivered: the dispatcher records a
    delivery after it has read the receiver's answer, so just after the receiver saw it."""

    async def log() -> list[dict[str, Any]] | None:
        r = await live.http.get(f"/api/v1/applications/{sdkappid}/callback/deliveries", headers=live.admin)
        rows: list[dict[str, Any]] = r.json()
        return rows if len(rows) == count and {d["state"] for d in rows} == {"delivered"} else None

    rows: list[dict[str, Any]] | None = await eventually(log, within=10, what=f"{count} deliveries recorded")
    assert rows is not None
    return rows


async def _scripted_call(manager: RoomManager, live: Live) -> None:
    alice = await manager.enter(_enter(live, "alice", scene="live"), RecordingSink())
    await manager.publish(alice, "audio video", [])
    bob = await manager.enter(_enter(live, "bob", scene="live", role="audience"), RecordingSink())
    await manager.switch_role(bob, "anchor")
    await manager.publish(bob, "audio", [])
    await manager.mute(alice, "video", True)
    await manager.mute(alice, "video", False)
    sub = await manager.publish(alice, "video:sub", [])
    await manager.unpublish(alice, [sub.producers[0].producer_id])
    await manager.exit(bob)
    await manager.exit(alice)


EXPECTED = [
    (101, "alice"),
    (103, "alice"),
    (203, "alice"),
    (201, "alice"),
    (103, "bob"),
    (105, "bob"),
    (203, "bob"),
    (202, "alice"),
    (201, "alice"),
    (205, "alice"),
    (206, "alice"),
    (104, "bob"),
    (104, "alice"),
    (102, None),
]


async def test_receiver_gets_every_room_and_media_event_in_order_signed_with_the_callback_key(
    tmp_path: Path, settings: Settings
) -> None:
    # SQLite and PostgreSQL (the `settings` fixture's backends)
    cfg = settings_for(tmp_path / "d", database_url=settings.database_url)
    async with receiver() as rcv, live_server(cfg, state={"webhook_params": FAST}) as live:
        assert live.first is not None
        await _configure(live, rcv.url)
        manager = _manager(live)
        await manager.start()
        try:
            await _scripted_call(manager, live)
            await eventually(lambda: len(rcv.acked()) >= len(EXPECTED))
        finally:
            await manager.close()
        got = [(r.json["EventType"], r.json["EventInfo"].get("UserId")) for r in rcv.acked()]
        assert got == EXPECTED
        for r in rcv.acked():
            assert r.headers["content-type"] == "application/json"
            assert r.headers["sdkappid"] == str(live.first.sdkappid)
            assert cb_body.verify(KEY, r.body, r.headers["sign"])
            assert not cb_body.verify("wrong", r.body, r.headers["sign"])
            assert (
                r.body.startswith(b'{\n\t"EventGroupId":\t') and b'"EventInfo":\t{\n\t\t"RoomId":\t' in r.body
            )
            info = r.json["EventInfo"]
            assert abs(info["EventMsTs"] - info["EventTs"] * 1000) < 1000
            assert r.json["EventGroupId"] == (1 if r.json["EventType"] < 200 else 2)
        by_type = {r.json["EventType"]: r.json["EventInfo"] for r in rcv.acked()}
        assert (
            by_type[103]["Role"] in (20, 21) and by_type[103]["UserType"] == 1 and by_type[103]["Reason"] == 1
        )
        assert by_type[105]["Role"] == 20 and by_type[202]["Reason"] == 0
        assert by_type[104]["Reason"] == 1 and "UserId" not in by_type[102]
        assert by_type[101]["RoomId"] == 8489

        log = await _recorded(live, live.first.sdkappid, len(EXPECTED))
        assert all(d["attempts"] == 1 and d["last_status"] == 200 for d in log)
        assert all("body" not in d and "sign" not in d for d in log)


async def test_failing_receiver_gets_each_event_acknowledged_exactly_once_and_a_dead_one_is_given_up(
    tmp_path: Path,
) -> None:
    async with (
        receiver(Receiver(fail_first=2)) as rcv,
        live_server(settings_for(tmp_path / "d"), state={"webhook_params": FAST}) as live,
    ):
        assert live.first is not None
        await _configure(live, rcv.url)
        manager = _manager(live)
        await manager.start()
        try:
            await _scripted_call(manager, live)
            await eventually(lambda: len(rcv.acked()) >= len(EXPECTED))
            await asyncio.sleep(1.0)  # nothing more arrives
        finally:
            await manager.close()
        acked = [r.event_key for r in rcv.acked()]
        assert len(acked) == len(set(acked)) == len(EXPECTED)  # each event acknowledged exactly once
        assert Counter((k[0], k[3]) for k in acked) == Counter(EXPECTED)
        # each event: fail, the immediate retry fails, then the first 10 s (here 0.3 s) retry succeeds
        assert all(n == 3 for n in rcv.seen.values())
        log = await _recorded(live, live.first.sdkappid, len(EXPECTED))
        assert all(d["attempts"] == 3 for d in log)

        # a receiver that never succeeds: retried within the window, then marked failed
        rcv.always_fail = True
        rcv.received.clear()
        manager = _manager(live)
        await manager.start()
        try:
            p = await manager.enter(_enter(live, "carol"), RecordingSink())
            await manager.exit(p)
            await eventually(lambda: len(rcv.received) >= 3)
        finally:
            await manager.close()

        async def failed() -> list[dict[str, Any]]:
            r = await live.http.get(
                f"/api/v1/applications/{live.first.sdkappid}/callback/deliveries?state=failed",  # type: ignore[union-attr]
                headers=live.admin,
            )
            out: list[dict[str, Any]] = r.json()
            return out

        deadline = time.monotonic() + 10
        while len(await failed()) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        rows = await failed()
        assert len(rows) == 4  # 101, 103, 104, 102
        # TRTC: immediately, then every interval until the window after the first try has passed
        assert all(r["attempts"] == 2 + int(FAST.retry_window_s / FAST.retry_interval_s) for r in rows)
        assert all(r["last_status"] == 500 and r["finished_at"] for r in rows)


async def test_stopping_the_server_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "d"
    async with receiver(Receiver(hang_s=30.0)) as rcv:
        async with live_server(settings_for(data), state={"webhook_params": FAST}) as live:
            assert live.first is not None
            first = live.first
            await _configure(live, rcv.url)
            manager = _manager(live)
            await manager.start()
            p = await manager.enter(_enter(live, "dave"), RecordingSink())
            await eventually(lambda: len(rcv.seen) >= 1)  # the first delivery is in flight (hanging)
            # the server goes away while the receiver has not answered; the rest is only in the outbox
            await manager.exit(p)
            await manager.close()
        assert rcv.acked() == []
        rcv.hang_s = 0.0
        async with live_server(
            settings_for(data), state={"webhook_params": FAST}, login=(first.username, first.password)
        ) as live2:
            await eventually(lambda: len(rcv.acked()) >= 4)
            got = [(r.json["EventType"], r.json["EventInfo"].get("UserId")) for r in rcv.acked()]
            assert got == [(101, "dave"), (103, "dave"), (104, "dave"), (102, None)]
            await _recorded(live2, first.sdkappid, 4)


async def test_killing_the_server_process_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL of a real `relayroom serve` while a callback is in flight; the next start delivers it."""
    data = tmp_path / "d"
    async with receiver(Receiver(hang_s=60.0)) as rcv:
        # 1. events reach the outbox; their delivery hangs and the server stops before any answer
        async with live_server(settings_for(data), state={"webhook_params": FAST}) as live:
            assert live.first is not None
            first = live.first
            await _configure(live, rcv.url)
            manager = _manager(live)
            await manager.start()
            p = await manager.enter(_enter(live, "erin"), RecordingSink())
            await manager.exit(p)
            await manager.close()
            await eventually(lambda: len(rcv.seen) >= 1)
        attempts_before = sum(rcv.seen.values())
        # 2. a real server process picks the pending rows up and is killed while a delivery hangs
        port = free_port()
        proc = start_server(
            data,
            port,
            args=["--log-level", "warning"],
            env={"RELAYROOM_MEDIA__ENABLED": "false"},
            stdout=subprocess.DEVNULL,
        )
        try:
            await asyncio.to_thread(wait_ready, port, proc)
            await eventually(
                lambda: sum(rcv.seen.values()) > attempts_before, within=30, what="a delivery attempt"
            )
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.communicate)
        assert rcv.acked() == []
        # 3. the next start delivers every event, each acknowledged once
        rcv.hang_s = 0.0
        async with live_server(
            settings_for(data), state={"webhook_params": FAST}, login=(first.username, first.password)
        ) as live3:
            await eventually(lambda: len(rcv.acked()) >= 4)
            got = [(r.json["EventType"], r.json["EventInfo"].get("UserId")) for r in rcv.acked()]
            assert got == [(101, "erin"), (103, "erin"), (104, "erin"), (102, None)]
            await _recorded(live3, first.sdkappid, 4)
