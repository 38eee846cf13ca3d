"""Every cloud-API room action, and the console's live rooms, work when sent to a node that does not own
the room: two real `relayroom serve` processes on one PostgreSQL and the shared Redis, Python clients in
rooms owned by one node, the official TRTC SDK (and TC3-signed requests for SetUserBlocked, which the
SDK version pinned here lacks) pointed at the other. /metrics of both nodes show the cluster. A room
whose owner was just SIGKILLed answers with a retryable error at once, not a hang.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient
from tests.cluster.processes import Cluster, Node, cluster
from tests.control.cloudapi.server import call, tc3_post, trtc_client

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("error:.*fileds are useless"),
]
ROOM = 5151
STR_ROOM = "lobby 7"


async def _join(c: Cluster, via: Node, user: str, **room: Any) -> RelayRoomClient:
    client = RelayRoomClient(via.signal_url)
    await client.enter_room(
        sdk_app_id=c.first.sdkappid,
        user_id=user,
        user_sig=gen_usersig(c.first.sdkappid, c.first.secret_key, user, 3600),
        **room,
    )
    return client


async def _raw(node: Node, action: str, body: dict[str, Any], sid: str, key: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=node.url, trust_env=False, timeout=30) as http:
        return await tc3_post(http, node.host, action, body, sid, key)


async def _credential(c: Cluster, node: Node) -> tuple[str, str]:
    admin = await asyncio.to_thread(c.login, node)
    async with httpx.AsyncClient(base_url=node.url, trust_env=False, timeout=30) as http:
        [account] = (await http.get("/api/v1/me", headers=admin)).json()["accounts"]
        r = await http.post(f"/api/v1/accounts/{account['id']}/credentials", headers=admin)
        assert r.status_code == 201, r.text
        return r.json()["secret_id"], r.json()["secret_key"]


async def _scrape(node: Node) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        text = (await http.get(f"{node.url}/metrics")).text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if labels.items() <= lab.items())


@asynccontextmanager
async def _clients() -> AsyncIterator[list[RelayRoomClient]]:
    clients: list[RelayRoomClient] = []
    try:
        yield clients
    finally:
        await asyncio.gather(*(cl.close() for cl in clients), return_exceptions=True)


async def test_every_room_action_works_from_a_node_that_does_not_own_the_room(
    tmp_path: Path, pg_database: str, redis_url: str
) -> None:
    with cluster(tmp_path, pg_database, redis_url, nodes=2) as c:
        app_id = c.first.sdkappid
        async with _clients() as clients:
            alice = await _join(c, c.nodes[0], "alice", room_id=ROOM)
            clients.append(alice)
            owner = c.of_url(alice.url)  # placement may have sent alice on: the node she is on owns it
            other = next(n for n in c.nodes if n is not owner)
            bob = await _join(c, other, "bob", room_id=ROOM)  # entered through the other node
            clients.append(bob)
            assert c.of_url(bob.url) is owner and bob.redirected_from == [other.signal_url]
            sid, key = await _credential(c, other)
            sdk = trtc_client(other.host, sid, key)

            # DescribeRoomInfo / DescribeUserInfo: the owner's history, flushed on request
            now = int(time.time())
            window = {"SdkAppId": app_id, "StartTime": now - 600, "EndTime": now + 5}
            rooms = await call(sdk, "DescribeRoomInfo", window)
            assert rooms.Total == 1 and rooms.RoomList[0].RoomString == str(ROOM)
            assert rooms.RoomList[0].IsFinished is False
            comm = rooms.RoomList[0].CommId
            users = await call(sdk, "DescribeUserInfo", dict(window, CommId=comm))
            assert sorted((u.UserId, u.Finished) for u in users.UserList) == [
                ("alice", False),
                ("bob", False),
            ]

            # the console's live rooms, asked of the other node: the owner's room and members
            admin = await asyncio.to_thread(c.login, other)
            async with httpx.AsyncClient(base_url=other.url, trust_env=False, timeout=30) as http:
                r = await http.get(f"/api/v1/applications/{app_id}/rooms", headers=admin)
            assert r.status_code == 200, r.text
            [live] = r.json()
            assert live["roomId"] == ROOM
            assert {(m["userId"], m["node"]) for m in live["members"]} == {
                ("alice", owner.name),
                ("bob", owner.name),
            }

            # SetUserBlocked through the other node: bob's audio is blocked on the owner
            resp = await _raw(
                other,
                "SetUserBlocked",
                {"SdkAppId": app_id, "RoomId": ROOM, "UserId": "bob", "IsMute": 2},
                sid,
                key,
            )
            assert "Error" not in resp, resp
            resp = await _raw(
                other,
                "SetUserBlocked",
                {"SdkAppId": app_id, "RoomId": ROOM, "UserId": "nobody", "IsMute": 1},
                sid,
                key,
            )
            assert resp["Error"]["Code"] == "InvalidParameter.UserId", resp

            # RemoveUser: bob is removed on the owner and told why
            await call(sdk, "RemoveUser", {"SdkAppId": app_id, "RoomId": ROOM, "UserIds": ["bob"]})
            assert (await bob.wait_for_event("kicked-out", within=10)).data["reason"] == "banned"
            await alice.wait_for_event("remote-user-exit", lambda d: d["userId"] == "bob", within=10)

            # DismissRoom ends the room; the call history read through the other node says so
            await call(sdk, "DismissRoom", {"SdkAppId": app_id, "RoomId": ROOM})
            assert (await alice.wait_for_event("kicked-out", within=10)).data["reason"] == "room_disband"
            rooms = await call(sdk, "DescribeRoomInfo", dict(window, EndTime=int(time.time()) + 5))
            assert rooms.RoomList[0].IsFinished is True
            await asyncio.sleep(1.1)  # a new X-TC-Timestamp: the same signed request is taken once
            with pytest.raises(Exception, match="RoomNotExist"):
                await call(sdk, "DismissRoom", {"SdkAppId": app_id, "RoomId": ROOM})

            # the ...ByStrRoomId forms, on a string room entered at the owner
            carol = await _join(c, owner, "carol", str_room_id=STR_ROOM)
            clients.append(carol)
            assert c.of_url(carol.url) is owner or c.of_url(carol.url) is other
            str_owner = c.of_url(carol.url)
            asked = next(n for n in c.nodes if n is not str_owner)
            sdk2 = trtc_client(asked.host, sid, key)
            resp = await _raw(
                asked,
                "SetUserBlockedByStrRoomId",
                {"SdkAppId": app_id, "StrRoomId": STR_ROOM, "UserId": "carol", "IsMute": 1},
                sid,
                key,
            )
            assert "Error" not in resp, resp
            await call(
                sdk2, "RemoveUserByStrRoomId", {"SdkAppId": app_id, "RoomId": STR_ROOM, "UserIds": ["carol"]}
            )
            assert (await carol.wait_for_event("kicked-out", within=10)).data["reason"] == "banned"
            dave = await _join(c, str_owner, "dave", str_room_id=STR_ROOM)
            clients.append(dave)
            await call(sdk2, "DismissRoomByStrRoomId", {"SdkAppId": app_id, "RoomId": STR_ROOM})
            await dave.wait_for_event("kicked-out", lambda d: d["reason"] == "room_disband", within=10)

            # /metrics of each node: itself, both nodes live, Redis and PostgreSQL up, bob's redirect
            for node in c.nodes:
                samples = await _scrape(node)
                [(info, _)] = samples["relayroom_node_info"]
                assert info["node"] == node.name
                assert _value(samples, "relayroom_redis_up") == 1
                assert _value(samples, "relayroom_database_up") == 1
                assert _value(samples, "relayroom_cluster_nodes", state="live") == 2
            assert _value(await _scrape(other), "relayroom_entry_redirects_total") >= 1

            # the owner dies: an action on its room fails at once with a retryable error
            erin = await _join(c, owner, "erin", room_id=ROOM + 1)
            clients.append(erin)
            erin_owner = c.of_url(erin.url)
            asked = next(n for n in c.nodes if n is not erin_owner)
            await asyncio.to_thread(c.kill, erin_owner)
            t0 = time.monotonic()
            resp = await _raw(
                asked, "RemoveUser", {"SdkAppId": app_id, "RoomId": ROOM + 1, "UserIds": ["erin"]}, sid, key
            )
            assert time.monotonic() - t0 < 5.0
            assert resp["Error"]["Code"] == "ResourceUnavailable", resp
            assert "retry" in resp["Error"]["Message"]
