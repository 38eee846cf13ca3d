"""Two control planes on one PostgreSQL database: callbacks once, usage once, a purge once, and the
second node's start leaves the first node's live call records alone.

Honest scope: the two nodes are two complete apps (create_app with its lifespan, each served by its own
uvicorn on its own port, each with its own engine, connection pool, data dir and node id) in one test
process, not two OS processes. What is shared and raced is what a cluster shares: the database. Their
room managers run with the fake media backend of the room tests (room logic real, media not needed).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from relayroom.auth.usersig import gen_usersig
from relayroom.config import Settings
from relayroom.control.bootstrap import FirstStart
from relayroom.control.rooms.entry import AppEntryInfo
from relayroom.control.rooms.manager import EnterParams, RoomManager, RoomManagerParams
from relayroom.control.services import Services
from relayroom.control.usage.meter import UsageMeter
from relayroom.control.usage.tiers import Tier
from relayroom.control.webhooks.service import WebhookParams
from relayroom.storage.models import CallRoom, DeletionReceipt, RetentionJob, UsageBucket, WebhookDelivery
from tests.control.cloudapi.server import Live, live_server, settings_for
from tests.control.rooms.fakes import FakeDirectory, FakeMedia, RecordingSink
from tests.control.webhooks.receiver import receiver

pytestmark = [pytest.mark.timeout(180), pytest.mark.postgres, pytest.mark.slow]
FAST = WebhookParams(retry_interval_s=0.3, retry_window_s=5.0, timeout_s=5.0, poll_interval_s=0.05)
USERS_PER_NODE = 25  # each: room created, entered, exited, room closed = 4 callbacks; 2 nodes: 200


async def _until(cond: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _node(tmp_path: Path, name: str, database_url: str, keys: dict[str, Any]) -> Settings:
    return settings_for(tmp_path / name, database_url=database_url).model_copy(
        update=keys | {"node_id": f"node-{name}"}
    )


@pytest.fixture
def shared_keys(tmp_path: Path) -> dict[str, Any]:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "signing.pem").write_bytes(pem)
    return {"master_key": base64.b64encode(b"c" * 32).decode(), "signing_key_file": tmp_path / "signing.pem"}


def _manager(live: Live, first: FirstStart) -> RoomManager:
    directory = FakeDirectory(AppEntryInfo(first.sdkappid, "enabled", "local", (first.secret_key,)))
    return RoomManager(
        RoomManagerParams(
            media=FakeMedia(),
            directory=directory,
            node_region="local",
            observer=live.app.state.room_observers,
        )
    )


@asynccontextmanager
async def _rooms(live: Live, first: FirstStart) -> AsyncIterator[RoomManager]:
    manager = _manager(live, first)
    await manager.start()
    try:
        yield manager
    finally:
        await manager.close()


def _enter(first: FirstStart, user: str, room: int) -> EnterParams:
    sig = gen_usersig(first.sdkappid, first.secret_key, user, 3600)
    return EnterParams(sdkappid=first.sdkappid, user_id=user, user_sig=sig, room_id=room)


async def _script(manager: RoomManager, first: FirstStart, node: str) -> list[tuple[int, int, str | None]]:
    """Each user alone in a room of its own: 101, 103, 104, 102. Returns the callbacks expected."""
    expected: list[tuple[int, int, str | None]] = []
    base = 10_000 if node == "a" else 20_000
    for i in range(USERS_PER_NODE):
        user, room = f"{node}-user-{i}", base + i
        p = await manager.enter(_enter(first, user, room), RecordingSink())
        await manager.exit(p)
        expected += [(101, room, user), (103, room, user), (104, room, user), (102, room, None)]
        await asyncio.sleep(0)  # interleave with the other node
    return expected


async def _open_rooms(live: Live, node_id: str) -> int:
    services: Services = live.app.state.services
    async with services.ctx.db.read() as s:
        q = (
            select(func.count())
            .select_from(CallRoom)
            .where(CallRoom.node_id == node_id, CallRoom.destroy_ts.is_(None))
        )
        return int((await s.execute(q)).scalar_one())


async def test_two_control_planes_on_one_database(
    tmp_path: Path, pg_database: str, shared_keys: dict[str, Any]
) -> None:
    a_cfg = _node(tmp_path, "a", pg_database, shared_keys)
    b_cfg = _node(tmp_path, "b", pg_database, shared_keys)
    async with receiver() as rcv, live_server(a_cfg, state={"webhook_params": FAST}) as a:
        assert a.first is not None
        first = a.first
        r = await a.http.put(
            f"/api/v1/applications/{first.sdkappid}/callback", headers=a.admin, json={"url": rcv.url}
        )
        assert r.status_code == 200, r.text
        async with _rooms(a, first) as rooms_a:
            # A live call on node A, then node B starts on the same database
            holder = await rooms_a.enter(_enter(first, "holder", 7000), RecordingSink())
            await _until(lambda: len(rcv.acked()) >= 2)  # 101, 103 of the holder's room
            await a.app.state.call_history.drain()
            assert await _open_rooms(a, "node-a") == 1
            async with live_server(
                b_cfg, state={"webhook_params": FAST}, login=(first.username, first.password)
            ) as b:
                assert b.first is None  # the database was set up already
                assert await _open_rooms(a, "node-a") == 1, "starting node B closed node A's live call"

                # 200 room events, half on each node, both delivery loops racing for the outbox
                t0 = time.monotonic()
                async with _rooms(b, first) as rooms_b:
                    got = await asyncio.gather(_script(rooms_a, first, "a"), _script(rooms_b, first, "b"))
                print(f"script ran in {time.monotonic() - t0:.1f} s")
                expected = got[0] + got[1]
                assert len(expected) == 200
                wanted = Counter(expected)

                def script_acks() -> list[tuple[int, int, str | None]]:
                    return [
                        (
                            x.json["EventType"],
                            int(x.json["EventInfo"]["RoomId"]),  # 102 carries it as a string
                            x.json["EventInfo"].get("UserId"),
                        )
                        for x in rcv.acked()
                        if int(x.json["EventInfo"]["RoomId"]) != 7000
                    ]

                t0 = time.monotonic()
                await _until(lambda: len(script_acks()) >= 200)
                print(f"200 callbacks delivered {time.monotonic() - t0:.1f} s after the script")
                await asyncio.sleep(1.0)  # a second sender would have sent by now
                assert Counter(script_acks()) == wanted  # every callback, each exactly once
                assert all(n == 1 for n in rcv.seen.values()), "a callback was sent twice"
                services: Services = b.app.state.services
                async with services.ctx.db.read() as s:
                    states = Counter(
                        (await s.execute(select(WebhookDelivery.state, WebhookDelivery.claimed_by))).all()
                    )
                assert states == Counter({("delivered", None): 202}), states

                await _one_purge(a, b, first)
                await _usage_once(a, b)
            assert await _open_rooms(a, "node-a") == 1  # node B stopped: A's call is still open
            await rooms_a.exit(holder)


async def _one_purge(a: Live, b: Live, first: FirstStart) -> None:
    """A terminated application's purge, run by both nodes at once: one purge, one receipt."""
    r = await a.http.post(
        f"/api/v1/accounts/{first.account_id}/applications", headers=a.admin, json={"name": "gone"}
    )
    assert r.status_code == 201, r.text
    sdkappid = r.json()["sdkappid"]
    r = await a.http.post(f"/api/v1/applications/{sdkappid}/terminate", headers=a.admin)
    assert r.status_code == 200, r.text
    sa: Services = a.app.state.services
    sb: Services = b.app.state.services
    later = sa.ctx.clock.now() + timedelta(days=2)
    jobs = await sa.retention.due_jobs(later)
    assert len(jobs) == 1
    outcomes = await asyncio.gather(*(svc.retention.run_job(jobs[0], later) for svc in (sa, sb, sa, sb)))
    assert len([o for o in outcomes if o is not None]) == 1, outcomes
    async with sa.ctx.db.read() as s:
        job = await s.get(RetentionJob, jobs[0])
        assert job is not None and job.state == "completed"
        receipts = (await s.execute(select(func.count()).select_from(DeletionReceipt))).scalar_one()
    assert receipts == 1


USAGE_SCRIPT = [
    (room, f"u{u}", tier, 0.5 * (1 + (room + u) % 7), 1_764_547_200.0 + 60 * step)
    for room in (1, 2, 3)
    for u in range(4)
    for tier in (Tier.AUDIO, Tier.HD)
    for step in range(12)  # an hour: 5-minute rows, and one day row folding them
]


async def _flush_script(meters: list[UsageMeter], sdkappid: int) -> None:
    """The script in rounds, spread over the meters, every meter flushing each round at once."""
    for start in range(0, len(USAGE_SCRIPT), 24):
        for i, (room, user, tier, secs, at) in enumerate(USAGE_SCRIPT[start : start + 24]):
            meters[i % len(meters)].add(sdkappid, room, user, tier, secs, at)
        await asyncio.gather(*(m.flush() for m in meters))


async def _totals(services: Services, sdkappid: int) -> dict[tuple[Any, ...], tuple[float, ...]]:
    async with services.ctx.db.read() as s:
        rows = (await s.execute(select(UsageBucket).where(UsageBucket.sdkappid == sdkappid))).scalars()
        return {
            (r.granularity, r.bucket_start, r.room_id, r.user_id): (r.audio_s, r.sd_s, r.hd_s, r.fhd_s)
            for r in rows
        }


async def _usage_once(a: Live, b: Live) -> None:
    """The same usage script: both nodes flushing into one app, one node alone into another; equal."""
    meter_a: UsageMeter = a.app.state.usage_meter
    meter_b: UsageMeter = b.app.state.usage_meter
    await _flush_script([meter_a, meter_b], 900_001)
    await _flush_script([meter_a], 900_002)
    two = await _totals(a.app.state.services, 900_001)
    one = await _totals(a.app.state.services, 900_002)
    assert two == one and len(one) == 3 * 4 * (3 + 1)  # per room and user: three 5-minute rows, one day row
    day_audio = sum(v[0] for k, v in one.items() if k[0] == "day")
    assert day_audio == sum(s for _, _, t, s, _ in USAGE_SCRIPT if t is Tier.AUDIO)
