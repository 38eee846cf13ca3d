"""PipeTransport: plain RTP/RTCP between two routers of one room on different workers of one node.

A room starts on one worker (its origin router). When a subscriber is placed on another worker, that
worker gets an *edge* router of the room and a pair of pipe transports joins the two routers: on the
origin side a pipe *consumer* per piped producer forwards the producer's packets (SSRC and sequence
numbers mapped to the pipe's own, payload type kept); on the edge side a pipe *producer* with that
SSRC takes them in and fans them out to the edge's consumers like any producer (its own
retransmission ring answers the edge subscribers' NACKs). A simulcast producer is piped with all its
encodings (``encodings``: one pipe SSRC each, lowest first): a pipe consumer per layer on the origin, a
simulcast pipe producer on the edge, so that subscribers there choose small or big as on the origin.
RTCP goes back the other way: the edge
producer's NACKs (for what its ring lacks) and PLI/FIR (at most one per ``KEYFRAME_MIN_INTERVAL_S``
whatever the number of subscribers asking: coalesced) reach the pipe consumer, hence the origin
producer and the publisher.

Each pipe transport owns one UDP socket on the worker's host, connected to its peer (the kernel then
drops datagrams from any other source). Without keys it carries plain RTP and ``connect`` refuses any
address but loopback (both ends on this machine). With ``srtp`` keys in ``connect`` (AEAD_AES_128_GCM,
one key per direction, drawn by the control plane and handed to both ends over the channel: no DTLS,
the control planes already trust each other) it carries SRTP/SRTCP and may connect to another machine:
a datagram that does not authenticate is counted in ``rxErrors`` and dropped.

Hand-written receive path (``loop.add_reader`` + non-blocking ``recv``): creating the transport stays
synchronous inside a channel request and a read drains up to a batch of datagrams per wake-up.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pylibsrtp
from aiortc.rtcdtlstransport import SRTP_AEAD_AES_128_GCM

from relayroom.media.consumer import Consumer, ConsumerParams
from relayroom.media.dtls.dtls_transport import SrtpKeys
from relayroom.media.producer import Producer, ProducerParams
from relayroom.media.rtp import rtcp
from relayroom.media.rtp.header import rewritten
from relayroom.media.srtp.session import SrtpPair
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
        self._srtp: SrtpPair | None = None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._on_readable)
        # producers: the edge side's piped producers; consumers: the origin side's, one per piped producer
        # (and per lower simulcast layer: those are also in _lower_layers, by the piped producer's one)
        self._lower_layers: dict[str, tuple[Consumer, ...]] = {}
        self.rx_packets = 0
        self.rx_bytes = 0
        self.rx_errors = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.send_errors = 0

    # -- parameters ----------------------------------------------------------------------------------
    def local_parameters(self) -> dict[str, Any]:
        return {"id": self.id, "ip": self.local[0], "port": self.local[1], "srtp": self._srtp is not None}

    def connect(self, ip: str, port: int, srtp: Any = None) -> None:
        """The peer pipe transport's address; ``srtp`` (``{cryptoSuite, txKey, rxKey}``, base64 keys)
        makes it an SRTP pipe, which may leave the machine; a plain one is loopback only."""
        self._check_open()
        if self.remote is not None:
            raise InvalidStateError("pipe transport already connected")
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            raise TypeError("invalid pipe address") from None
        if srtp is None and not addr.is_loopback:
            raise ValueError("plain pipe transports connect to loopback only (give srtp keys)")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("invalid pipe port")
        pair = None if srtp is None else SrtpPair(_pipe_keys(srtp))
        self._sock.connect((ip, port))
        self.remote = (ip, port)
        self._srtp = pair

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
        srtp = self._srtp
        if srtp is not None:
            try:
                data = srtp.rx.unprotect_rtcp(data) if 192 <= data[1] <= 223 else srtp.rx.unprotect(data)
            except pylibsrtp.Error:
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
        srtp = self._srtp
        if srtp is None:
            self._send(data)
            return
        try:
            self._send(srtp.tx.protect(data))
        except pylibsrtp.Error:
            self.send_errors += 1

    def send_rtp_rewritten(self, data: bytes, payload_type: int, seq: int, ts: int, ssrc: int) -> None:
        srtp = self._srtp
        if srtp is None:
            self._send(rewritten(data, payload_type, seq, ts, ssrc))
            return
        try:
            self._send(srtp.protect_rewritten(data, payload_type, seq, ts, ssrc))
        except (pylibsrtp.Error, ValueError):
            self.send_errors += 1

    def send_rtcp(self, data: bytes) -> None:
        srtp = self._srtp
        if srtp is None:
            self._send(data)
            return
        try:
            self._send(srtp.tx.protect_rtcp(data))
        except pylibsrtp.Error:
            self.send_errors += 1

    # -- producers (edge side) ---------------------------------------------------------------------------
    def produce(self, producer_id: str, data: dict[str, Any]) -> Producer:
        """A piped producer: packets arriving on this pipe with its SSRC (and RTX SSRC); with
        ``encodings`` (2 or 3 ``{ssrc, rtxSsrc}``, lowest first, the last one the producer's own) a
        simulcast producer whose lower layers are ``<producerId>.<i>``, as on a WebRTC transport."""
        self._check_new_producer(producer_id)
        encodings = _pipe_encodings(data)
        if len(self.producers) + len(encodings) > self.max_producers:
            raise ValueError(f"too many producers on this {self.label}")
        # no header extension ids: the origin producer already mapped them to the subscribers' ones
        base = {**data, "headerExtensions": [], "useFir": False, "rid": None, "encodings": []}
        n = len(encodings)
        all_params = [
            ProducerParams.from_dict(
                producer_id if i == n - 1 else f"{producer_id}.{i}",
                {**base, **enc},
                self.params.rtx_buffer_ms,
            )
            for i, enc in enumerate(encodings)
        ] or [ProducerParams.from_dict(producer_id, base, self.params.rtx_buffer_ms)]
        ssrcs = [s for p in all_params for s in (p.ssrc, p.rtx_ssrc) if s is not None]
        if len(set(ssrcs)) != len(ssrcs) or any(s in self._rtp_listeners for s in ssrcs):
            raise TypeError("ssrc already in use")
        layers = tuple(
            self._new_producer(Producer(p, send_rtcp=self.send_rtcp, on_close=self._on_producer_close))
            for p in all_params
        )
        top = layers[-1]
        if len(layers) > 1:
            top.layers = layers
            for layer in layers[:-1]:
                layer.layer_of = top
        return top

    # -- consumers (origin side) ---------------------------------------------------------------------
    def consume(self, consumer_id: str, producer_id: str, data: dict[str, Any]) -> Consumer:
        """Pipe one of the router's producers: its packets leave with the pipe SSRC/PT of ``data``. A
        simulcast producer is piped whole when ``encodings`` (as for ``produce``) gives one pipe SSRC per
        layer: the consumer forwards the top layer, one more per lower layer (``<consumerId>.<i>``)."""
        encodings = _pipe_encodings(data)
        producer = self.params.get_producer(producer_id)
        if encodings and (producer is None or len(producer.layers) != len(encodings)):
            raise ValueError("encodings must match the producer's simulcast layers")
        every = [
            ConsumerParams.from_dict(f"{consumer_id}.{i}", {**data, **e}) for i, e in enumerate(encodings)
        ]
        ssrcs = [s for p in every for s in (p.ssrc, p.rtx_ssrc) if s is not None]
        if len(set(ssrcs)) != len(ssrcs) or any(s in self._consumers_by_ssrc for s in ssrcs):
            raise TypeError("ssrc already in use")
        lower = every[:-1]
        top = super().consume(consumer_id, producer_id, data)
        if producer is not None and lower:
            self._lower_layers[consumer_id] = tuple(
                self._add_consumer(self._new_consumer(p, layer, data))
                for p, layer in zip(lower, producer.layers, strict=False)
            )
        return top

    def _on_consumer_close(self, consumer: Consumer, reason: CloseReason) -> None:
        super()._on_consumer_close(consumer, reason)
        for layer in self._lower_layers.pop(consumer.id, ()):
            layer.close(reason)

    def _on_consumer_producer_closed(self, consumer: Consumer) -> None:
        if consumer.id in self._lower_layers or not any(
            consumer in layers for layers in self._lower_layers.values()
        ):
            super()._on_consumer_producer_closed(consumer)  # lower layers go with their top, unannounced

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
            # origin side: producers sent over this pipe; edge side: producers received over it (a
            # simulcast producer counts once)
            "producersPiped": len(self.consumers) - sum(len(c) for c in self._lower_layers.values()),
            "pipeProducers": sum(1 for p in self.producers.values() if p.layer_of is None),
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
            "srtp": self._srtp is not None,
            "producerIds": list(self.producers),
            "consumerIds": list(self.consumers),
            "producers": [p.dump() for p in self.producers.values()],
            "consumers": [c.dump() for c in self.consumers.values()],
        }


def _pipe_encodings(data: dict[str, Any]) -> list[dict[str, Any]]:
    """``encodings`` of a pipe request: none, or 2..3 ``{ssrc, rtxSsrc}`` whose last is the request's own
    ``ssrc``/``rtxSsrc`` (values range-checked by the parameter parsers)."""
    encodings = data.get("encodings") or []
    if not isinstance(encodings, list) or len(encodings) == 1 or len(encodings) > 3:
        raise ValueError("encodings must be a list of 2 or 3")
    out = []
    for enc in encodings:
        if not isinstance(enc, dict):
            raise TypeError("an encoding must be an object")
        out.append({"ssrc": enc.get("ssrc"), "rtxSsrc": enc.get("rtxSsrc")})
    if out and (out[-1]["ssrc"] != data.get("ssrc") or out[-1]["rtxSsrc"] != data.get("rtxSsrc")):
        raise ValueError("the last encoding must be the request's ssrc and rtxSsrc")
    return out


PIPE_CRYPTO_SUITE = "AEAD_AES_128_GCM"
PIPE_KEY_BYTES = 28  # master key (16) and salt (12) of AEAD_AES_128_GCM


def _pipe_keys(srtp: Any) -> SrtpKeys:
    """``connect``'s ``srtp``: this end's sending key and the peer's (its receiving key). Errors never
    quote a key."""
    if not isinstance(srtp, dict) or srtp.get("cryptoSuite") != PIPE_CRYPTO_SUITE:
        raise ValueError(f"srtp must be {{cryptoSuite: {PIPE_CRYPTO_SUITE}, txKey, rxKey}}")
    keys = []
    for name in ("txKey", "rxKey"):
        try:
            key = base64.b64decode(str(srtp.get(name, "")), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"srtp {name} is not base64") from None
        if len(key) != PIPE_KEY_BYTES:
            raise ValueError(f"srtp {name} must be {PIPE_KEY_BYTES} bytes")
        keys.append(key)
    if keys[0] == keys[1]:
        raise ValueError("srtp keys must differ per direction")
    return SrtpKeys(SRTP_AEAD_AES_128_GCM, tx_key=keys[0], rx_key=keys[1])


def new_pipe_keys() -> tuple[dict[str, str], dict[str, str]]:
    """Fresh keys for a pipe pair: ``connect``'s ``srtp`` for one end and for the other."""
    a, b = (base64.b64encode(os.urandom(PIPE_KEY_BYTES)).decode() for _ in range(2))
    return (
        {"cryptoSuite": PIPE_CRYPTO_SUITE, "txKey": a, "rxKey": b},
        {"cryptoSuite": PIPE_CRYPTO_SUITE, "txKey": b, "rxKey": a},
    )
