"""Synthetic WebRTC peers for load tests: ICE (one binding request) + DTLS client + SRTP, no SDP, no codec.

``FakePeer`` talks UDP to the worker's port; ``TcpFakePeer`` is the same peer over ICE-TCP (RFC 6544
active side: it opens a TCP connection to the worker's passive candidate and frames every packet with
a 2-byte length, RFC 4571). aioice has no ICE-TCP host candidates, so aiortc cannot be this client.

They talk to a real worker process through its channel (WorkerHandle) and skip MediaService's SDP,
so the worker's forwarding cost can be measured without aiortc's encoders/decoders in the way.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import struct
from typing import Any, Protocol

from aioice import stun as aioice_stun
from aiortc import RTCCertificate

from relayroom.media.dtls.dtls_transport import DtlsRole, DtlsTransport, SrtpKeys, local_fingerprint
from relayroom.media.srtp.session import SrtpPair


class WorkerLike(Protocol):
    """A WorkerHandle, or an in-process worker's channel plus its port."""

    @property
    def port(self) -> int: ...

    async def request(
        self, method: str, handler_id: str | None = None, data: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...


_HDR = struct.Struct("!BBHII")


class FakePeer(asyncio.DatagramProtocol):
    """One client transport. Counts received SRTP and SRTCP packets (without decrypting them)."""

    def __init__(self, worker_port: int) -> None:
        self.worker_addr = ("127.0.0.1", worker_port)
        self.cert = RTCCertificate.generateCertificate()
        self.transport: asyncio.DatagramTransport | None = None
        self.srtp: SrtpPair | None = None
        self.connected = asyncio.Event()
        self.received = 0  # SRTP packets (forwarded RTP)
        self.received_bytes = 0
        self.rtcp_received = 0
        self.dtls = DtlsTransport(self.cert, self._send, self._on_keys, lambda r: None, lambda: None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data, self.worker_addr)

    def _on_keys(self, keys: SrtpKeys) -> None:
        self.srtp = SrtpPair(keys)
        self.connected.set()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        b0 = data[0]
        if 127 < b0 < 192:
            if 192 <= data[1] <= 223:  # SRTCP (the worker's sender reports): not forwarded media
                self.rtcp_received += 1
                return
            self.received += 1
            self.received_bytes += len(data)
        elif 19 < b0 < 64:
            self.dtls.receive(data)

    @staticmethod
    def check(ice: dict[str, Any]) -> bytes:
        """A nominating binding request with the transport's ICE credentials."""
        msg = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{ice['usernameFragment']}:{secrets.token_hex(4)}"
        msg.attributes["PRIORITY"] = 1
        msg.attributes["ICE-CONTROLLING"] = 1
        msg.attributes["USE-CANDIDATE"] = None
        msg.add_message_integrity(ice["password"].encode())
        return bytes(msg)

    async def connect(self, params: dict[str, Any]) -> None:
        """ICE: one nominating binding request; then DTLS as client."""
        self._send(self.check(params["iceParameters"]))
        await asyncio.sleep(0.05)
        await self._dtls_handshake(params)

    async def _dtls_handshake(self, params: dict[str, Any]) -> None:
        server_fp = params["dtlsParameters"]["fingerprints"][0]["value"]
        self.dtls.start(DtlsRole.CLIENT, [("sha-256", server_fp)])
        async with asyncio.timeout(10):
            await self.connected.wait()

    def send_rtp(self, pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> None:
        assert self.srtp is not None
        packet = _HDR.pack(0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload
        self._send(self.srtp.tx.protect(packet))

    def dtls_parameters(self) -> dict[str, Any]:
        return {
            "role": "client",
            "fingerprints": [{"algorithm": "sha-256", "value": local_fingerprint(self.cert)}],
        }


class TcpFakePeer(FakePeer):
    """A FakePeer over one ICE-TCP connection (RFC 4571 frames both ways)."""

    def __init__(self, worker_port: int) -> None:
        super().__init__(worker_port)
        self.stream: asyncio.Transport | None = None
        self.stun_responses: list[aioice_stun.Message] = []
        self.lost = asyncio.Event()
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stream = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()

    def eof_received(self) -> bool:
        return False

    def _send(self, data: bytes) -> None:
        assert self.stream is not None
        self.stream.write(struct.pack("!H", len(data)) + data)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data
        while len(buf) >= 2:
            n = struct.unpack_from("!H", buf)[0]
            if len(buf) < 2 + n:
                break
            frame, buf = buf[2 : 2 + n], buf[2 + n :]
            if frame and frame[0] < 4:
                self.stun_responses.append(aioice_stun.parse_message(frame))
            else:
                self.datagram_received(frame, self.worker_addr)
        self._buf = buf

    async def connect(self, params: dict[str, Any]) -> None:
        """ICE: nominating checks every 100 ms until one is answered (the worker answers TCP checks
        after a grace period when no UDP check comes), then DTLS as client."""
        async with asyncio.timeout(15):
            while not self.stun_responses:
                self._send(self.check(params["iceParameters"]))
                await asyncio.sleep(0.1)
        await self._dtls_handshake(params)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def tcp_port_of(params: dict[str, Any]) -> int:
    """The worker's passive TCP candidate in createWebRtcTransport's reply."""
    return next(int(c["port"]) for c in params["iceCandidates"] if c["protocol"] == "tcp")


async def open_peer(
    worker: WorkerLike, router_id: str, *, tcp: bool = False, tcp_rcvbuf: int | None = None
) -> tuple[FakePeer, str]:
    """A connected peer (ICE, DTLS) on a new transport of ``router_id``; over ICE-TCP when ``tcp``
    (``tcp_rcvbuf``: a small receive buffer set before connecting, for a peer that reads slowly)."""
    loop = asyncio.get_running_loop()
    tid = secrets.token_hex(8)
    params = await worker.request("router.createWebRtcTransport", router_id, {"transportId": tid})
    peer: FakePeer
    if tcp:
        port = tcp_port_of(params)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if tcp_rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, tcp_rcvbuf)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        _, peer = await loop.create_connection(lambda: TcpFakePeer(port), sock=sock)
    else:
        _, peer = await loop.create_datagram_endpoint(
            lambda: FakePeer(worker.port), local_addr=("127.0.0.1", 0)
        )
    await worker.request("transport.connect", tid, {"dtlsParameters": peer.dtls_parameters()})
    await peer.connect(params)
    return peer, tid


async def build_room(
    worker: WorkerLike, subscribers: int, kind: str = "video", *, tcp: bool = False
) -> tuple[FakePeer, list[FakePeer]]:
    """One publisher with one producer (SSRC 1234, PT 96) and N subscribers consuming it (all over
    ICE-TCP when ``tcp``)."""
    router_id = secrets.token_hex(8)
    await worker.request("worker.createRouter", None, {"routerId": router_id})
    pub, pub_tid = await open_peer(worker, router_id, tcp=tcp)
    mime, rate = ("video/VP8", 90000) if kind == "video" else ("audio/opus", 48000)
    await worker.request(
        "transport.produce",
        pub_tid,
        {
            "producerId": "p-" + router_id,
            "kind": kind,
            "mimeType": mime,
            "clockRate": rate,
            "payloadType": 96,
            "ssrc": 1234,
            "mid": "0",
        },
    )
    subs = []
    for i in range(subscribers):
        sub, tid = await open_peer(worker, router_id, tcp=tcp)
        await worker.request(
            "transport.consume",
            tid,
            {
                "consumerId": f"c{i}-{router_id}",
                "producerId": "p-" + router_id,
                "ssrc": 5000 + i,
                "payloadType": 100,
            },
        )
        subs.append(sub)
    return pub, subs


VP8_KEY = b"\x10\x00\x9d\x01\x2a"


def vp8_payload(size: int, key: bool) -> bytes:
    return (VP8_KEY if key else b"\x10\x01\x9d\x01\x2a") + os.urandom(max(0, size - 5))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
