"""The client's side of subscriber offers against a scripted signalling server (no media flows): every
offer of the session is answered, a re-sent offer gets the same answer, offers of an ended session are
not answered, and a failure is reported as an `error` event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from relayroom.client import RelayRoomClient
from relayroom.media import sdp

pytestmark = pytest.mark.timeout(30)

OPUS = sdp.CodecInfo("audio/opus", 48000, 2, 111, None, "minptime=10;useinbandfec=1")
LOCAL = sdp.LocalTransport("srvufrag", "p" * 32, ":".join(["AB"] * 32), "127.0.0.1", 9)


def offer_sdp(version: int) -> str:
    line = sdp.SubscriberMLine("0", "audio", OPUS, 111, None, 1234, None, "pid-alice", "prod-a")
    return sdp.build_subscriber_offer([line], LOCAL, 42, version)


def offer_event(nid: int, version: int = 1) -> str:
    streams = [{"producerId": "prod-a", "userId": "alice", "kind": "audio", "streamType": "main", "mid": "0"}]
    data = {"negotiationId": nid, "sdp": offer_sdp(version), "streams": streams}
    return json.dumps({"v": 1, "type": "event", "event": "offer", "data": data})


def ok(rid: Any, data: dict[str, Any] | None = None) -> str:
    return json.dumps({"v": 1, "type": "response", "id": rid, "ok": True, "data": data or {}})


def refused(rid: Any, code: int, message: str) -> str:
    error = {"code": code, "extraCode": 0, "message": message}
    return json.dumps({"v": 1, "type": "response", "id": rid, "ok": False, "error": error})


ENTERED = {"participantId": "p1", "resumeToken": "rr_t", "roomKey": "k", "scene": "rtc", "role": "anchor",
           "heartbeatInterval": 30.0, "idleTimeout": 90.0, "members": []}  # fmt: skip


@dataclass
class Script:
    """What the fake server does per request type; records the answers it got."""

    handlers: dict[str, Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]] = field(
        default_factory=dict
    )
    answers: list[tuple[int, str]] = field(default_factory=list)
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Script]]:
    script = Script()

    async def handle(ws: ServerConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "answer":
                script.answers.append((msg["data"]["negotiationId"], msg["data"]["sdp"]))
                script.answered.set()
            handler = script.handlers.get(msg["type"])
            if handler is not None:
                await handler(ws, msg)
            else:
                await ws.send(ok(msg["id"]))

    async with serve(handle, "127.0.0.1", 0) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/signal", script


async def enter(client: RelayRoomClient) -> None:
    await client.enter_room(sdk_app_id=1, user_id="bob", user_sig="sig", room_id=1)


async def next_answer(script: Script, within: float = 10.0) -> tuple[int, str]:
    await asyncio.wait_for(script.answered.wait(), within)
    script.answered.clear()
    return script.answers[-1]


async def test_an_offer_that_overtakes_the_enter_response_is_answered(server: tuple[str, Script]) -> None:
    url, script = server

    async def on_enter(ws: ServerConnection, msg: dict[str, Any]) -> None:
        await ws.send(offer_event(1))  # even before the response: the client must keep it
        await ws.send(ok(msg["id"], ENTERED))

    script.handlers["enter"] = on_enter
    async with RelayRoomClient(url) as client:
        await enter(client)
        nid, answer = await next_answer(script)
        assert nid == 1 and "a=recvonly" in answer
        assert [e for e in client.event_log if e.name == "error"] == []


async def test_an_offer_sent_again_gets_the_same_answer_and_a_duplicate_refusal_is_no_error(
    server: tuple[str, Script],
) -> None:
    url, script = server
    answers_seen = 0

    async def on_answer(ws: ServerConnection, msg: dict[str, Any]) -> None:
        nonlocal answers_seen
        answers_seen += 1
        if answers_seen == 1:
            await ws.send(ok(msg["id"]))
        else:  # the server had it already
            await ws.send(refused(msg["id"], 5100, "no offer with this negotiationId is waiting"))

    script.handlers["answer"] = on_answer
    async with RelayRoomClient(url) as client:
        await enter(client)
        await push(script, client, offer_event(1))
        first = await next_answer(script)
        await push(script, client, offer_event(1))  # sent again: our answer did not arrive in time
        second = await next_answer(script)
        assert first == second and first[0] == 1
        await asyncio.sleep(0.2)
        assert [e for e in client.event_log if e.name == "error"] == []


async def push(script: Script, client: RelayRoomClient, event: str) -> None:
    """Deliver a server event on the client's socket: the next heartbeat's response carries it."""
    previous = script.handlers.get("heartbeat")

    async def on_heartbeat(ws: ServerConnection, msg: dict[str, Any]) -> None:
        await ws.send(event)
        await ws.send(ok(msg["id"], {"inRoom": True}))

    script.handlers["heartbeat"] = on_heartbeat
    try:
        await client.request("heartbeat")
    finally:
        if previous is None:
            script.handlers.pop("heartbeat", None)
        else:
            script.handlers["heartbeat"] = previous


async def test_offers_of_a_session_that_ended_are_not_answered(server: tuple[str, Script]) -> None:
    url, script = server

    async def on_exit(ws: ServerConnection, msg: dict[str, Any]) -> None:
        await ws.send(offer_event(2, version=2))  # renegotiation racing the exit
        await ws.send(ok(msg["id"]))

    script.handlers["exit"] = on_exit
    async with RelayRoomClient(url) as client:
        await enter(client)
        await push(script, client, offer_event(1))
        assert (await next_answer(script))[0] == 1
        await client.exit_room()
        await asyncio.sleep(0.5)
        assert [nid for nid, _ in script.answers] == [1]
        assert [e for e in client.event_log if e.name == "error"] == []


async def test_an_offer_that_cannot_be_applied_is_reported_as_an_error_event(
    server: tuple[str, Script],
) -> None:
    url, script = server
    async with RelayRoomClient(url) as client:
        await enter(client)
        broken = json.loads(offer_event(1))
        broken["data"]["sdp"] = broken["data"]["sdp"].replace("a=ice-ufrag:srvufrag\r\n", "")
        await push(script, client, json.dumps(broken))
        error = await client.wait_for_event("error", within=10)
        assert error.data["reason"] == "offer_failed" and error.data["negotiationId"] == 1
        assert error.data["code"] == 5500
        # the server sends it again (fixed): it is answered
        await push(script, client, offer_event(1))
        assert (await next_answer(script))[0] == 1
