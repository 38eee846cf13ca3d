"""ICE-TCP on an in-process worker: RFC 4571 peers (tests/media/loadgen.py) and junk connections."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aioice import stun as aioice_stun

from relayroom.media.channel import Channel
from relayroom.media.service import MediaService
from relayroom.media.types import IceTcpOptions, MediaParams
from relayroom.media.webrtc_transport import TCP_CANDIDATE_PRIORITY, UDP_CANDIDATE_PRIORITY
from relayroom.media.worker import Worker
from tests.media.loadgen import FakePeer, TcpFakePeer, open_peer, tcp_port_of, vp8_payload
from tests.serving import eventually

pytestmark = pytest.mark.timeout(60)


@dataclass
class InProcess:
    worker: Worker
    channel: Channel
    notes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.worker.port

    @property
    def tcp_port(self) -> int:
        assert self.worker.tcp_port is not None
        return self.worker.tcp_port

    async def request(
        self, method: str, handler_id: str | None = None, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self.channel.request(method, handler_id, data)

    def tcp_now(self) -> dict[str, Any]:
        """The TCP server's counts, read in-process (for polling)."""
        assert self.worker._tcp is not None
        return self.worker._tcp.stats()

    async def tcp_stats(self) -> dict[str, Any]:
        tcp = (await self.request("worker.dump"))["tcp"]
        assert isinstance(tcp, dict)
        return tcp


async def start_worker(**tcp: Any) -> InProcess:
    a, b = socket.socketpair()
    w = Worker(
        "127.0.0.1",
        0,
        None,
        loopback_only=True,
        rtx_buffer_ms=1000,
        consent_timeout_s=30.0,
        tcp=IceTcpOptions(**tcp),
    )
    w.tcp_grace_s = 0.2  # (default 1 s) TCP checks are answered once no UDP check came for this long
    await w.start(a)
    reader, writer = await asyncio.open_unix_connection(sock=b)
    notes: list[tuple[str, str, dict[str, Any]]] = []
    channel = Channel(reader, writer, on_notification=lambda t, e, d: notes.append((t, e, d)))
    return InProcess(w, channel, notes)


@pytest.fixture
async def worker() -> AsyncIterator[InProcess]:
    w = await start_worker(auth_timeout_s=1.0)
    yield w
    await w.worker.close()
    await w.channel.close()


async def produce(worker: InProcess, tid: str, producer_id: str = "p1") -> None:
    await worker.request(
        "transport.produce",
        tid,
        {
            "producerId": producer_id,
            "kind": "video",
            "mimeType": "video/VP8",
            "clockRate": 90000,
            "payloadType": 96,
            "ssrc": 1234,
            "mid": "0",
        },
    )


async def consume(worker: InProcess, tid: str, consumer_id: str, ssrc: int, producer_id: str = "p1") -> None:
    await worker.request(
        "transport.consume",
        tid,
        {"consumerId": consumer_id, "producerId": producer_id, "ssrc": ssrc, "payloadType": 100},
    )


async def send_video(pub: FakePeer, n: int, start: int = 0) -> None:
    for seq in range(start, start + n):
        payload = vp8_payload(1000, key=seq == start)
        pub.send_rtp(96, seq, 3000 * (seq // 5), 1234, payload, marker=seq % 5 == 4)
        if seq % 5 == 4:
            await asyncio.sleep(0.002)


async def test_transport_offers_a_passive_tcp_candidate_on_the_udp_port_number_below_udp(
    worker: InProcess,
) -> None:
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    params = await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t1"})
    udp, tcp = params["iceCandidates"]
    assert udp["protocol"] == "udp" and tcp["protocol"] == "tcp" and tcp["tcpType"] == "passive"
    assert tcp["ip"] == udp["ip"] == "127.0.0.1"
    # the default is the UDP port's number (ephemeral UDP port here: same number unless it was taken)
    assert tcp["port"] == worker.tcp_port
    assert tcp["priority"] == TCP_CANDIDATE_PRIORITY < UDP_CANDIDATE_PRIORITY == udp["priority"]


async def test_a_publisher_over_tcp_reaches_udp_and_tcp_subscribers_exactly_and_in_order(
    worker: InProcess,
) -> None:
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    pub, pub_tid = await open_peer(worker, "r1", tcp=True)
    await produce(worker, pub_tid)
    udp_sub, udp_tid = await open_peer(worker, "r1")
    tcp_sub, tcp_tid = await open_peer(worker, "r1", tcp=True)
    await consume(worker, udp_tid, "c-udp", 5000)
    await consume(worker, tcp_tid, "c-tcp", 5001)
    n = 300
    await send_video(pub, n)
    await eventually(lambda: udp_sub.received >= n and tcp_sub.received >= n, within=10)
    assert (udp_sub.received, tcp_sub.received) == (n, n)

    dump = await worker.request("router.dump", "r1")
    by_id = {t["id"]: t for t in dump["transports"]}
    assert by_id[pub_tid]["tupleProtocol"] == "tcp" and by_id[pub_tid]["iceChecks"] == {"udp": 0, "tcp": 1}
    assert by_id[tcp_tid]["tupleProtocol"] == "tcp"
    assert by_id[udp_tid]["tupleProtocol"] == "udp"
    assert by_id[pub_tid]["rxPackets"] == n
    stats = await worker.tcp_stats()
    assert stats["bound"] == 2 and stats["pending"] == 0 and stats["errors"] == 0
    assert set(worker.worker.tuples) == {tuple(by_id[udp_tid]["tuple"])}  # UDP 5-tuples only
    assert isinstance(tcp_sub, TcpFakePeer) and tcp_sub.stun_responses  # the check was answered on the stream
    assert tcp_sub.stun_responses[0].attributes["XOR-MAPPED-ADDRESS"][0] == "127.0.0.1"


async def test_tcp_checks_are_answered_after_the_grace_and_only_while_no_udp_check_comes(
    worker: InProcess,
) -> None:
    worker.worker.udp_preferred_s = 1.0  # (default 5 s) applies to transports created from now on
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    params = await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t1"})
    ice = params["iceParameters"]
    loop = asyncio.get_running_loop()
    port = tcp_port_of(params)
    _, peer = await loop.create_connection(lambda: TcpFakePeer(port), "127.0.0.1", port)
    check = binding_request(ice["usernameFragment"], ice["password"])

    async def checks_until_answered(expected: int) -> int:
        sent = 0
        async with asyncio.timeout(10):
            while len(peer.stun_responses) < expected:
                peer._send(check)
                sent += 1
                await asyncio.sleep(0.05)
        return sent

    # a client without UDP: the first TCP checks wait for the grace, then they are answered
    assert await checks_until_answered(1) > 1
    held = (await worker.tcp_stats())["checksHeld"]
    assert held >= 1
    t1 = await worker.request("transport.dump", "t1")
    assert t1["tupleProtocol"] == "tcp" and t1["state"] == "connecting"
    # consent checks on the bound connection are answered at once; another transport's are not
    t2 = await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t2"})
    peer._send(binding_request(t2["iceParameters"]["usernameFragment"], t2["iceParameters"]["password"]))
    assert await checks_until_answered(2) == 1
    stats = await worker.tcp_stats()
    assert stats["bound"] == 1 and stats["dropped"] == 1 and stats["checksHeld"] == held

    # the same client's UDP checks start: TCP checks go unanswered while they keep coming, and the
    # nominated UDP tuple is selected
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.sendto(check, ("127.0.0.1", worker.port))
    await eventually(lambda: worker.worker.tuples, within=5)
    peer._send(check)
    await eventually(lambda: worker.tcp_now()["checksHeld"] == held + 1, within=5)
    t1 = await worker.request("transport.dump", "t1")
    assert t1["tupleProtocol"] == "udp" and t1["iceChecks"] == {"udp": 1, "tcp": 2}
    # UDP goes quiet: after udp_preferred_s the TCP checks are answered again and TCP is selected
    await checks_until_answered(3)
    t1 = await worker.request("transport.dump", "t1")
    assert t1["tupleProtocol"] == "tcp" and t1["iceChecks"] == {"udp": 1, "tcp": 3}
    assert worker.worker.tuples == {}
    udp.close()
    peer.close()


def binding_request(ufrag: str, pwd: str, *, nominate: bool = True) -> bytes:
    msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    msg.attributes["USERNAME"] = f"{ufrag}:client"
    msg.attributes["PRIORITY"] = 1
    msg.attributes["ICE-CONTROLLING"] = 1
    if nominate:
        msg.attributes["USE-CANDIDATE"] = None
    msg.add_message_integrity(pwd.encode())
    msg.add_fingerprint()
    return bytes(msg)


def frame(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True once the worker closed (FIN or RST) the connection."""
    try:
        async with asyncio.timeout(20):
            while await reader.read(4096):
                pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    return True


async def test_junk_first_frames_close_the_connection_at_once_with_their_reason(worker: InProcess) -> None:
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    params = await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t1"})
    ufrag = params["iceParameters"]["usernameFragment"]
    junk = {
        "oversized": [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", struct.pack("!H", 60000) + b"x" * 100],
        "bad_framing": [
            frame(b""),  # empty first frame
            frame(b"\x80" + os.urandom(40)),  # RTP before any check
            frame(b"\x16\xfe\xfd" + os.urandom(60)),  # DTLS before any check
            frame(b"\x00\x01\x00\x00garbage-not-stun"),  # STUN-looking garbage
        ],
        "unauthenticated": [
            frame(binding_request(ufrag, "wrong-password-wrong-password-xx")),
            frame(binding_request("nosuchufrag", "whatever-password-whatever-pass")),
        ],
    }
    for reason, payloads in junk.items():
        for payload in payloads:
            reader, writer = await asyncio.open_connection("127.0.0.1", worker.tcp_port)
            writer.write(payload)
            assert await closed_by_peer(reader)
            writer.close()
        stats = await worker.tcp_stats()
        assert stats["closed"][reason] == len(payloads), (reason, stats)
    stats = await worker.tcp_stats()
    assert stats["closed"]["auth_timeout"] == 0  # every one closed on its first frame, not by the timer
    assert stats["open"] == 0 and stats["errors"] == 0


async def test_half_open_and_slowloris_connections_are_closed_after_the_auth_timeout(
    worker: InProcess,
) -> None:
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    params = await worker.request("router.createWebRtcTransport", "r1", {"transportId": "t1"})
    ice = params["iceParameters"]
    check = frame(binding_request(ice["usernameFragment"], ice["password"]))
    conns = []
    for i in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", worker.tcp_port)
        # nothing / half a length prefix / a valid check minus its last byte (then trickled: too late)
        writer.write([b"", check[:1], check[:-1]][i])
        conns.append((reader, writer))
    await eventually(lambda: worker.tcp_now()["pending"] == 3, within=5)
    for reader, writer in conns:
        assert await closed_by_peer(reader)
        writer.close()
    stats = await worker.tcp_stats()
    assert stats["closed"]["auth_timeout"] == 3 and stats["open"] == 0
    assert (await worker.request("transport.dump", "t1"))["tuple"] is None


async def test_a_flood_of_idle_connections_evicts_the_oldest_and_a_real_client_still_connects() -> None:
    w = await start_worker(auth_timeout_s=30.0, max_pending=8, max_connections=12)
    try:
        await w.request("worker.createRouter", None, {"routerId": "r1"})
        idle = [await asyncio.open_connection("127.0.0.1", w.tcp_port) for _ in range(20)]
        await eventually(lambda: w.tcp_now()["accepted"] == 20, within=5)
        stats = await w.tcp_stats()
        assert stats["pending"] == 8 and stats["closed"]["evicted"] == 12
        pub, pub_tid = await open_peer(w, "r1", tcp=True)  # evicts one more idle one, then binds
        await produce(w, pub_tid)
        sub, sub_tid = await open_peer(w, "r1")
        await consume(w, sub_tid, "c1", 5000)
        await send_video(pub, 50)
        await eventually(lambda: sub.received >= 50, within=10)
        stats = await w.tcp_stats()
        assert stats["bound"] == 1 and stats["pending"] == 7 and stats["closed"]["evicted"] == 13
        for _, writer in idle:
            writer.close()
    finally:
        await w.worker.close()
        await w.channel.close()


async def test_closing_the_transport_closes_its_connection_and_a_lost_connection_unselects_the_tuple(
    worker: InProcess,
) -> None:
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    pub, pub_tid = await open_peer(worker, "r1", tcp=True)
    await produce(worker, pub_tid)
    sub, sub_tid = await open_peer(worker, "r1", tcp=True)
    await consume(worker, sub_tid, "c1", 5000)
    await send_video(pub, 20)
    await eventually(lambda: sub.received >= 20, within=10)

    # the subscriber's connection drops: its transport has no tuple until a new check selects one
    assert isinstance(sub, TcpFakePeer)
    sub.close()
    await eventually(lambda: worker.tcp_now()["bound"] == 1, within=5)
    dump = await worker.request("transport.dump", sub_tid)
    assert dump["tuple"] is None and dump["state"] == "connected"
    assert (await worker.tcp_stats())["closed"]["peer_closed"] == 1

    # the publisher's transport closes: the worker closes its connection (graceful FIN)
    assert isinstance(pub, TcpFakePeer)
    await worker.request("transport.close", pub_tid)
    async with asyncio.timeout(5):
        await pub.lost.wait()
    stats = await worker.tcp_stats()
    assert stats["closed"]["transport_closed"] == 1 and stats["open"] == 0


async def test_output_to_a_peer_that_stops_reading_is_dropped_within_the_send_buffer() -> None:
    w = await start_worker(send_buffer_bytes=32 * 1024)
    try:
        await w.request("worker.createRouter", None, {"routerId": "r1"})
        pub, pub_tid = await open_peer(w, "r1")
        await produce(w, pub_tid)
        slow, slow_tid = await open_peer(w, "r1", tcp=True, tcp_rcvbuf=4096)
        fast, fast_tid = await open_peer(w, "r1")
        await consume(w, slow_tid, "c-slow", 5000)
        await consume(w, fast_tid, "c-fast", 5001)
        assert isinstance(slow, TcpFakePeer) and slow.stream is not None
        slow.stream.pause_reading()
        n = 3000
        await send_video(pub, n)
        await eventually(lambda: fast.received >= n, within=20)
        stats = await w.tcp_stats()
        assert stats["sendDropped"] > 0 and stats["bound"] == 1
        # the UDP subscriber got everything (waited above) and the worker's UDP socket never blocked
        assert (await w.request("worker.dump"))["sendErrors"] == 0
    finally:
        await w.worker.close()
        await w.channel.close()


def free_port_number() -> int:
    """A port number free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise AssertionError("no port free for UDP and TCP")


async def test_the_tcp_port_is_the_udp_port_number_unless_configured_or_turned_off(loopback: None) -> None:
    port = free_port_number()
    svc = MediaService(MediaParams(workers=1, ports=[port], loopback_only=True))
    try:
        await svc.start()
        worker = (await svc.dump())["workers"][0]
        assert worker["port"] == worker["tcp"]["port"] == port
        router = await svc.create_router("room")
        params = await svc.worker_for_router(router).request(
            "router.createWebRtcTransport", router, {"transportId": "t1"}
        )
        assert [c["port"] for c in params["iceCandidates"]] == [port, port]
    finally:
        await svc.close()

    tcp_port = free_port_number()
    svc = MediaService(MediaParams(workers=1, ports=[0], tcp_ports=[tcp_port], loopback_only=True))
    try:
        await svc.start()
        assert (await svc.dump())["workers"][0]["tcp"]["port"] == tcp_port
    finally:
        await svc.close()

    svc = MediaService(MediaParams(workers=1, loopback_only=True, tcp=IceTcpOptions(enabled=False)))
    try:
        await svc.start()
        assert (await svc.dump())["workers"][0]["tcp"] is None
        router = await svc.create_router("room")
        params = await svc.worker_for_router(router).request(
            "router.createWebRtcTransport", router, {"transportId": "t1"}
        )
        assert [c["protocol"] for c in params["iceCandidates"]] == ["udp"]
    finally:
        await svc.close()


async def test_a_busy_tcp_port_fails_start_with_a_clear_error(loopback: None) -> None:
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    svc = MediaService(MediaParams(workers=1, tcp_ports=[busy.getsockname()[1]], loopback_only=True))
    try:
        with pytest.raises(OSError, match=rf"tcp bind 127\.0\.0\.1:{busy.getsockname()[1]}: "):
            await svc.start()
    finally:
        await svc.close()
        busy.close()
