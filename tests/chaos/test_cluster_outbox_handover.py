"""Chaos (cluster): the owner node is SIGKILLed while it is sending callbacks (the receiver holds its
requests unanswered), two real nodes on one PostgreSQL database and Redis.

Expected: the rows the dead node had claimed in the outbox are sent by the other node once their claim
lease has run out, and each of those callbacks is acknowledged exactly once.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.requests import Request
from starlette.responses import Response

from relayroom.client import RelayRoomClient
from relayroom.storage.models import WebhookDelivery
from tests.cluster.conftest import prefix, redis, redis_url
from tests.cluster.nodes import Cluster
from tests.control.webhooks.receiver import Received, Receiver, receiver
from tests.serving import eventually
from tests.soak.run import Console

__all__ = ["prefix", "redis", "redis_url"]

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres, pytest.mark.slow, pytest.mark.chaos_long]

ENTER_ROOM = 103


class FirstAttemptHangs(Receiver):
    """Each event's first request is never answered (the sender dies meanwhile); later ones are."""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        rec = Received(body, {}, 0)
        n = self.seen.get(rec.event_key, 0)
        self.seen[rec.event_key] = n + 1
        if n == 0:
            await asyncio.sleep(3600)
        return await self.handle_answered(rec)

    async def handle_answered(self, rec: Received) -> Response:
        rec.status = 200
        self.received.append(rec)
        return Response('{"code": 0}', media_type="application/json")


async def test_callbacks_claimed_by_a_dead_node_are_delivered_once_by_the_other(
    tmp_path: Path, pg_database: str, redis_url: str, prefix: str
) -> None:
    env = {"RELAYROOM_WEBHOOKS__TIMEOUT_S": "1", "RELAYROOM_WEBHOOKS__POLL_INTERVAL_S": "0.2"}
    cluster = Cluster(tmp_path, pg_database, redis_url, prefix, env)
    async with receiver(FirstAttemptHangs()) as rcv:
        member: RelayRoomClient | None = None
        try:
            a, b = await cluster.start_nodes("a", "b")
            console = Console(a)
            await console.login()
            r = await console.http.put(
                f"/api/v1/applications/{a.sdkappid}/callback", json={"url": rcv.url}, headers=console.headers
            )
            await console.close()
            assert r.status_code == 200, r.text
            member = RelayRoomClient(a.url, auto_reconnect=False)
            await member.enter_room(sdk_app_id=a.sdkappid, user_id="m", user_sig=a.usersig("m"), room_id=81)
            # a node is sending the enter callback: the receiver holds it; that node dies
            await eventually(lambda: any(k[0] == ENTER_ROOM for k in rcv.seen), 30, what="the first send")
            held = [k for k, n in rcv.seen.items() if n == 1]
            engine = create_async_engine(pg_database)
            try:
                async with engine.connect() as db:
                    query = select(WebhookDelivery.claimed_by).where(WebhookDelivery.state == "pending")
                    senders = {str(x) for x in (await db.execute(query)).scalars() if x}
            finally:
                await engine.dispose()
            assert len(senders) == 1, senders
            sender, other = (a, b) if senders == {"node-a"} else (b, a)
            sender.stop(signal.SIGKILL)
            await member.close()

            def delivered() -> bool:
                return all(rcv.seen.get(k, 0) >= 2 for k in held)

            await eventually(delivered, 90, 0.2, f"the other node ({other.base}) sending the held callbacks")
            await asyncio.sleep(3)  # a second copy would come within a few polls
            acked = [x.event_key for x in rcv.received]
            for k in held:
                assert acked.count(k) == 1, (k, acked)
        finally:
            if member is not None:
                await member.close()
            cluster.stop_all()
