"""IceTcpServer: a worker's ICE-TCP listening socket, its connections and their limits.

Every connection costs an accept, a small object and a timer until it proves the ICE credentials of a
live transport (tcp_connection.py). The limits bound what junk can cost a worker:

- a first frame that is not a valid check closes the connection at once (``bad_framing``,
  ``oversized``, ``unauthenticated``);
- a connection without a valid check after ``auth_timeout_s`` is closed (``auth_timeout``: half-open
  connections, slowloris);
- at most ``max_pending`` connections wait for their check: a new one evicts the oldest (``evicted``),
  so a flood of idle connections cannot lock out a real client, whose check arrives at once;
- at most ``max_connections`` in all (``limit``), and at most ``MAX_PER_TRANSPORT`` bound to one
  transport;
- a bound connection that receives nothing for the consent timeout is closed (``idle``).

Counts are in ``stats()`` (``worker.dump`` → ``tcp``) and pushed to the control plane as the worker
notification ``tcpstats`` when they change (Prometheus ``/metrics``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relayroom.media.ice import stun
from relayroom.media.ice.tcp_connection import (
    IceTcpConnection,
    IceTcpConnectionParams,
    TcpCloseReason,
    TcpCounters,
)
from relayroom.media.types import IceTcpOptions

if TYPE_CHECKING:
    from relayroom.media.webrtc_transport import WebRtcTransport

logger = logging.getLogger(__name__)

MAX_PER_TRANSPORT = 8  # a browser opens one per candidate pair; more after ICE restarts
SWEEP_INTERVAL_S = 1.0
LISTEN_BACKLOG = 512


@dataclass(frozen=True)
class IceTcpServerParams:
    host: str
    options: IceTcpOptions
    loopback_only: bool
    idle_timeout_s: float  # bound connections: the transports' consent timeout
    check_binding: Callable[[bytes], tuple[stun.BindingRequest, WebRtcTransport] | None]
    publish_stats: Callable[[dict[str, Any]], None]  # pushed when the counts change


class IceTcpServer:
    def __init__(self, params: IceTcpServerParams) -> None:
        self.params = params
        self.port = 0
        self.counters = TcpCounters()
        self.accepted = 0
        self.closed_by: dict[str, int] = {r.value: 0 for r in TcpCloseReason}
        self._connections: set[IceTcpConnection] = set()
        self._pending: dict[IceTcpConnection, None] = {}  # oldest first (insertion order)
        self._by_transport: dict[WebRtcTransport, list[IceTcpConnection]] = {}
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._published: dict[str, Any] | None = None
        self.closed = False
        opts = params.options
        self._conn_params = IceTcpConnectionParams(
            max_frame_bytes=opts.max_frame_bytes,
            send_buffer_bytes=opts.send_buffer_bytes,
            counters=self.counters,
            check_binding=params.check_binding,
            on_open=self._on_open,
            on_bound=self._on_bound,
            on_closed=self._on_closed,
        )

    async def listen(self, port: int, *, any_port_if_taken: bool = False) -> int:
        """Bind and listen; returns the port. ``any_port_if_taken``: when ``port`` is in use, let the OS
        pick one (the default "same number as the UDP port" after an ephemeral UDP port)."""
        loop = asyncio.get_running_loop()
        try:
            sock = self._bind(port)
        except OSError:
            if not any_port_if_taken or port == 0:
                raise
            sock = self._bind(0)
        self._server = await loop.create_server(
            lambda: IceTcpConnection(self._conn_params), sock=sock, backlog=LISTEN_BACKLOG
        )
        self.port = sock.getsockname()[1]
        self._sweeper = loop.create_task(self._sweep_loop())
        return self.port

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((self.params.host, port))
        except OSError:
            sock.close()
            raise
        return sock

    # -- admission -------------------------------------------------------------------------------------
    def _on_open(self, conn: IceTcpConnection) -> TcpCloseReason | None:
        self.accepted += 1
        self._connections.add(conn)
        if self.closed:
            return TcpCloseReason.WORKER_CLOSED
        if self.params.loopback_only and not _is_loopback(conn.remote[0]):
            return TcpCloseReason.REFUSED
        opts = self.params.options
        if len(self._pending) >= opts.max_pending or len(self._connections) > opts.max_connections:
            oldest = next(iter(self._pending), None)
            if oldest is None:
                return TcpCloseReason.LIMIT  # every slot holds an authenticated connection
            oldest.close(TcpCloseReason.EVICTED)
        self._pending[conn] = None
        stream = conn.stream
        if stream is not None:
            sock = stream.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.auth_timer = asyncio.get_running_loop().call_later(
            opts.auth_timeout_s, conn.close, TcpCloseReason.AUTH_TIMEOUT
        )
        return None

    def _on_bound(self, conn: IceTcpConnection, webrtc: WebRtcTransport) -> bool:
        conns = self._by_transport.setdefault(webrtc, [])
        if len(conns) >= MAX_PER_TRANSPORT:
            return False
        conns.append(conn)
        self._pending.pop(conn, None)
        if conn.auth_timer is not None:
            conn.auth_timer.cancel()
            conn.auth_timer = None
        return True

    def _on_closed(self, conn: IceTcpConnection, reason: TcpCloseReason) -> None:
        self.closed_by[reason.value] += 1
        self._connections.discard(conn)
        self._pending.pop(conn, None)
        webrtc = conn.webrtc
        if webrtc is not None:
            conns = self._by_transport.get(webrtc)
            if conns is not None:
                with contextlib.suppress(ValueError):
                    conns.remove(conn)
                if not conns:
                    del self._by_transport[webrtc]

    def on_transport_closed(self, webrtc: WebRtcTransport) -> None:
        """The worker closed a transport: its connections go with it."""
        for conn in list(self._by_transport.pop(webrtc, ())):
            conn.close(TcpCloseReason.TRANSPORT_CLOSED)

    # -- periodic ----------------------------------------------------------------------------------------
    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                idle_before = time.monotonic() - self.params.idle_timeout_s
                for conns in list(self._by_transport.values()):
                    for conn in list(conns):
                        if conn.last_rx < idle_before:
                            conn.close(TcpCloseReason.IDLE)
                stats = self.stats()
                if stats != self._published:
                    self._published = stats
                    self.params.publish_stats(stats)
            except Exception:
                self.counters.errors += 1
                logger.exception("ice-tcp sweep failed")

    def connection_count(self) -> int:
        return len(self._connections)

    def bound_transport_count(self) -> int:
        return len(self._by_transport)

    def stats(self) -> dict[str, Any]:
        c = self.counters
        return {
            "port": self.port,
            "open": len(self._connections),
            "pending": len(self._pending),
            "bound": len(self._connections) - len(self._pending),
            "accepted": self.accepted,
            "closed": dict(self.closed_by),
            "dropped": c.dropped,
            "errors": c.errors,
            "sendDropped": c.send_dropped,
            "checksHeld": c.checks_held,
        }

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close(TcpCloseReason.WORKER_CLOSED)
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- worker command line ---------------------------------------------------------------------------------
def add_tcp_arguments(ap: argparse.ArgumentParser) -> None:
    d = IceTcpOptions()
    ap.add_argument("--no-tcp", action="store_true", help="no ICE-TCP listener")
    ap.add_argument("--tcp-port", type=int, default=None, help="default: the UDP port number")
    ap.add_argument("--tcp-max-frame-bytes", type=int, default=d.max_frame_bytes)
    ap.add_argument("--tcp-auth-timeout", type=float, default=d.auth_timeout_s)
    ap.add_argument("--tcp-max-pending", type=int, default=d.max_pending)
    ap.add_argument("--tcp-max-connections", type=int, default=d.max_connections)
    ap.add_argument("--tcp-send-buffer-bytes", type=int, default=d.send_buffer_bytes)


def tcp_options_from_args(args: argparse.Namespace) -> IceTcpOptions:
    return IceTcpOptions(
        enabled=not args.no_tcp,
        max_frame_bytes=args.tcp_max_frame_bytes,
        auth_timeout_s=args.tcp_auth_timeout,
        max_pending=args.tcp_max_pending,
        max_connections=args.tcp_max_connections,
        send_buffer_bytes=args.tcp_send_buffer_bytes,
    )


def tcp_worker_args(options: IceTcpOptions, port: int | None) -> list[str]:
    """The worker's command-line arguments for these options (inverse of tcp_options_from_args)."""
    if not options.enabled:
        return ["--no-tcp"]
    args = [
        "--tcp-max-frame-bytes",
        str(options.max_frame_bytes),
        "--tcp-auth-timeout",
        str(options.auth_timeout_s),
        "--tcp-max-pending",
        str(options.max_pending),
        "--tcp-max-connections",
        str(options.max_connections),
        "--tcp-send-buffer-bytes",
        str(options.send_buffer_bytes),
    ]
    if port is not None:
        args += ["--tcp-port", str(port)]
    return args
