"""Media worker process: one UDP port (plus ICE-TCP), ICE-lite demux, Routers, driven over the channel.

Run as ``python -m relayroom.media.worker --channel-fd N --host 127.0.0.1 --port 0 ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import resource
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from operator import methodcaller
from typing import Any, TypeVar, cast

from aiortc.rtcdtlstransport import RTCCertificate

from relayroom.logs import LOG_FORMATS, setup_logging
from relayroom.media import native as native_fanout
from relayroom.media.active_speaker import SpeakerReport
from relayroom.media.channel import Channel
from relayroom.media.consumer import Consumer
from relayroom.media.dtls.handshake_gate import HandshakeGate
from relayroom.media.ice import stun
from relayroom.media.ice.tcp_server import (
    IceTcpServer,
    IceTcpServerParams,
    add_tcp_arguments,
    tcp_options_from_args,
)
from relayroom.media.pipe_transport import PipeTransport, PipeTransportParams
from relayroom.media.producer import Producer
from relayroom.media.router import Router, RouterParams
from relayroom.media.rtp import limits
from relayroom.media.simulcast_consumer import SimulcastConsumer
from relayroom.media.types import CloseReason, IceTcpOptions, InvalidStateError
from relayroom.media.udp_sender import UdpSender
from relayroom.media.webrtc_transport import Addr, RouterLink, TransportParams, WebRtcTransport

logger = logging.getLogger(__name__)

TICK_S = 0.1
REPORT_INTERVAL_S = 1.0
QUALITY_INTERVAL_S = 2.0  # network quality grades per transport (TRTC's network-quality cadence)
# Receive buffer of the shared UDP socket (the kernel doubles it: 512 KiB, a few hundred RTP packets).
# It bounds how stale input can get when the worker's core is short of CPU: an overloaded worker must
# drop, not queue. With 4 MiB (8 MiB effective) a worker getting slightly less CPU than its load held a
# standing queue of ~7 MB: every packet, ICE check and DTLS record seconds late, while it still
# forwarded everything (docs/performance.md, "Next wins" 1). The send buffer stays large.
UDP_RECV_BUFFER = 256 * 1024
UDP_SEND_BUFFER = 4 * 1024 * 1024
# getsockopt(SOL_SOCKET, SO_MEMINFO): u32 array; index 0 = bytes queued for reading, 8 = drops (Linux)
_SO_MEMINFO = 55
_MEMINFO = struct.Struct("9I")
# Load shedding (MediaParams.load_shedding): a loop turn that starts with this much kernel memory
# queued on the socket (~2,300 bytes per 1,200-byte datagram on Linux, ~830 per audio packet) drops
# the video packets of non-key frames it reads. docs/performance.md, "Load shedding".
SHED_QUEUE_BYTES = 64 * 1024
DTLS_FLIGHTS_PER_TURN = 2  # DTLS handshake flights run per loop turn (dtls/handshake_gate.py)


def _rss_bytes() -> int:
    """Current resident set size (ru_maxrss is the peak): /proc/self/statm pages, 0 where absent."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def disable_core_dumps() -> None:
    """Media must never reach disk: no core files from this process."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def ignore_stop_signals() -> None:
    """A worker belongs to its control plane, which stops it through the channel (drain first) and is
    the one process the operator signals. SIGINT/SIGTERM sent to the whole group (Ctrl-C in a terminal,
    a service manager stopping the group) must not kill media under the control plane's feet while it
    drains rooms. The worker still exits when its channel closes, also when the control plane is killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class WorkerProtocol(asyncio.DatagramProtocol):
    """The shared UDP socket. Every exception is caught and counted: garbage never stops the worker."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDPTransport is not a subclass of asyncio.DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        w = self._worker
        try:
            if not data:
                return
            b0 = data[0]
            w.rx_packets += 1
            w.rx_bytes += len(data)
            if not w.turn_checked:
                w.begin_turn()
            t = w.tuples.get(addr)
            # RFC 7983 demux. Hot path first: SRTP/SRTCP from a bound 5-tuple.
            if 127 < b0 < 192:
                if t is not None and len(data) >= 12:
                    if w.shedding:  # behind: this turn drops video of non-key frames (Worker.begin_turn)
                        shed = t.receive_srtp(data, time.monotonic(), True)
                        if shed is not None:
                            w.count_shed(shed, len(data))
                    else:
                        t.receive_srtp(data, time.monotonic())
                else:
                    w.dropped += 1
            elif b0 < 4:
                w.handle_stun(data, addr)
            elif 19 < b0 < 64 and t is not None:
                t.receive_dtls(data)
            else:
                w.dropped += 1
        except Exception:
            w.errors += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("datagram handling failed", exc_info=True)

    def error_received(self, exc: Exception) -> None:
        self._worker.errors += 1


class Worker:
    def __init__(
        self,
        host: str,
        port: int,
        announced_ip: str | None,
        loopback_only: bool,
        rtx_buffer_ms: int,
        consent_timeout_s: float,
        gso: bool = True,
        native: bool = True,
        udp_recv_buffer: int = UDP_RECV_BUFFER,
        tcp: IceTcpOptions | None = None,
        tcp_port: int | None = None,
        load_shedding: bool = True,
        shed_queue_bytes: int = SHED_QUEUE_BYTES,
        dtls_flights_per_turn: int = DTLS_FLIGHTS_PER_TURN,
    ) -> None:
        self.host = host
        self.port = port
        self.announced_ip = announced_ip or host
        self.loopback_only = loopback_only
        self.rtx_buffer_ms = rtx_buffer_ms
        self.consent_timeout_s = consent_timeout_s
        self.certificate = RTCCertificate.generateCertificate()
        self.routers: dict[str, Router] = {}
        self.ufrags: dict[str, WebRtcTransport] = {}
        self.tuples: dict[Addr, WebRtcTransport] = {}
        self.pipes: dict[str, PipeTransport] = {}  # pipe transports of every router, by id
        self._last_pipe_stats: list[dict[str, Any]] = []
        self.channel: Channel | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._sender: UdpSender | None = None
        self.gso = gso
        self.native = native
        self._native_sender: native_fanout.NativeSender | None = None  # when the native fan-out is on
        self.udp_recv_buffer = udp_recv_buffer
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self.dropped = 0
        self.errors = 0
        self.stun_rejected = 0
        self.stun_fast = 0  # Binding requests answered by the fast path
        # lifetime totals for /metrics (datagrams on the UDP socket; feedback of transports that closed)
        self.rx_packets = 0
        self.rx_bytes = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.feedback_closed = [0, 0, 0, 0]  # NACKs, PLIs, FIRs received, RTX sent
        # Load shedding, checked once per loop turn (begin_turn): turn_checked is reset by a callback
        # scheduled for after the turn's datagrams; with shedding off it stays True and nothing is checked.
        self.load_shedding = load_shedding
        self.shed_queue_bytes = shed_queue_bytes
        self.turn_checked = not load_shedding
        self.shedding = False  # this turn drops video packets of non-key frames
        self._kernel_drops = 0  # SO_MEMINFO drops at the last check
        self._shed_producers: dict[str, Producer] = {}  # a key frame is requested once drained
        self.shed_packets = 0
        self.shed_bytes = 0
        self.shed_turns = 0  # loop turns that started behind
        self.shed_keyframe_requests = 0
        self.dtls_gate = HandshakeGate(dtls_flights_per_turn)
        self._handlers = self._build_handlers()
        # ICE-TCP: None = off; tcp_port None = the UDP port's number (another one if that is taken
        # after an ephemeral UDP port)
        self.tcp_options = tcp if tcp is not None and tcp.enabled else None
        self.tcp_port = tcp_port
        self._tcp: IceTcpServer | None = None
        # when ICE-TCP checks get answers: see WebRtcTransport.answers_tcp_check
        self.udp_preferred_s = 5.0
        self.tcp_grace_s = 1.0

    # -- setup -------------------------------------------------------------------------------------
    async def start(self, channel_sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_unix_connection(sock=channel_sock)
        self.channel = Channel(reader, writer, on_request=self.handle_request, on_closed=self._closed.set)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for opt, size in ((socket.SO_RCVBUF, self.udp_recv_buffer), (socket.SO_SNDBUF, UDP_SEND_BUFFER)):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, size)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            self.channel.notify(
                "worker", "failed", {"reason": f"udp bind {self.host}:{self.port}: {exc.strerror}"}
            )
            await writer.drain()
            raise
        udp, _ = await loop.create_datagram_endpoint(lambda: WorkerProtocol(self), sock=sock)
        self._udp = udp
        self._sock = sock
        self._sender = UdpSender(sock, loop, self.gso)
        fanout = native_fanout.load() if self.native else None
        if fanout is not None:
            self._native_sender = native_fanout.NativeSender(fanout, sock, loop, self._sender.gso)
        requested_port = self.port
        self.port = sock.getsockname()[1]
        if self.tcp_options is not None:
            try:
                await self._start_tcp(self.tcp_options, any_port_if_taken=requested_port == 0)
            except OSError as exc:
                tcp_port = self.port if self.tcp_port is None else self.tcp_port
                self.channel.notify(
                    "worker", "failed", {"reason": f"tcp bind {self.host}:{tcp_port}: {exc.strerror}"}
                )
                await writer.drain()
                raise
        self._spawn(self._tick_loop())
        self.channel.notify("worker", "running", {"port": self.port, "tcpPort": self.tcp_port})

    async def _start_tcp(self, options: IceTcpOptions, any_port_if_taken: bool) -> None:
        tcp = IceTcpServer(
            IceTcpServerParams(
                host=self.host,
                options=options,
                loopback_only=self.loopback_only,
                idle_timeout_s=self.consent_timeout_s,
                check_binding=self.check_binding,
                publish_stats=lambda stats: self._notify("worker", "tcpstats", stats),
            )
        )
        port = self.port if self.tcp_port is None else self.tcp_port
        self.tcp_port = await tcp.listen(port, any_port_if_taken=any_port_if_taken and self.tcp_port is None)
        self._tcp = tcp

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_until_closed(self) -> None:
        await self._closed.wait()
        await self.close()

    async def close(self) -> None:
        for r in list(self.routers.values()):
            r.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.close()
        if self._sender is not None:
            self._sender.close()
        if self._udp is not None:
            self._udp.close()
        if self.channel is not None:
            await self.channel.close()

    # -- datagram helpers --------------------------------------------------------------------------
    def sendto(self, data: bytes, addr: Addr) -> None:
        sender = self._sender
        if sender is not None:
            self.tx_packets += 1
            self.tx_bytes += len(data)
            sender.sendto(data, addr)

    def send_rtp(self, data: bytes, addr: Addr) -> None:
        sender = self._native_sender or self._sender  # one per-turn RTP queue: arrival order per address
        if sender is not None:
            self.tx_packets += 1
            self.tx_bytes += len(data)
            sender.queue(data, addr)

    def handle_stun(self, data: bytes, addr: Addr) -> None:
        # the socket is IPv4: a loopback source is 127.x.x.x (ipaddress costs ~2 µs, only for the rest)
        if self.loopback_only and addr[0][:4] != "127." and not ipaddress.ip_address(addr[0]).is_loopback:
            self.stun_rejected += 1
            return
        # Fast path (ice/stun.py): the usual request layout, the transport's precomputed HMAC state and
        # a response template. Anything it does not take (another layout, an unknown ufrag, a failed
        # check) goes through the slow path below, which answers, rejects and counts as it always did.
        fast = stun.fast_binding(data)
        if fast is not None:
            t = self.ufrags.get(fast[0])
            if (
                t is not None
                and not t.closed
                and (t.remote_ufrag is None or fast[1] == t.remote_ufrag)
                and t.ice_key.check(data)
            ):
                self.stun_fast += 1
                self.sendto(t.ice_key.binding_success(data[8:20], addr), addr)
                t.on_ice_check(addr, fast[2])
                return
        found = self.check_binding(data)
        if found is None:
            return
        req, transport = found
        self.sendto(stun.build_binding_success(req, addr, transport.ice_pwd), addr)
        transport.on_ice_check(addr, req.use_candidate)

    def check_binding(self, data: bytes) -> tuple[stun.BindingRequest, WebRtcTransport] | None:
        """A Binding request with the credentials of a live transport, and that transport; None for
        any other STUN message or a failed check (UDP and ICE-TCP share it). ValueError on garbage."""
        req = stun.parse_binding_request(data)
        if req is None:
            return None
        transport = self.ufrags.get(req.local_ufrag)
        if transport is None or transport.closed:
            self.stun_rejected += 1
            return None
        if transport.remote_ufrag is not None and req.remote_ufrag != transport.remote_ufrag:
            self.stun_rejected += 1  # USERNAME must be serverUfrag:clientUfrag of this session
            return None
        if not stun.check_integrity(req, transport.ice_pwd):
            self.stun_rejected += 1  # dropped silently: no unauthenticated replies to spoofable sources
            return None
        return req, transport

    def udp_socket_stats(self) -> dict[str, int]:
        """Kernel view of the shared socket: receive buffer size, bytes waiting, datagrams dropped
        because the buffer was full (the worker fell behind). Zeros where Linux's SO_MEMINFO is missing."""
        out = {"udpRecvBuffer": 0, "udpRecvQueued": 0, "udpRecvDrops": 0}
        sock = self._sock
        if sock is None:
            return out
        with contextlib.suppress(OSError):
            out["udpRecvBuffer"] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            info = struct.unpack("9I", sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 36))
            out["udpRecvQueued"] = info[0]
            out["udpRecvDrops"] = info[8]
        return out

    def begin_turn(self) -> None:
        """First datagram of a loop turn: is the socket behind? At least ``shed_queue_bytes`` queued, or
        datagrams dropped by the kernel since the last look, make this turn shed (datagram_received);
        the first turn that finds the queue below the mark again requests a key frame from each
        producer that lost packets. One getsockopt per turn, none per datagram."""
        self.turn_checked = True
        asyncio.get_running_loop().call_soon(self._end_turn)
        sock = self._sock
        if sock is None:
            return
        try:
            info = _MEMINFO.unpack(sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, _MEMINFO.size))
        except OSError:
            return
        drops = info[8]
        behind = info[0] >= self.shed_queue_bytes or drops != self._kernel_drops
        self._kernel_drops = drops
        if behind:
            self.shedding = True
            self.shed_turns += 1
        elif self.shedding:
            self.shedding = False
            self._drained()

    def _end_turn(self) -> None:
        self.turn_checked = False

    def count_shed(self, producer: Producer, size: int) -> None:
        self.shed_packets += 1
        self.shed_bytes += size
        self._shed_producers[producer.id] = producer

    def _drained(self) -> None:
        """The backlog is gone: one key frame request per producer that lost packets meanwhile (the
        subscribers' decoders need it; Producer.request_keyframe rate-limits and defers, never drops)."""
        for producer in self._shed_producers.values():
            if not producer.closed:
                producer.request_keyframe()
                self.shed_keyframe_requests += 1
        self._shed_producers.clear()

    def _bind_tuple(self, transport: WebRtcTransport, old: Addr | None, addr: Addr | None) -> None:
        """UDP 5-tuples only (an ICE-TCP tuple is its connection, which knows its transport)."""
        if old is not None and self.tuples.get(old) is transport:
            del self.tuples[old]
        if addr is not None:
            self.tuples[addr] = transport

    # -- periodic work -------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        last_reports = last_quality = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            try:
                for t in list(self.ufrags.values()):
                    t.on_tick(now)
                for pipe in list(self.pipes.values()):
                    pipe.on_tick(now)
                for r in list(self.routers.values()):
                    report = r.poll_speakers(now)
                    if report is not None:
                        self._notify(r.id, "speakers", speakers_data(report))
                if now - last_reports >= REPORT_INTERVAL_S:
                    last_reports = now
                    wall = time.time()
                    for t in list(self.ufrags.values()):
                        t.update_rates(now)
                        t.send_reports(now, wall)
                        if now - t.last_rx > self.consent_timeout_s:
                            t.close(CloseReason.CONSENT_TIMEOUT)
                    for pipe in list(self.pipes.values()):
                        pipe.update_rates(now)
                        pipe.send_reports(now, wall)
                    self._publish_pipe_stats()
                if now - last_quality >= QUALITY_INTERVAL_S:
                    last_quality = now
                    for r in list(self.routers.values()):
                        grades = {tid: t.network_quality(now) for tid, t in r.transports.items()}
                        if grades:
                            self._notify(r.id, "quality", grades)
            except Exception:
                self.errors += 1
                logger.exception("tick failed")

    def _publish_pipe_stats(self) -> None:
        """Push the pipes' counters (``pipestats``) when they changed, for ``/metrics``."""
        stats = [pipe.stats() for pipe in self.pipes.values()]
        if stats != self._last_pipe_stats:
            self._last_pipe_stats = stats
            self._notify("worker", "pipestats", {"pipes": stats})

    # -- objects -------------------------------------------------------------------------------------
    def _notify(self, target_id: str, event: str, data: dict[str, Any]) -> None:
        if self.channel is not None:
            self.channel.notify(target_id, event, data)

    def _make_transport_params(self, transport_id: str, router: RouterLink) -> TransportParams:
        def closed(t: WebRtcTransport) -> None:
            for i, n in enumerate(t.feedback_counts()):
                self.feedback_closed[i] += n
            if self.ufrags.get(t.ice_ufrag) is t:
                del self.ufrags[t.ice_ufrag]
            if t.tuple is not None and self.tuples.get(t.tuple) is t:
                del self.tuples[t.tuple]
            if self._tcp is not None:
                self._tcp.on_transport_closed(t)
            router.on_transport_close(t)

        return TransportParams(
            transport_id=transport_id,
            certificate=self.certificate,
            announced_ip=self.announced_ip,
            port=self.port,
            rtx_buffer_ms=self.rtx_buffer_ms,
            sendto=self.sendto,
            send_rtp=self.send_rtp,
            native_sender=self._native_sender,
            bind_tuple=self._bind_tuple,
            notify=self._notify,
            router=router,
            on_close=closed,
            tcp_port=self.tcp_port if self._tcp is not None else None,
            udp_preferred_s=self.udp_preferred_s,
            tcp_grace_s=self.tcp_grace_s,
            dtls_gate=self.dtls_gate,
        )

    def _make_pipe_params(
        self,
        transport_id: str,
        get_producer: Callable[[str], Producer | None],
        register_producer: Callable[[Producer], None],
        unregister_producer: Callable[[Producer], None],
        on_router_close: Callable[[PipeTransport], None],
    ) -> PipeTransportParams:
        def closed(pipe: PipeTransport) -> None:
            if self.pipes.get(pipe.id) is pipe:
                del self.pipes[pipe.id]
            on_router_close(pipe)

        return PipeTransportParams(
            transport_id=transport_id,
            host=self.host,
            rtx_buffer_ms=self.rtx_buffer_ms,
            get_producer=get_producer,
            register_producer=register_producer,
            unregister_producer=unregister_producer,
            notify=self._notify,
            on_close=closed,
        )

    def _on_router_close(self, router: Router) -> None:
        self.routers.pop(router.id, None)

    def _on_transport_created(self, t: WebRtcTransport) -> None:
        self.ufrags[t.ice_ufrag] = t

    def _router(self, router_id: str | None) -> Router:
        return _find((self.routers,), router_id, "router")

    def _transport(self, transport_id: str | None) -> WebRtcTransport:
        return _find((r.transports for r in self.routers.values()), transport_id, "transport")

    def _pipe(self, transport_id: str | None) -> PipeTransport:
        return _find((self.pipes,), transport_id, "pipe transport")

    def _producer(self, producer_id: str | None) -> Producer:
        return _find((r.producers for r in self.routers.values()), producer_id, "producer")

    def _consumer(self, consumer_id: str | None) -> Consumer:
        owners: list[WebRtcTransport | PipeTransport] = []
        for r in self.routers.values():
            owners += [*r.transports.values(), *r.pipe_transports.values()]
        return _find((o.consumers for o in owners), consumer_id, "consumer")

    # -- channel requests ------------------------------------------------------------------------------
    def _build_handlers(self) -> dict[str, Handler]:
        """Channel method -> handler(handler_id, data) (docs/channel.md lists each method)."""
        return {
            "worker.dump": self._worker_dump,
            "worker.counts": self._worker_counts,
            "worker.metrics": self._worker_metrics,
            "worker.createRouter": self._worker_create_router,
            "router.close": self._router_close,
            "router.createWebRtcTransport": self._router_create_webrtc_transport,
            "router.dump": lambda rid, _: self._router(rid).dump(),
            "router.stats": lambda rid, _: self._router(rid).stats(),
            "transport.connect": self._transport_connect,
            "transport.restartIce": self._transport_restart_ice,
            "transport.produce": self._transport_produce,
            "transport.consume": self._transport_consume,
            "transport.close": _acting(self._transport, methodcaller("close"), missing_ok=True),
            "transport.dump": lambda tid, _: self._transport(tid).dump(),
            "producer.close": _acting(self._producer, methodcaller("close"), missing_ok=True),
            "producer.pause": _acting(self._producer, methodcaller("pause")),
            "producer.resume": _acting(self._producer, methodcaller("resume")),
            "producer.requestKeyFrame": _acting(self._producer, methodcaller("request_keyframe")),
            "consumer.close": _acting(self._consumer, methodcaller("close"), missing_ok=True),
            "consumer.pause": _acting(self._consumer, methodcaller("pause")),
            "consumer.resume": _acting(self._consumer, methodcaller("resume")),
            "consumer.disableRtx": _acting(self._consumer, methodcaller("disable_rtx")),
            "consumer.requestKeyFrame": _acting(self._consumer, lambda c: c.request_keyframe()),
            "consumer.setProducer": self._consumer_set_producer,
            "consumer.setPreferredLayers": self._consumer_set_preferred_layers,
            # pipes between the routers of one room on two workers (media/pipe_transport.py)
            "router.createPipeTransport": self._router_create_pipe_transport,
            "pipeTransport.connect": self._pipe_connect,
            "pipeTransport.produce": self._pipe_produce,
            "pipeTransport.consume": self._pipe_consume,
            "pipeTransport.close": _acting(self._pipe, methodcaller("close"), missing_ok=True),
            "pipeTransport.dump": lambda tid, _: self._pipe(tid).dump(),
        }

    async def handle_request(
        self, method: str, handler_id: str | None, data: dict[str, Any]
    ) -> dict[str, Any]:
        handler = self._handlers.get(method)
        if handler is None:
            raise TypeError(f"unknown method {method}")
        return handler(handler_id, data)

    def _worker_counts(self, _: str | None, __: dict[str, Any]) -> dict[str, int]:
        """How many of each object the worker holds (leak checks: all back at zero once rooms close).
        Timers are the loop's scheduled callbacks beyond the worker's own tick; tasks beyond its own."""
        transports = [t for r in self.routers.values() for t in r.transports.values()]
        loop = asyncio.get_running_loop()
        scheduled = getattr(loop, "_scheduled", ())  # asyncio's timer heap (no public accessor)
        return {
            "routers": len(self.routers),
            "transports": len(transports),
            "producers": sum(len(r.producers) for r in self.routers.values()),
            "transportProducers": sum(len(t.producers) for t in transports),
            "consumers": sum(len(t.consumers) for t in transports),
            "producerConsumers": sum(
                len(p.consumers) for r in self.routers.values() for p in r.producers.values()
            ),
            "tuples": len(self.tuples),
            "ufrags": len(self.ufrags),
            "pipes": len(self.pipes),
            "timers": sum(1 for h in scheduled if not h.cancelled()),
            "tasks": len(asyncio.all_tasks(loop)),
            "workerTasks": len(self._tasks),
            "tcpConnections": self._tcp.connection_count() if self._tcp is not None else 0,
            "tcpBoundTransports": self._tcp.bound_transport_count() if self._tcp is not None else 0,
        }

    def _worker_metrics(self, _: str | None, __: dict[str, Any]) -> dict[str, Any]:
        """Lifetime totals and current sizes for the control plane's /metrics."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        transports = [t for r in self.routers.values() for t in r.transports.values()]
        feedback = list(self.feedback_closed)
        for t in transports:
            for i, n in enumerate(t.feedback_counts()):
                feedback[i] += n
        sender = self._sender
        native = self._native_sender.c if self._native_sender else None
        udp = self.udp_socket_stats()
        return {
            "cpuSeconds": usage.ru_utime + usage.ru_stime,
            "rssBytes": _rss_bytes(),
            "routers": len(self.routers),
            "transports": len(transports),
            "producers": sum(len(r.producers) for r in self.routers.values()),
            "consumers": sum(len(t.consumers) for t in transports),
            "rxPackets": self.rx_packets,
            "rxBytes": self.rx_bytes,
            "txPackets": self.tx_packets + (native.tx_packets if native else 0),
            "txBytes": self.tx_bytes + (native.tx_bytes if native else 0),
            "droppedWorker": self.dropped,
            "droppedKernel": int(udp.get("udpRecvDrops", 0)),
            "sendErrors": (sender.send_errors if sender else 0) + (native.send_errors if native else 0),
            "nacks": feedback[0],
            "plis": feedback[1],
            "firs": feedback[2],
            "rtxSent": feedback[3],
            "shedPackets": self.shed_packets,
            "shedBytes": self.shed_bytes,
            "shedTurns": self.shed_turns,
            "shedKeyframeRequests": self.shed_keyframe_requests,
            "dtlsFlightsDeferred": self.dtls_gate.deferred,
        }

    def _worker_dump(self, _: str | None, __: dict[str, Any]) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sender = self._sender
        native = self._native_sender.c if self._native_sender else None
        return {
            "port": self.port,
            "cpuSeconds": round(usage.ru_utime + usage.ru_stime, 3),
            "maxRssKb": usage.ru_maxrss,
            "routerIds": list(self.routers),
            "routers": [r.dump() for r in self.routers.values()],
            "dropped": self.dropped,
            "errors": self.errors,
            "stunRejected": self.stun_rejected,
            "stunFast": self.stun_fast,
            "tuples": len(self.tuples),
            "ufrags": len(self.ufrags),
            **self.udp_socket_stats(),
            "sendErrors": (sender.send_errors if sender else 0) + (native.send_errors if native else 0),
            # the native sender carries every RTP datagram when on (native forwards and the Python path's)
            "native": native is not None,
            "nativePackets": native.tx_packets if native else 0,
            "nativeCalls": native.calls if native else 0,
            "gso": bool(sender and sender.gso),
            "gsoCalls": (sender.gso_calls if sender else 0) + (native.gso_calls if native else 0),
            "gsoPackets": (sender.gso_packets if sender else 0) + (native.gso_packets if native else 0),
            "tcp": self._tcp.stats() if self._tcp else None,
            "pipes": [pipe.stats() for pipe in self.pipes.values()],
            "loadShedding": self.load_shedding,
            "shedPackets": self.shed_packets,
            "shedBytes": self.shed_bytes,
            "shedTurns": self.shed_turns,
            "shedKeyframeRequests": self.shed_keyframe_requests,
            "dtlsGate": {
                "flightsPerTurn": self.dtls_gate.limit,
                "waiting": self.dtls_gate.waiting,
                "processed": self.dtls_gate.processed,
                "deferred": self.dtls_gate.deferred,
                "peakWaiting": self.dtls_gate.peak_waiting,
                "peakPerTurn": self.dtls_gate.peak_per_turn,
            },
        }

    def _worker_create_router(self, _: str | None, data: dict[str, Any]) -> dict[str, Any]:
        router_id = str(data["routerId"])
        if router_id in self.routers:
            raise TypeError("duplicate router id")
        self.routers[router_id] = Router(
            RouterParams(
                router_id=router_id,
                make_transport_params=self._make_transport_params,
                on_transport_created=self._on_transport_created,
                on_close=self._on_router_close,
                make_pipe_params=self._make_pipe_params,
            )
        )
        return {"routerId": router_id}

    def _router_close(self, router_id: str | None, _: dict[str, Any]) -> dict[str, Any]:
        r = self.routers.get(router_id or "")
        if r is not None:
            r.close()
        return {}

    def _router_create_webrtc_transport(self, router_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        return self._router(router_id).create_webrtc_transport(str(data["transportId"])).local_parameters()

    def _transport_connect(self, transport_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        ice = data.get("iceParameters") or {}
        transport = self._transport(transport_id)
        transport.connect(data["dtlsParameters"], ice.get("usernameFragment"))
        if data.get("transportCc"):  # the subscriber takes transport-cc: estimate its downlink ourselves
            transport.enable_transport_cc(limits.in_range(data["transportCc"], 1, 14, "transportCc"))
        return {}

    def _transport_restart_ice(self, transport_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        t = self._transport(transport_id)
        old_ufrag = t.ice_ufrag
        ufrag, pwd = t.restart_ice(data.get("usernameFragment"))
        if self.ufrags.get(old_ufrag) is t:
            del self.ufrags[old_ufrag]
        self.ufrags[ufrag] = t
        return {"usernameFragment": ufrag, "password": pwd, "iceLite": True}

    def _transport_produce(self, transport_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        p = self._transport(transport_id).produce(str(data["producerId"]), data)
        return {"producerId": p.id}

    def _transport_consume(self, transport_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        t = self._transport(transport_id)
        c = t.consume(str(data["consumerId"]), str(data["producerId"]), data)
        return {"consumerId": c.id}

    def _router_create_pipe_transport(self, router_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        pipe = self._router(router_id).create_pipe_transport(str(data["transportId"]))
        self.pipes[pipe.id] = pipe
        return pipe.local_parameters()

    def _pipe_connect(self, transport_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        self._pipe(transport_id).connect(str(data["ip"]), data["port"], data.get("srtp"))
        return {}

    def _pipe_produce(self, transport_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        p = self._pipe(transport_id).produce(str(data["producerId"]), data)
        return {"producerId": p.id}

    def _pipe_consume(self, transport_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        c = self._pipe(transport_id).consume(str(data["consumerId"]), str(data["producerId"]), data)
        return {"consumerId": c.id}

    def _consumer_set_producer(self, consumer_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        producer = self._producer(str(data["producerId"]))
        consumer = self._consumer(consumer_id)
        if isinstance(consumer, SimulcastConsumer):
            consumer.set_layers(producer.kind, [p.attach for p in producer.layers or (producer,)])
        else:  # one encoding out: the full-resolution one (a simulcast producer's last)
            consumer.set_producer(producer.kind, producer.attach)
        return {}

    def _consumer_set_preferred_layers(self, consumer_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        spatial = limits.in_range(data["spatialLayer"], 0, 2, "spatialLayer")
        temporal = data.get("temporalLayer")
        self._consumer(consumer_id).set_preferred_layers(
            spatial, 3 if temporal is None else limits.in_range(temporal, 0, 3, "temporalLayer")
        )
        return {}


def speakers_data(report: SpeakerReport) -> dict[str, Any]:
    """The ``speakers`` notification (docs/channel.md)."""
    return {"volumes": [[pid, volume] for pid, volume in report.volumes], "dominant": report.dominant}


Handler = Callable[[str | None, dict[str, Any]], dict[str, Any]]
T = TypeVar("T")


def _find(tables: Iterable[Mapping[str, T]], object_id: str | None, what: str) -> T:
    """The object with ``object_id`` in the first of ``tables`` that has it; an unknown id is a
    channel error ("unknown <what>")."""
    for table in tables:
        obj = table.get(object_id or "")
        if obj is not None:
            return obj
    raise InvalidStateError(f"unknown {what}")


def _acting(find: Callable[[str | None], T], act: Callable[[T], None], missing_ok: bool = False) -> Handler:
    """A handler that applies ``act`` to the object ``find`` returns for the request's handlerId. With
    ``missing_ok`` an unknown id is not an error (closing is idempotent)."""

    def handle(object_id: str | None, _: dict[str, Any]) -> dict[str, Any]:
        try:
            obj = find(object_id)
        except InvalidStateError:
            if missing_ok:
                return {}
            raise
        act(obj)
        return {}

    return handle


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="relayroom.media.worker")
    ap.add_argument("--channel-fd", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--announced-ip", default=None)
    ap.add_argument("--loopback-only", action="store_true")
    ap.add_argument("--rtx-buffer-ms", type=int, default=2000)
    ap.add_argument("--consent-timeout", type=float, default=30.0)
    ap.add_argument("--no-gso", action="store_true")
    ap.add_argument("--no-native", action="store_true", help="pure-Python forwarding (no C fan-out)")
    ap.add_argument("--udp-recv-buffer", type=int, default=UDP_RECV_BUFFER, help="SO_RCVBUF (bytes)")
    ap.add_argument("--no-load-shedding", action="store_true")
    ap.add_argument("--shed-queue-bytes", type=int, default=SHED_QUEUE_BYTES)
    ap.add_argument("--dtls-flights-per-turn", type=int, default=DTLS_FLIGHTS_PER_TURN, help="0 = no gate")
    ap.add_argument("--log-level", default="WARNING")
    ap.add_argument("--log-format", choices=LOG_FORMATS, default="auto")
    add_tcp_arguments(ap)
    args = ap.parse_args(argv)
    disable_core_dumps()
    ignore_stop_signals()
    # the control plane's setup: the same redacting formatter, in the format it chose
    setup_logging(args.log_level, process=f"media-worker:{os.getpid()}", log_format=args.log_format)
    sock = socket.socket(fileno=args.channel_fd)

    async def run() -> None:
        worker = Worker(
            args.host,
            args.port,
            args.announced_ip,
            args.loopback_only,
            args.rtx_buffer_ms,
            args.consent_timeout,
            gso=not args.no_gso,
            native=not args.no_native,
            udp_recv_buffer=args.udp_recv_buffer,
            tcp=tcp_options_from_args(args),
            tcp_port=args.tcp_port,
            load_shedding=not args.no_load_shedding,
            shed_queue_bytes=args.shed_queue_bytes,
            dtls_flights_per_turn=args.dtls_flights_per_turn,
        )
        await worker.start(sock)
        await worker.run_until_closed()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:  # pragma: no cover
        asyncio.run(run())


if __name__ == "__main__":
    main()
