"""A worker's forwarding graph without the worker process: a real Router with WebRtcTransports,
Producers and Consumers, sending on a real loopback UDP socket through the worker's own senders
(``UdpSender`` for the Python path, the ``_fanout.Sender`` for the native one), and one real receiving
socket per subscriber that captures every datagram.

SRTP keys are fixed (the DTLS handshake is replaced by handing the transport its keys the way
``DtlsTransport`` does on connect), so two rigs fed the same operations must put the same bytes on the
wire whichever path forwards them.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc.rtcdtlstransport import SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80, RTCCertificate

from relayroom.media import native
from relayroom.media.consumer import Consumer
from relayroom.media.dtls.dtls_transport import SrtpKeys
from relayroom.media.producer import Producer
from relayroom.media.router import Router, RouterParams
from relayroom.media.rtp.header import EXT_TRANSPORT_CC, EXT_URI_TRANSPORT_CC
from relayroom.media.udp_sender import UdpSender
from relayroom.media.webrtc_transport import RouterLink, TransportParams, WebRtcTransport

_CERT: list[RTCCertificate] = []
VIDEO_PT, AUDIO_PT = 96, 111
EXTENSIONS = [  # remapped once per packet
    [3, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"],
    [5, EXT_URI_TRANSPORT_CC],
]


def certificate() -> RTCCertificate:
    if not _CERT:
        _CERT.append(RTCCertificate.generateCertificate())
    return _CERT[0]


def srtp_keys(index: int) -> SrtpKeys:
    """Fixed keys per subscriber; odd ones use AES-CM + HMAC-SHA1-80, even ones AES-GCM."""
    profile = SRTP_AES128_CM_SHA1_80 if index % 2 else SRTP_AEAD_AES_128_GCM
    size = profile.key_length + profile.salt_length
    return SrtpKeys(profile, tx_key=bytes((index * 7 + i) & 0xFF for i in range(size)), rx_key=bytes(size))


EXT_BLOCKS = (
    b"",
    b"\xbe\xde\x00\x01\x32\x01\x02\x03",  # one-byte block: abs-send-time (id 3)
    b"\xbe\xde\x00\x02\x32\x01\x02\x03\x51\x07\x08\x00",  # + the publisher's transport-cc (id 5)
    b"\x10\x00\x00\x01\x03\x02\x01\x02",  # two-byte block (RFC 8285 4.3), left as it is
)


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool, ext: int) -> bytes:
    """``ext``: index into EXT_BLOCKS (False/True: none or the one-byte block)."""
    b0 = 0x90 if ext else 0x80
    head = bytes([b0, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
    return head + ssrc.to_bytes(4, "big") + EXT_BLOCKS[ext] + payload


@dataclass
class Subscriber:
    transport: WebRtcTransport
    socks: list[socket.socket]  # its possible tuples; the transport sends to socks[current]
    current: int = 0


class Rig:
    def __init__(
        self, native_on: bool, gso: bool = True, subscribers: int = 3, transport_cc: bool = False
    ) -> None:
        random.seed(20261201)  # consumers draw their initial seq/timestamp from `random`
        self.loop = asyncio.new_event_loop()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sender = UdpSender(self.sock, self.loop, gso)
        self.fanout = native.load() if native_on else None
        if native_on and self.fanout is None:
            raise RuntimeError("native fan-out requested but not built (pip install -e .)")
        # as the worker: with the native fan-out on, all RTP goes through its per-turn queue
        self.native_sender = (
            native.NativeSender(self.fanout, self.sock, self.loop, gso) if self.fanout else None
        )
        self.router = Router(
            RouterParams(
                router_id="r",
                make_transport_params=self._transport_params,
                on_transport_created=lambda t: None,
                on_close=lambda r: None,
            )
        )
        pub = self.router.create_webrtc_transport("pub")
        self.producers: list[Producer] = [
            pub.produce(
                f"v{i}",
                {
                    "kind": "video",
                    "mimeType": "video/VP8",
                    "clockRate": 90000,
                    "payloadType": VIDEO_PT,
                    "ssrc": 1000 + i,
                    "rtxSsrc": 2000 + i,
                    "rtxPayloadType": 97,
                    "headerExtensions": EXTENSIONS,
                },
            )
            for i in range(2)
        ]
        self.producers.append(
            pub.produce(
                "a0",
                {
                    "kind": "audio",
                    "mimeType": "audio/opus",
                    "clockRate": 48000,
                    "payloadType": AUDIO_PT,
                    "ssrc": 3000,
                },
            )
        )
        self.subs: list[Subscriber] = []
        self.now = 0.0  # the transports' clock (the send time stamp_transport_cc records)
        for i in range(subscribers):
            t = self.router.create_webrtc_transport(f"sub{i}")
            socks = []
            for _ in range(2):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                s.bind(("127.0.0.1", 0))
                s.setblocking(False)
                socks.append(s)
            t.on_ice_check(socks[0].getsockname(), nominated=True)
            t._on_dtls_connected(srtp_keys(i))  # what DtlsTransport calls once the handshake is done
            t.clock = lambda: self.now
            t.call_later = self._no_timer  # probe steps are operations of the test
            if transport_cc:  # the subscriber's answer kept transport-cc (Chromium's does)
                t.enable_transport_cc(EXT_TRANSPORT_CC)
            self.subs.append(Subscriber(t, socks))
        self.consumers: list[Consumer] = []
        self.captured: dict[tuple[int, int, int], list[bytes]] = defaultdict(list)

    def _transport_params(self, transport_id: str, link: RouterLink) -> TransportParams:
        return TransportParams(
            transport_id=transport_id,
            certificate=certificate(),
            announced_ip="127.0.0.1",
            port=self.sock.getsockname()[1],
            rtx_buffer_ms=2000,
            sendto=self.sender.sendto,
            send_rtp=(self.native_sender or self.sender).queue,
            native_sender=self.native_sender,
            bind_tuple=lambda t, old, new: None,
            notify=lambda target, event, data: None,
            router=link,
            on_close=lambda t: None,
        )

    # -- operations --------------------------------------------------------------------------------
    def consume(self, sub: int, producer: int) -> None:
        n = len(self.consumers)
        kind_pt = AUDIO_PT if self.producers[producer].kind == "audio" else 100
        self.consumers.append(
            self.subs[sub].transport.consume(
                f"c{n}",
                self.producers[producer].id,
                {"ssrc": 50000 + n, "payloadType": kind_pt, "rtxSsrc": 60000 + n, "rtxPayloadType": 101},
            )
        )

    def _no_timer(self, delay: float, callback: Callable[[], None]) -> Any:
        return self.loop.call_later(3600, callback)  # never runs: the loop is not run

    def sent_records(self) -> list[Any]:
        """What each subscriber transport's estimator was told was sent (seq, send time, size, probe)."""
        out = []
        for s in self.subs:
            bwe = s.transport.bwe
            s.transport.dump()  # takes in what the native path stamped
            if bwe is not None:
                probe = (s.transport.probes_sent, s.transport._probe_bytes, s.transport._probe_packets)
                out.append((bwe.next_seq, bwe._h_seq, bwe._h_send, bwe._h_size, bwe._h_probe, probe))
        return out

    def feed(self, producer: int, data: bytes, now: float) -> None:
        p = self.producers[producer]
        seq, ts = int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:8], "big")
        p.receive_rtp(data, data[1] & 0x7F, seq, ts, int.from_bytes(data[8:12], "big"), now)

    def move(self, sub: int) -> None:
        """The subscriber's client nominated another path: the tuple moves."""
        s = self.subs[sub]
        s.current = 1 - s.current
        s.transport.on_ice_check(s.socks[s.current].getsockname(), nominated=True)

    def flush(self) -> None:
        """End of the event-loop turn (UdpSender's GSO batches leave), then read what arrived."""
        self.sender.flush()
        if self.native_sender is not None:
            self.native_sender.c.flush()
        for i, s in enumerate(self.subs):
            for j, sock in enumerate(s.socks):
                while True:
                    try:
                        data = sock.recv(2048)
                    except BlockingIOError:
                        break
                    ssrc = int.from_bytes(data[4:8] if 192 <= data[1] <= 223 else data[8:12], "big")
                    self.captured[(i, j, ssrc)].append(data)

    def dumps(self) -> list[dict[str, Any]]:
        return [c.dump() for c in self.consumers]

    def close(self) -> None:
        self.router.close()
        for s in self.subs:
            for sock in s.socks:
                sock.close()
        self.sock.close()
        self.loop.close()
