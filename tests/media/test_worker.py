"""An in-process Worker driven over a real channel, with synthetic peers (no aiortc, no SDP)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from relayroom.media.channel import Channel
from relayroom.media.types import InvalidStateError
from relayroom.media.udp_sender import UdpSender
from relayroom.media.worker import Worker
from tests.media.loadgen import build_room, open_peer, vp8_payload
from tests.serving import eventually

pytestmark = pytest.mark.timeout(30)


@dataclass
class InProcess:
    worker: Worker
    channel: Channel
    notes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.worker.port

    async def request(
        self, method: str, handler_id: str | None = None, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self.channel.request(method, handler_id, data)

    def events(self, event: str) -> list[tuple[str, dict[str, Any]]]:
        return [(t, d) for t, e, d in self.notes if e == event]


@pytest.fixture
async def worker() -> AsyncIterator[InProcess]:
    a, b = socket.socketpair()
    w = Worker("127.0.0.1", 0, None, loopback_only=True, rtx_buffer_ms=1000, consent_timeout_s=30.0)
    await w.start(a)
    reader, writer = await asyncio.open_unix_connection(sock=b)
    notes: list[tuple[str, str, dict[str, Any]]] = []
    channel = Channel(reader, writer, on_notification=lambda t, e, d: notes.append((t, e, d)))
    yield InProcess(w, channel, notes)
    await channel.close()
    await w.close()


async def test_forwarding_to_many_subscribers_is_exact_and_in_order(worker: InProcess) -> None:
    pub, subs = await build_room(worker, 5)
    n = 300
    for seq in range(n):
        pub.send_rtp(96, seq, 3000 * (seq // 5), 1234, vp8_payload(1000, key=seq == 0), marker=seq % 5 == 4)
        if seq % 5 == 4:
            await asyncio.sleep(0.002)
    await eventually(lambda: all(s.received >= n for s in subs), within=5)
    assert [s.received for s in subs] == [n] * 5
    dump = await worker.request("worker.dump")
    assert dump["errors"] == 0 and dump["sendErrors"] == 0
    # (GSO batches need several datagrams per loop turn: uvloop in a worker process, not this loop)


async def test_close_cascades_with_reasons_and_dump_forgets_children(worker: InProcess) -> None:
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    peer, tid = await open_peer(worker, "r1")
    await worker.request(
        "transport.produce",
        tid,
        {
            "producerId": "p1",
            "kind": "audio",
            "mimeType": "audio/opus",
            "clockRate": 48000,
            "payloadType": 111,
            "ssrc": 42,
        },
    )
    sub, sub_tid = await open_peer(worker, "r1")
    await worker.request(
        "transport.consume", sub_tid, {"consumerId": "c1", "producerId": "p1", "ssrc": 43, "payloadType": 111}
    )
    with pytest.raises(TypeError):
        await worker.request(
            "transport.produce",
            tid,
            {
                "producerId": "p2",
                "kind": "audio",
                "mimeType": "audio/opus",
                "clockRate": 48000,
                "payloadType": 111,
                "ssrc": 42,
            },
        )  # SSRC already used
    with pytest.raises(TypeError):
        await worker.request(
            "transport.consume",
            sub_tid,
            {"consumerId": "c2", "producerId": "nope", "ssrc": 44, "payloadType": 111},
        )
    assert [t["id"] for t in (await worker.request("router.dump", "r1"))["transports"]] == [tid, sub_tid]

    await worker.request("transport.close", tid)
    await eventually(lambda: worker.events("transportclose") and worker.events("producerclose"), within=2)
    assert ("p1", {"reason": "transport_closed"}) in worker.events("producerclose")
    assert ("c1", {}) in worker.events("producerclose")  # the consumer heard its producer go
    assert (tid, {"reason": "closed"}) in worker.events("transportclose")
    dump = await worker.request("router.dump", "r1")
    assert dump["transportIds"] == [sub_tid] and dump["producerIds"] == []
    with pytest.raises(InvalidStateError):
        await worker.request("transport.produce", tid, {})
    await worker.request("transport.close", tid)  # idempotent

    await worker.request("router.close", "r1")
    await eventually(
        lambda: (sub_tid, {"reason": "router_closed"}) in worker.events("transportclose"), within=2
    )
    assert (await worker.request("worker.dump"))["routerIds"] == []
    with pytest.raises(InvalidStateError):
        await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t9"})
    with pytest.raises(TypeError):
        await worker.request("no.such.method")
    for t in (peer, sub):
        assert t.transport is not None
        t.transport.close()


async def test_stun_from_outside_loopback_and_with_bad_credentials_is_rejected(worker: InProcess) -> None:
    from aioice import stun as aioice_stun

    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    params = await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t1"})
    ufrag = params["iceParameters"]["usernameFragment"]

    def request(pwd: str) -> bytes:
        msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{ufrag}:x"
        msg.add_message_integrity(pwd.encode())
        return bytes(msg)

    before = worker.worker.stun_rejected
    worker.worker.handle_stun(request(params["iceParameters"]["password"]), ("192.0.2.7", 5000))
    assert worker.worker.stun_rejected == before + 1
    worker.worker.handle_stun(request("not-the-password-at-all-no-no-no"), ("127.0.0.1", 5000))
    assert worker.worker.stun_rejected == before + 2
    assert worker.worker.tuples == {}


async def test_transport_without_consent_closes_with_consent_timeout(worker: InProcess) -> None:
    worker.worker.consent_timeout_s = 0.5
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    peer, tid = await open_peer(worker, "r1")
    assert peer.transport is not None
    peer.transport.close()  # vanish
    closed = (tid, {"reason": "consent_timeout"})
    await eventually(lambda: closed in worker.events("transportclose"), within=3)


async def test_udp_sender_batches_equal_size_packets_and_the_receiver_sees_them_separately() -> None:
    loop = asyncio.get_running_loop()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    sender = UdpSender(tx, loop, gso=True)
    addr = rx.getsockname()
    packets = [bytes([i]) * 1200 for i in range(7)] + [b"\xaa" * 300, b"\xbb" * 1200, b"\xcc" * 50]
    for p in packets:
        sender.queue(p, addr)
    await asyncio.sleep(0.05)
    got = []
    while True:
        try:
            got.append(rx.recv(2000))
        except BlockingIOError:
            break
    assert got == packets
    if sender.gso:
        assert sender.gso_calls == 2 and sender.gso_packets == 10  # [7x1200 + 300], [1200 + 50]
    rx.close()
    tx.close()


async def test_stun_with_another_client_ufrag_is_rejected_once_the_client_is_known(worker: InProcess) -> None:
    from aioice import stun as aioice_stun

    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    params = await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t1"})
    ice = params["iceParameters"]
    await worker.request(
        "transport.connect",
        "t1",
        {
            "dtlsParameters": {"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": "AA"}]},
            "iceParameters": {"usernameFragment": "good"},
        },
    )

    def request(client_ufrag: str) -> bytes:
        msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{ice['usernameFragment']}:{client_ufrag}"
        msg.add_message_integrity(ice["password"].encode())
        return bytes(msg)

    worker.worker.handle_stun(request("evil"), ("127.0.0.1", 5000))
    assert worker.worker.tuples == {}
    worker.worker.handle_stun(request("good"), ("127.0.0.1", 5001))
    assert list(worker.worker.tuples) == [("127.0.0.1", 5001)]


async def test_ice_restart_rotates_credentials_and_keeps_dtls_and_media(worker: InProcess) -> None:
    from aioice import stun as aioice_stun

    pub, subs = await build_room(worker, 1)
    sub = subs[0]
    rid = (await worker.request("worker.dump"))["routerIds"][0]
    tid = (await worker.request("router.dump", rid))["transportIds"][1]
    old_ufrag = next(u for u, t in worker.worker.ufrags.items() if t.id == tid)
    params = await worker.request("transport.restartIce", tid, {"usernameFragment": "newclient"})
    assert params["usernameFragment"] != old_ufrag and old_ufrag not in worker.worker.ufrags

    def check(ufrag: str, pwd: str) -> bytes:
        msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{ufrag}:newclient"
        msg.attributes["USE-CANDIDATE"] = None
        msg.add_message_integrity(pwd.encode())
        return bytes(msg)

    rejected = worker.worker.stun_rejected
    sub._send(check(old_ufrag, "whatever-old-password-0123456789"))
    sub._send(check(params["usernameFragment"], params["password"]))
    await asyncio.sleep(0.1)
    assert worker.worker.stun_rejected == rejected + 1
    before = sub.received
    for seq in range(1, 11):
        pub.send_rtp(96, seq, 0, 1234, vp8_payload(500, key=seq == 1))
    await eventually(lambda: sub.received >= before + 10, within=3)
    dump = await worker.request("transport.dump", tid)
    assert dump["dtlsState"] == "connected"


async def test_a_transport_refuses_more_producers_than_the_limit(worker: InProcess) -> None:
    from relayroom.media.webrtc_transport import MAX_PRODUCERS_PER_TRANSPORT

    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t1"})
    for i in range(MAX_PRODUCERS_PER_TRANSPORT + 1):
        data = {
            "producerId": f"p{i}",
            "kind": "audio",
            "mimeType": "audio/opus",
            "clockRate": 48000,
            "payloadType": 111,
            "ssrc": 1000 + i,
        }
        if i < MAX_PRODUCERS_PER_TRANSPORT:
            await worker.request("transport.produce", "t1", data)
        else:
            with pytest.raises(ValueError, match="too many producers"):
                await worker.request("transport.produce", "t1", data)


def _documented_methods() -> set[str]:
    doc = (Path(__file__).parents[2] / "docs" / "channel.md").read_text()
    section = doc.split("## Methods", 1)[1].split("\n## ", 1)[0]
    methods: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first = row.split("|")[1]
        full = re.findall(r"`([a-zA-Z]+\.[a-zA-Z]+)`", first)  # `transport.close` / `transport.dump`
        prefix = full[0].split(".", 1)[0]
        methods |= set(full) | {f"{prefix}.{verb}" for verb in re.findall(r"`\.([a-zA-Z]+)`", first)}
    return methods


async def test_every_documented_channel_method_has_a_handler_and_no_other_does(worker: InProcess) -> None:
    assert set(worker.worker._handlers) == _documented_methods()


async def test_an_unknown_method_is_a_type_error_and_the_worker_carries_on(worker: InProcess) -> None:
    with pytest.raises(TypeError, match="unknown method"):
        await worker.request("router.explode", "x")
    with pytest.raises(InvalidStateError, match="unknown producer"):
        await worker.request("producer.pause", "nope")
    assert await worker.request("producer.close", "nope") == {}  # closing something gone is fine
    assert (await worker.request("worker.dump"))["routerIds"] == []


def test_a_worker_logs_through_the_same_redacting_json_setup_as_the_control_plane() -> None:
    """One logging setup for every process: a worker's lines are the control plane's JSON lines."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    args = ["--channel-fd", str(child.fileno()), "--log-level", "DEBUG"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "relayroom.media.worker", *args],
        pass_fds=(child.fileno(),),
        stderr=subprocess.PIPE,
        text=True,
    )
    child.close()
    parent.close()  # the control plane is gone: the worker logs it (debug) and exits
    _, err = proc.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "the worker logged nothing"
    for line in lines:
        doc = json.loads(line)  # every line is JSON, no plain basicConfig line
        assert {"ts", "level", "logger", "msg"} <= set(doc)
        assert doc["process"] == f"media-worker:{proc.pid}"


async def test_object_handlers_call_the_found_objects_own_method(
    worker: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """consumer.pause/resume on a simulcast consumer run SimulcastConsumer's methods (which resync its
    layer rewriter), not Consumer's: the handlers dispatch on the object found, not on a base class."""
    calls: list[str] = []

    class Subclassed:
        def pause(self) -> None:
            calls.append("pause")

        def resume(self) -> None:
            calls.append("resume")

        def close(self) -> None:
            calls.append("close")

    monkeypatch.setattr(worker.worker, "_consumer", lambda _id: Subclassed())
    monkeypatch.setattr(worker.worker, "_handlers", worker.worker._build_handlers())
    for method in ("consumer.pause", "consumer.resume", "consumer.close"):
        await worker.worker.handle_request(method, "c1", {})
    assert calls == ["pause", "resume", "close"]
