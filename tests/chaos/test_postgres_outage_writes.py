"""Chaos: PostgreSQL away for 10 s under a live call, seen through a TCP proxy the test cuts (every
connection dropped, new ones refused) in front of the shared server, so nothing else is disturbed.

Expected: media keeps flowing; a member who leaves during the outage is in the call history and gets
its callback once the database is back — the room-event writes (call history, webhook outbox) are kept
and retried, not dropped — and each callback is delivered once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from relayroom.client import RelayRoomClient, SineAudioTrack
from relayroom.storage.models import CallUser, CallUserEvent
from tests.cluster.tcpproxy import CuttableProxy
from tests.control.webhooks.receiver import receiver
from tests.serving import eventually
from tests.soak.run import Console, Server

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres, pytest.mark.slow]

OUTAGE_S = 10.0
ROOM = 71
ENTER_ROOM, EXIT_ROOM = 103, 104


async def _enter(node: Server, user: str) -> RelayRoomClient:
    c = RelayRoomClient(node.url)
    await c.enter_room(sdk_app_id=node.sdkappid, user_id=user, user_sig=node.usersig(user), room_id=ROOM)
    return c


async def test_postgres_outage_media_flows_and_room_event_writes_are_retried_not_lost(
    tmp_path: Path, pg_database: str
) -> None:
    url = make_url(pg_database)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    node = Server(tmp_path / "data", workers=1, log=tmp_path / "node.log")
    console = Console(node)
    clients: list[RelayRoomClient] = []
    async with receiver() as rcv:
        try:
            node.start({"RELAYROOM_DATABASE_URL": proxied, "RELAYROOM_WEBHOOKS__POLL_INTERVAL_S": "0.2"})
            await node.wait_ready()
            await console.login()
            callback = f"/api/v1/applications/{node.sdkappid}/callback"
            r = await console.http.put(callback, json={"url": rcv.url}, headers=console.headers)
            assert r.status_code == 200, r.text
            anchor, watcher, leaver = [await _enter(node, u) for u in ("anchor", "watcher", "leaver")]
            clients += [anchor, watcher, leaver]
            await anchor.publish(audio_track=SineAudioTrack(700))
            track = await watcher.wait_remote_track("anchor", "audio", within=30)
            await track.wait_frames(10, within=30)
            entered = lambda: any(x.json["EventType"] == ENTER_ROOM for x in rcv.acked())  # noqa: E731
            await eventually(entered, 30, what="enter callbacks")

            await proxy.cut()
            cut_at = time.monotonic()
            await leaver.exit_room()  # its history rows and callback are written while the database is away
            while time.monotonic() - cut_at < OUTAGE_S:
                before = track.frames
                await asyncio.sleep(2.5)
                assert track.frames > before, "media stopped while the database was away"
            await proxy.restore()

            def exits() -> list[object]:
                return [
                    x
                    for x in rcv.acked()
                    if x.json["EventType"] == EXIT_ROOM and x.json["EventInfo"].get("UserId") == "leaver"
                ]

            await eventually(exits, 60, 0.2, "the exit callback of the member who left during the outage")
            await asyncio.sleep(2)  # a second copy would arrive within the delivery poll
            assert len(exits()) == 1
            engine = create_async_engine(pg_database)
            try:
                async with engine.connect() as db:
                    stay = (await db.execute(select(CallUser).where(CallUser.user_id == "leaver"))).one()
                    assert stay.leave_ts is not None
                    query = select(CallUserEvent.event_id).where(CallUserEvent.user_id == "leaver")
                    events = (await db.execute(query)).scalars()
                    assert sorted(events) == [103, 104]  # entered, exited: nothing lost, nothing doubled
            finally:
                await engine.dispose()
            await track.wait_frames(track.frames + 10, within=30)
        finally:
            for c in clients:
                await c.close()
            await console.close()
            node.stop()
            await proxy.cut()
