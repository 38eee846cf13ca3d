"""PipeTransport: plain RTP/RTCP between two routers of one room on different workers of one node.

A room starts on one worker (its origin router). When a subscriber is placed on another worker, that
worker gets an *edge* router of the room and a pair of pipe transports joins the two routers: on the
origin side a pipe *consumer* per piped producer forwards the producer's packets (SSRC and sequence
numbers mapped to the pipe's own, payload type kept); on the edge side a pipe *producer* with that
SSRC takes them in and fans them out to the edge's consumers like any producer (its own
retransmission ring answers the edge subscribers' NACKs). RTCP goes back the other way: the edge
producer's NACKs (for what its ring lacks) and PLI/FIR (at most one per ``KEYFRAME_MIN_INTERVAL_S``
whatever the number of subscribers asking: coalesced) reach the pipe consumer, hence the origin
producer and the publisher.

Each pipe transport owns one UDP socket on the worker's host, connected to its peer (the kernel then
drops datagrams from any other source). It carries plain RTP: both ends are on this machine's loopback
and ``connect`` refuses any other address. Across machines the same pair would carry SRTP keyed over
the channel (each end's key in ``local_parameters``/``connect``, no DTLS needed since the control
planes already trust each other); that is the cross-node step and is not built yet.

Hand-written receive path (``loop.add_reader`` + non-blocking ``recv``): creating the transport stays
synchronous inside a channel request and a read drains up to a batch of datagrams per wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relayroom.media.producer import Producer, ProducerParams
from relayroom.media.rtp import rtcp
from relayroom.media.rtp.header import rewritten
from relayroom.media.transport import Transport
from relayroom.media.types import CloseReason, InvalidStateError

logger = logging.getLogger(__name__)

Addr = tuple[str, int]

MAX_PIPED_PRODUCERS = 512  # per pipe transport (one per published track of the room)
MAX_PIPE_CONSUMERS = 512
_RECV_BATCH = 64  # datagrams read per wake-up before yielding to the loop
_RECV_SIZE = 2048
PIPE_RECV_BUFFER = 1024 * 1024
PIPE_SEND_BUFFER = 1024 * 1024


@dataclass(frozen=True)
class PipeTransportParams:
    transport_id: str
    host: str
    rtx_buffer_ms: int
    get_producer: Callable[[str], Producer | None]  # the router's producers (origin side)
    register_producer: Callable[[Producer], None]  # the router's producers (edge side)
    unregister_producer: Callable[[Producer], None]
    notify: Callable[[str, str, dict[str, Any]], None]
    on_close: Callable[[PipeTransport], None]  # router and worker bookkeeping


class PipeTransport(Transport):
    label = "pipe transport"
    max_producers = MAX_PIPED_PRODUCERS
    max_consumers = MAX_PIPE_CONSUMERS

    def __init__(self, params: PipeTransportParams) -> None:
        super().__init__(params.transport_id, params, params.notify)
        self.params = params
        family = socket.AF_INET6 if ":" in params.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for opt, size in ((socket.SO_RCVBUF, PIPE_RECV_BUFFER), (socket.SO_SNDBUF, PIPE_SEND_BUFFER)):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, size)
            sock.bind((params.host, 0))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.local: Addr = sock.getsockname()[:2]
        self.remote: Addr | None = None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._on_readable)
        # producers: the edge side's piped producers; consumers: the origin side's, one per piped producer
        self.rx_packets = 0
        self.rx_bytes = 0
        self.rx_errors = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.send_errors = 0

    # -- parameters ----------------------------------------------------------------------------------
    def local_parameters(self) -> dict[str, Any]:
        return {"id": self.id, "ip": self.local[0], "port": self.local[1], "srtp": False}

    def connect(self, ip: str, port: int) -> None:
        """The peer pipe transport's address (on this machine: plain RTP is loopback only)."""
        self._check_open()
        if self.remote is not None:
            raise InvalidStateError("pipe transport already connected")
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            raise TypeError("invalid pipe address") from None
        if not addr.is_loopback:
            raise ValueError("plain pipe transports connect to loopback only (SRTP pipes are not built)")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("invalid pipe port")
        self._sock.connect((ip, port))
        self.remote = (ip, port)

    # -- datagrams -------------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        sock = self._sock
        now = time.monotonic()
        for _ in range(_RECV_BATCH):
            try:
                data = sock.recv(_RECV_SIZE)
            except BlockingIOError:
                return
            except OSError:  # ECONNREFUSED after the peer went away, ...: counted, never raised
                self.rx_errors += 1
                return
            try:
                self._receive(data, now)
            except Exception:
                self.rx_errors += 1
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("pipe datagram handling failed", exc_info=True)

    def _receive(self, data: bytes, now: float) -> None:
        if len(data) < 8 or data[0] & 0xC0 != 0x80:
            self.rx_errors += 1
            return
        self.rx_packets += 1
        self.rx_bytes += len(data)
        if 192 <= data[1] <= 223:  # RFC 5761: RTCP packet types
            self._receive_rtcp(data, now)
            return
        if len(data) < 12:
            return
        ssrc = (data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11]
        producer = self._rtp_listeners.get(ssrc)
        if producer is None:
            return
        seq = (data[2] << 8) | data[3]
        ts = (data[4] << 24) | (data[5] << 16) | (data[6] << 8) | data[7]
        producer.receive_rtp(data, data[1] & 0x7F, seq, ts, ssrc, now)

    def _receive_rtcp(self, data: bytes, now: float) -> None:
        try:
            items = rtcp.parse(data)
        except ValueError:
            self.rx_errors += 1
            return
        for item in items:
            if isinstance(item, rtcp.SenderReport):
                producer = self._rtp_listeners.get(item.ssrc)
                if producer is not None:
                    producer.receive_sr(item, now)
            if isinstance(item, rtcp.SenderReport | rtcp.ReceiverReport):
                for block in item.reports:
                    consumer = self._consumers_by_ssrc.get(block.ssrc)
                    if consumer is not None and block.ssrc == consumer.params.ssrc:
                        consumer.receive_report(block, now)
            elif isinstance(item, rtcp.Nack):
                consumer = self._consumers_by_ssrc.get(item.media_ssrc)
                if consumer is not None:
                    consumer.receive_nack(item.lost, now)
            elif isinstance(item, rtcp.Pli):
                consumer = self._consumers_by_ssrc.get(item.media_ssrc)
                if consumer is not None:
                    consumer.request_keyframe()
            elif isinstance(item, rtcp.Fir):
                for ssrc, _ in item.entries:
                    consumer = self._consumers_by_ssrc.get(ssrc)
                    if consumer is not None:
                        consumer.request_keyframe()

    def _send(self, data: bytes | bytearray) -> None:
        if self.remote is None or self.closed:
            return
        try:
            self._sock.send(data)
        except OSError:  # buffer full, peer gone (ICMP): dropped like any router would
            self.send_errors += 1
            return
        self.tx_packets += 1
        self.tx_bytes += len(data)

    def send_rtp(self, data: bytes) -> None:
        self._send(data)

    def send_rtp_rewritten(self, data: bytes, payload_type: int, seq: int, ts: int, ssrc: int) -> None:
        self._send(rewritten(data, payload_type, seq, ts, ssrc))

    def send_rtcp(self, data: bytes) -> None:
        self._send(data)

    # -- producers (edge side) ---------------------------------------------------------------------------
    def produce(self, producer_id: str, data: dict[str, Any]) -> Producer:
        """A piped producer: packets arriving on this pipe with its SSRC (and RTX SSRC)."""
        self._check_new_producer(producer_id)
        # no header extension ids: the origin producer already mapped them to the subscribers' ones
        params = ProducerParams.from_dict(
            producer_id, {**data, "headerExtensions": [], "useFir": False}, self.params.rtx_buffer_ms
        )
        for ssrc in (params.ssrc, params.rtx_ssrc):
            if ssrc is not None and ssrc in self._rtp_listeners:
                raise TypeError("ssrc already in use")
        producer = Producer(params, send_rtcp=self.send_rtcp, on_close=self._on_producer_close)
        return self._new_producer(producer)

    # consumers (origin side): ``Transport.consume`` pipes one of the router's producers, its packets
    # leaving with the pipe SSRC/PT of the request

    # -- periodic ------------------------------------------------------------------------------------
    def on_tick(self, now: float) -> None:
        for producer in self.producers.values():
            producer.on_tick(now)

    def send_reports(self, now: float, wallclock: float) -> None:
        """RR for the piped producers towards the origin; SR per pipe consumer towards the edge (the
        edge producer keeps the publisher's NTP/RTP mapping for its subscribers' SRs)."""
        if self.remote is None:
            return
        blocks = [b for p in self.producers.values() if (b := p.report_block(now)) is not None]
        if blocks:
            self.send_rtcp(rtcp.build_rr(1, blocks))
        for consumer in self.consumers.values():
            sr = consumer.sender_report(now, wallclock)
            if sr is not None:
                self.send_rtcp(sr)

    # -- lifecycle -----------------------------------------------------------------------------------
    def close(self, reason: CloseReason = CloseReason.CLOSED) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._close_children()
        self._sock.close()
        self.params.on_close(self)
        self.params.notify(self.id, "transportclose", {"reason": str(reason)})

    def stats(self) -> dict[str, Any]:
        """Counts per pipe (``/metrics`` sums them per worker)."""
        return {
            "id": self.id,
            "producersPiped": len(self.consumers),  # origin side: producers sent over this pipe
            "pipeProducers": len(self.producers),  # edge side: producers received over it
            "rxPackets": self.rx_packets,
            "rxBytes": self.rx_bytes,
            "txPackets": self.tx_packets,
            "txBytes": self.tx_bytes,
            "rxErrors": self.rx_errors,
            "sendErrors": self.send_errors,
        }

    def dump(self) -> dict[str, Any]:
        return {
            **self.stats(),
            "local": list(self.local),
            "remote": list(self.remote) if self.remote else None,
            "srtp": False,
            "producerIds": list(self.producers),
            "consumerIds": list(self.consumers),
            "producers": [p.dump() for p in self.producers.values()],
            "consumers": [c.dump() for c in self.consumers.values()],
        }
