"""The /signal WebSocket over a real socket: protocol errors, enter/exit, events, resume, custom messages."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from relayroom.control.rooms.errors import ErrorCode
from relayroom.control.rooms.manager import RoomLimits, RoomManager, RoomManagerParams
from relayroom.control.signaling.endpoints import router
from relayroom.control.signaling.protocol import MAX_FRAME_BYTES, BadMessage, ProtocolError, parse_request
from tests.control.rooms.fakes import REGION, SDKAPPID, FakeDirectory, FakeMedia, make_manager, usersig
from tests.control.signaling.server import RunningServer, serve
from tests.serving import served_asgi

pytestmark = pytest.mark.timeout(30)


def connect(url: str) -> ws_connect:
    # Unbounded client queue: a test socket that leaves events unread must still close at once.
    return ws_connect(url, max_queue=None)


class Wire:
    """A raw protocol client: requests with ids, events collected on the side."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._next = 0

    async def recv(self) -> dict[str, Any]:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        return msg

    async def response(self, rid: Any) -> dict[str, Any]:
        while True:
            msg = await self.recv()
            if msg["type"] == "event":
                self.events.append((msg["event"], msg["data"]))
            elif msg["id"] == rid:
                return msg

    async def raw(self, text: str | bytes) -> dict[str, Any]:
        await self.ws.send(text)
        return await self.response(None)

    async def request(self, rtype: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next += 1
        await self.ws.send(json.dumps({"v": 1, "id": self._next, "type": rtype, "data": data or {}}))
        return await self.response(self._next)

    async def enter(self, user: str, **kw: Any) -> dict[str, Any]:
        data = {"sdkAppId": SDKAPPID, "userId": user, "userSig": usersig(user), "roomId": 1234, **kw}
        return await self.request("enter", data)

    async def wait_event(self, name: str) -> dict[str, Any]:
        for i, (ev, data) in enumerate(self.events):
            if ev == name:
                del self.events[i]
                return data
        while True:
            msg = await self.recv()
            if msg["type"] == "event":
                if msg["event"] == name:
                    return dict(msg["data"])
                self.events.append((msg["event"], msg["data"]))


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    m, _, _ = make_manager()
    async with serve(m) as running:
        yield running


@pytest.fixture
async def wire(server: RunningServer) -> AsyncIterator[Wire]:
    async with connect(server.url) as ws:
        yield Wire(ws)


def error_of(msg: dict[str, Any]) -> tuple[int, int]:
    assert msg["ok"] is False, msg
    return msg["error"]["code"], msg["error"]["extraCode"]


async def test_malformed_messages_get_documented_errors_and_the_socket_keeps_working(wire: Wire) -> None:
    assert error_of(await wire.raw("{not json")) == (5000, ProtocolError.MALFORMED_JSON)
    assert error_of(await wire.raw("[1, 2]")) == (5000, ProtocolError.MALFORMED_JSON)
    assert error_of(await wire.raw(b"\x00\x01")) == (5000, ProtocolError.BINARY_FRAME)
    assert error_of(await wire.raw('{"v": 9, "type": "heartbeat"}')) == (
        5000,
        ProtocolError.UNSUPPORTED_VERSION,
    )
    deep = '{"v": 1, "type": "heartbeat", "data": ' + '{"a": ' * 40 + "1" + "}" * 41
    assert error_of(await wire.raw(deep)) == (5000, ProtocolError.JSON_TOO_DEEP)
    assert error_of(await wire.raw("[" * 5000)) == (5000, ProtocolError.JSON_TOO_DEEP)
    r = await wire.raw('{"v": 1, "id": null, "type": "fly"}')
    assert error_of(r) == (5000, ProtocolError.UNKNOWN_TYPE)
    r = await wire.request("enter", {"sdkAppId": "1400000001", "userId": 5, "userSig": "x"})
    assert error_of(r) == (5000, ProtocolError.INVALID_FIELDS)
    assert "userId" in r["error"]["message"] and "sdkAppId" in r["error"]["message"]
    r = await wire.request("publish", {"sdp": "audio"})
    assert error_of(r)[0] == ErrorCode.NOT_IN_ROOM
    ok = await wire.request("heartbeat")
    assert ok["ok"] is True and ok["data"] == {"inRoom": False}
    r = await wire.enter("alice")
    assert r["ok"] is True and r["data"]["role"] == "anchor"


async def test_a_frame_over_64_kib_closes_the_socket_with_1009_and_the_member_can_resume(
    server: RunningServer,
) -> None:
    async with connect(server.url) as ws:
        wire = Wire(ws)
        token = (await wire.enter("alice"))["data"]["resumeToken"]
        big = json.dumps({"v": 1, "type": "heartbeat", "pad": "x" * MAX_FRAME_BYTES})
        await ws.send(big)
        with pytest.raises(ConnectionClosed) as exc:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009
    async with connect(server.url) as ws2:
        r = await Wire(ws2).request("resume", {"resumeToken": token})
        assert r["ok"] is True


def test_the_protocol_refuses_a_frame_over_64_kib_where_the_server_limit_is_higher() -> None:
    big = json.dumps({"v": 1, "type": "heartbeat", "pad": "x" * MAX_FRAME_BYTES})
    with pytest.raises(BadMessage) as exc:
        parse_request(big)
    assert exc.value.extra_code == ProtocolError.FRAME_TOO_LARGE


async def test_sigterm_tells_every_client_why_before_the_socket_closes() -> None:
    m, _, _ = make_manager()
    async with serve(m) as running, connect(running.url) as ws_a, connect(running.url) as ws_b:
        a, b = Wire(ws_a), Wire(ws_b)
        assert (await a.enter("alice"))["ok"] and (await b.enter("bob"))["ok"]
        assert running.server is not None
        running.server.should_exit = True  # what uvicorn's SIGTERM handler does
        for wire in (a, b):
            data = await wire.wait_event("server-shutdown")
            assert data["reason"] == "server_shutdown" and data["message"]
            with pytest.raises(ConnectionClosed) as exc:
                await asyncio.wait_for(wire.ws.recv(), 5)
            assert exc.value.rcvd is not None
            assert (exc.value.rcvd.code, exc.value.rcvd.reason) == (1001, "server shutting down")


async def test_enter_refusals_arrive_on_the_channel_with_trtc_codes(wire: Wire) -> None:
    r = await wire.enter("alice", userSig=usersig("alice", key="c" * 64))
    assert error_of(r)[0] == -100018
    assert "userSig" in r["error"]["message"] and usersig("alice") not in json.dumps(r)
    r = await wire.enter("alice", roomId="1234")
    assert error_of(r)[0] == 5016
    r = await wire.enter("alice", roomId=None, strRoomId="no/slash")
    assert error_of(r)[0] == 5013
    r = await wire.enter("alice", scene="party")
    assert error_of(r)[0] == 5000


async def test_enter_events_exit_and_room_snapshot(server: RunningServer) -> None:
    async with connect(server.url) as ws_a, connect(server.url) as ws_b:
        a, b = Wire(ws_a), Wire(ws_b)
        ra = await a.enter("alice")
        assert ra["data"]["members"] == [] and ra["data"]["resumeToken"].startswith("rr_")
        rb = await b.enter("bob")
        assert rb["data"]["members"] == [{"userId": "alice", "role": "anchor", "streams": []}]
        assert await a.wait_event("remote-user-enter") == {"userId": "bob"}
        assert await b.wait_event("remote-user-enter") == {"userId": "alice"}
        assert error_of(await b.enter("bob"))[0] == ErrorCode.INVALID_OPERATION  # one room per socket
        assert (await b.request("exit"))["ok"]
        assert await a.wait_event("remote-user-exit") == {"userId": "bob", "reason": 0}


async def test_reentering_elsewhere_kicks_the_old_socket(server: RunningServer) -> None:
    async with connect(server.url) as ws1, connect(server.url) as ws2:
        old, new = Wire(ws1), Wire(ws2)
        await old.enter("alice")
        await new.enter("alice")
        assert await old.wait_event("kicked-out") == {"reason": "kick"}
        r = await old.request("mute", {"kind": "audio", "muted": True})
        assert error_of(r)[0] == ErrorCode.NOT_IN_ROOM


async def test_reconnect_with_resume_token_keeps_membership(server: RunningServer) -> None:
    async with connect(server.url) as ws_a:
        a = Wire(ws_a)
        await a.enter("alice")
        async with connect(server.url) as ws_b:
            b = Wire(ws_b)
            token = (await b.enter("bob"))["data"]["resumeToken"]
        # bob's socket dropped without exit: alice sees nothing yet
        async with connect(server.url) as ws_b2:
            b2 = Wire(ws_b2)
            r = await b2.request("resume", {"resumeToken": token})
            assert r["ok"] and r["data"]["members"][0]["userId"] == "alice"
            assert (await b2.request("heartbeat"))["data"] == {"inRoom": True}
        assert await a.wait_event("remote-user-enter") == {"userId": "bob"}
        assert (await a.request("heartbeat"))["ok"] and a.events == []  # no exit for bob
        r = await a.request("resume", {"resumeToken": "rr_unknown"})
        assert error_of(r)[0] == ErrorCode.INVALID_OPERATION  # already in a room


async def test_resume_with_unknown_token_is_refused(wire: Wire) -> None:
    r = await wire.request("resume", {"resumeToken": "rr_nope"})
    assert error_of(r)[0] == ErrorCode.SESSION_NOT_FOUND


async def test_custom_message_rules_over_the_socket(server: RunningServer) -> None:
    async with connect(server.url) as ws_h, connect(server.url) as ws_v:
        host, viewer = Wire(ws_h), Wire(ws_v)
        await host.enter("host", scene="live", role="anchor")
        await viewer.enter("viewer", scene="live", role="audience")
        payload = base64.b64encode(b"hello").decode()
        r = await host.request("customMessage", {"cmdId": 3, "data": payload})
        assert r["ok"] and r["data"] == {"seq": 1}
        assert await viewer.wait_event("custom-message") == {
            "userId": "host",
            "cmdId": 3,
            "seq": 1,
            "data": payload,
        }
        r = await viewer.request("customMessage", {"cmdId": 3, "data": payload})
        assert error_of(r)[0] == ErrorCode.INVALID_OPERATION
        r = await host.request("customMessage", {"cmdId": 11, "data": payload})
        assert error_of(r)[0] == ErrorCode.INVALID_PARAMETER
        r = await host.request("customMessage", {"cmdId": 1, "data": base64.b64encode(b"x" * 1025).decode()})
        assert error_of(r)[0] == ErrorCode.INVALID_PARAMETER
        r = await host.request("customMessage", {"cmdId": 1, "data": "!!not base64!!"})
        assert error_of(r)[0] == ErrorCode.INVALID_PARAMETER
        codes = [
            (await host.request("customMessage", {"cmdId": 1, "data": payload}))["ok"] for _ in range(40)
        ]
        assert codes.count(True) == 29  # 30 per second including the first one
        r = await host.request("heartbeat")
        assert r["ok"]


async def test_publish_and_subscriber_offer_answer_over_the_socket(server: RunningServer) -> None:
    async with connect(server.url) as ws_a, connect(server.url) as ws_b:
        a, b = Wire(ws_a), Wire(ws_b)
        await a.enter("alice")
        await b.enter("bob", autoReceiveVideo=True)
        tracks = [{"kind": "audio", "streamType": "main"}, {"kind": "video", "streamType": "main"}]
        r = await a.request("publish", {"sdp": "audio video", "tracks": tracks})
        assert r["ok"] and [p["kind"] for p in r["data"]["producers"]] == ["audio", "video"]
        assert await b.wait_event("remote-audio-available") == {"userId": "alice", "streamType": "main"}
        offer = await b.wait_event("offer")
        assert {s["userId"] for s in offer["streams"]} == {"alice"}
        r = await b.request("answer", {"negotiationId": offer["negotiationId"], "sdp": "answer-sdp"})
        assert r["ok"]
        r = await b.request("answer", {"negotiationId": 99, "sdp": "late"})
        assert error_of(r)[0] == ErrorCode.INVALID_OPERATION
        r = await a.request("mute", {"kind": "video", "muted": True})
        assert r["ok"]
        ev = await b.wait_event("remote-video-unavailable")
        assert ev == {"userId": "alice", "streamType": "main", "reason": "mute"}
        r = await a.request("unpublish", {})
        assert r["ok"] and len(r["data"]["producerIds"]) == 2
        assert await b.wait_event("remote-audio-unavailable") == {"userId": "alice", "streamType": "main"}


async def test_a_silent_client_is_removed_after_the_idle_timeout_in_real_time() -> None:
    # Real time for this one: the background sweeper does the removal.
    m = RoomManager(
        RoomManagerParams(
            media=FakeMedia(),
            directory=FakeDirectory(),
            node_region=REGION,
            limits=RoomLimits(idle_timeout_s=0.6, sweep_interval_s=0.05),
        )
    )
    async with serve(m) as server, connect(server.url) as ws_a, connect(server.url) as ws_b:
        a, b = Wire(ws_a), Wire(ws_b)
        await a.enter("alice")
        await b.enter("bob")
        await a.wait_event("remote-user-enter")
        t0 = time.monotonic()
        for _ in range(6):  # alice keeps talking, bob goes silent
            await asyncio.sleep(0.2)
            assert (await a.request("heartbeat"))["ok"]
        assert await a.wait_event("remote-user-exit") == {"userId": "bob", "reason": 1}
        assert await b.wait_event("reconnect") == {"reason": "timeout"}
        assert time.monotonic() - t0 >= 0.6
        assert (await a.request("heartbeat"))["data"] == {"inRoom": True}


async def test_no_usersig_key_sdp_or_payload_reaches_the_logs(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good, bad = usersig("alice"), usersig("mallory", key="c" * 64)
    secret_sdp = "audio video"  # the fake media's offer format
    payload = base64.b64encode(b"very private words").decode()
    async with connect(server.url) as ws_a, connect(server.url) as ws_m:
        a, mallory = Wire(ws_a), Wire(ws_m)
        assert (await mallory.enter("mallory", userSig=bad))["ok"] is False
        assert (await a.enter("alice", userSig=good))["ok"]
        tracks = [{"kind": "audio"}, {"kind": "video"}]
        assert (await a.request("publish", {"sdp": secret_sdp, "tracks": tracks}))["ok"]
        assert (await a.request("customMessage", {"cmdId": 1, "data": payload}))["ok"]
        assert (await a.raw('{"v": 1, "type": "enter", "data": {"userSig": 5, "x": "' + good + '"}}'))[
            "ok"
        ] is False
    text = caplog.text
    assert caplog.records  # the server did log
    for secret in (good, bad, "a" * 64, "c" * 64, payload, secret_sdp):
        assert secret not in text


async def test_a_node_without_rooms_closes_the_socket_with_try_again_later() -> None:
    app = FastAPI()
    app.include_router(router)
    app.state.rooms = None
    async with served_asgi(app) as port, connect(f"ws://127.0.0.1:{port}/signal") as ws:
        with pytest.raises(ConnectionClosed) as exc:
            await asyncio.wait_for(ws.recv(), 5)
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1013


async def test_after_a_resume_elsewhere_the_old_socket_no_longer_controls_the_session(
    server: RunningServer,
) -> None:
    async with connect(server.url) as ws_old, connect(server.url) as ws_new:
        old, new = Wire(ws_old), Wire(ws_new)
        token = (await old.enter("alice"))["data"]["resumeToken"]
        assert (await new.request("resume", {"resumeToken": token}))["ok"]
        assert (await old.request("heartbeat"))["data"] == {"inRoom": False}
        r = await old.request("exit")
        assert error_of(r)[0] == ErrorCode.NOT_IN_ROOM
        assert (await new.request("heartbeat"))["data"] == {"inRoom": True}
