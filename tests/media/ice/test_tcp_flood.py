"""ICE-TCP junk and slowloris against a worker process while a call runs on it.

The call: a publisher over ICE-TCP, one subscriber over ICE-TCP and one over UDP (synthetic peers,
tests/media/loadgen.py). Meanwhile 200 junk connections (garbage, HTTP, oversized length prefixes,
RTP/DTLS before any check, checks with wrong credentials) and 20 half-open ones (nothing, or a frame
that never completes) hit the same worker's TCP port. Media keeps flowing to both subscribers, every
junk connection is closed by its first frame (never by the timer), every half-open one by the
authentication timeout, and the counts are in ``worker.dump``.
"""

from __future__ import annotations

import asyncio
import os
import random
import struct
from collections.abc import AsyncIterator

import pytest
from aioice import stun as aioice_stun

from relayroom.media.types import IceTcpOptions, MediaParams
from relayroom.media.worker_handle import WorkerHandle
from tests.media.loadgen import FakePeer, open_peer, vp8_payload
from tests.serving import eventually

pytestmark = pytest.mark.timeout(120)

AUTH_TIMEOUT_S = 3.0
JUNK = 200
JUNK_BATCH = 50  # at once; with the 20 half-open ones below the default max_pending (128): nothing is
# evicted, so each connection's close reason is exact (eviction under a bigger flood: test_tcp_server)
HALF_OPEN = 20


@pytest.fixture
async def worker() -> AsyncIterator[WorkerHandle]:
    params = MediaParams(workers=1, loopback_only=True, tcp=IceTcpOptions(auth_timeout_s=AUTH_TIMEOUT_S))
    w = WorkerHandle(0, params, lambda *a: None, lambda w: None)
    await w.start()
    try:
        yield w
    finally:
        await w.close()


def junk_payload(i: int, ufrag: str) -> bytes:
    """Ten kinds of junk, each closed on its first frame."""
    rnd = random.Random(i)
    kind = i % 10
    if kind == 0:
        return rnd.randbytes(rnd.randint(1, 3000))  # noise: usually an oversized length prefix
    if kind == 1:
        return b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    if kind == 2:
        return b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rnd.randbytes(200)  # TLS ClientHello
    if kind == 3:
        return struct.pack("!H", 65535) + rnd.randbytes(1000)  # a frame longer than the limit
    if kind == 4:
        return struct.pack("!H", 0)  # an empty first frame
    if kind == 5:
        rtp = b"\x80\x60" + rnd.randbytes(300)
        return struct.pack("!H", len(rtp)) + rtp  # media before any check
    if kind == 6:
        dtls = b"\x16\xfe\xfd" + rnd.randbytes(120)
        return struct.pack("!H", len(dtls)) + dtls
    if kind == 7:
        stunish = b"\x00\x01\x00\x08" + rnd.randbytes(24)  # STUN header, garbage body
        return struct.pack("!H", len(stunish)) + stunish
    msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    # kind 8: a real transport's ufrag with a wrong password; kind 9: an unknown ufrag
    msg.attributes["USERNAME"] = f"{ufrag if kind == 8 else 'nosuchufrag'}:attacker"
    msg.add_message_integrity(rnd.randbytes(16).hex().encode())
    msg.add_fingerprint()
    data = bytes(msg)
    return struct.pack("!H", len(data)) + data


async def junk_connection(port: int, payload: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        async with asyncio.timeout(60):
            while await reader.read(4096):  # the worker answers nothing: read until it closes
                pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()


async def half_open_connection(port: int, i: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if i % 2:
        writer.write(struct.pack("!H", 500) + os.urandom(10))  # slowloris: a frame that never completes
    return reader, writer


async def test_junk_and_half_open_connections_do_not_stop_a_running_call_and_are_closed_within_limits(
    worker: WorkerHandle,
) -> None:
    await worker.request("worker.createRouter", None, {"routerId": "r1"})
    pub, pub_tid = await open_peer(worker, "r1", tcp=True)
    await worker.request(
        "transport.produce",
        pub_tid,
        {
            "producerId": "p1",
            "kind": "video",
            "mimeType": "video/VP8",
            "clockRate": 90000,
            "payloadType": 96,
            "ssrc": 1234,
            "mid": "0",
        },
    )
    subs: list[FakePeer] = []
    for i, tcp in enumerate((True, False)):
        sub, tid = await open_peer(worker, "r1", tcp=tcp)
        consumer = {"consumerId": f"c{i}", "producerId": "p1", "ssrc": 5000 + i, "payloadType": 100}
        await worker.request("transport.consume", tid, consumer)
        subs.append(sub)
    params = await worker.request("transport.dump", pub_tid)
    assert params["tupleProtocol"] == "tcp"
    tcp_port = (await worker.request("worker.dump"))["tcp"]["port"]
    ufrag = (await worker.request("router.createWebRtcTransport", "r1", {"transportId": "victim"}))[
        "iceParameters"
    ]["usernameFragment"]

    sending = True
    sent = 0

    async def call() -> None:
        nonlocal sent
        seq = 0
        while sending:
            for _ in range(5):  # a 5-packet frame every 20 ms (~250 packets/s)
                payload = vp8_payload(900, key=seq % 250 == 0)
                pub.send_rtp(96, seq, 3000 * (seq // 5), 1234, payload, seq % 5 == 4)
                seq += 1
            sent = seq
            await asyncio.sleep(0.02)

    call_task = asyncio.get_running_loop().create_task(call())
    await eventually(lambda: all(s.received > 50 for s in subs), within=10)

    # the attack: half-open ones first (they hold their slots), then the junk, 50 at a time
    half_open = await asyncio.gather(*(half_open_connection(tcp_port, i) for i in range(HALF_OPEN)))
    before_junk = [s.received for s in subs]
    sent_before_junk = sent
    for start in range(0, JUNK, JUNK_BATCH):
        await asyncio.gather(
            *(junk_connection(tcp_port, junk_payload(i, ufrag)) for i in range(start, start + JUNK_BATCH))
        )
    # media went on during the junk: both subscribers received what was sent meanwhile
    during = sent - sent_before_junk
    await eventually(
        lambda: all(s.received - b >= during for s, b in zip(subs, before_junk, strict=True)), within=10
    )
    stats = (await worker.request("worker.dump"))["tcp"]
    closed = stats["closed"]
    assert closed["bad_framing"] + closed["oversized"] + closed["unauthenticated"] == JUNK, stats
    assert closed["auth_timeout"] == 0 and stats["pending"] == HALF_OPEN and stats["bound"] == 2

    # the half-open ones are closed by the authentication timeout, media still flowing
    for reader, writer in half_open:
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_S + 30):
                while await reader.read(4096):
                    pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        writer.close()
    before = [s.received for s in subs]
    await eventually(lambda: all(s.received > b + 50 for s, b in zip(subs, before, strict=True)), within=10)
    sending = False
    await call_task

    dump = await worker.request("worker.dump")
    stats = dump["tcp"]
    assert stats["closed"]["auth_timeout"] == HALF_OPEN and stats["pending"] == 0 and stats["bound"] == 2
    assert stats["closed"]["evicted"] == 0 and stats["closed"]["limit"] == 0 and stats["errors"] == 0
    assert stats["accepted"] == JUNK + HALF_OPEN + 2
    assert dump["errors"] == 0
    transports = {t["id"]: t for r in dump["routers"] for t in r["transports"]}
    assert transports[pub_tid]["state"] == "connected" and transports[pub_tid]["rxErrors"] == 0
