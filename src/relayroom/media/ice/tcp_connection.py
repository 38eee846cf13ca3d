"""IceTcpConnection: one ICE-TCP connection to a worker (RFC 6544, passive side), RFC 4571 framing.

Every packet on the stream is a frame: a 2-byte big-endian length, then that many bytes of STUN, DTLS or
SRTP/SRTCP, demultiplexed by first byte like a UDP datagram (RFC 7983). Until its first frame proves
the right ICE credentials the connection is *pending*: that frame must be a STUN Binding request for a
live transport with a valid MESSAGE-INTEGRITY, or the connection is closed at once. After that it is
*bound* to the transport: frames go to the transport's receive path (the same functions the UDP socket
calls), and once the transport answers its checks (``answers_tcp_check``: TCP is the fallback for
clients without UDP) it may select the connection as its tuple and send frames on it.

Hand-written framing (no StreamReader): frames are cut straight out of what ``data_received`` hands us,
without a task or a queue per connection; output frames of one event-loop turn leave in one ``write``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relayroom.media.ice import stun

if TYPE_CHECKING:
    from relayroom.media.webrtc_transport import WebRtcTransport

logger = logging.getLogger(__name__)

Addr = tuple[str, int]
_LEN = struct.Struct("!H")
MAX_RFC4571_FRAME = 0xFFFF


class TcpCloseReason(enum.StrEnum):
    BAD_FRAMING = "bad_framing"  # first frame not STUN, not parseable, or empty
    OVERSIZED = "oversized"  # a frame longer than the limit
    UNAUTHENTICATED = "unauthenticated"  # STUN, but not a valid check for a live transport
    AUTH_TIMEOUT = "auth_timeout"  # no valid check in time (half-open, slowloris)
    EVICTED = "evicted"  # oldest pending connection dropped for a new one (flood)
    LIMIT = "limit"  # worker or transport connection limit reached
    REFUSED = "refused"  # address not allowed (loopback-only workers)
    IDLE = "idle"  # bound, but nothing received for the consent timeout
    TRANSPORT_CLOSED = "transport_closed"
    PEER_CLOSED = "peer_closed"
    WORKER_CLOSED = "worker_closed"


# Reasons that reset the connection (RST) instead of a graceful FIN: nothing owed to the peer.
_ABORT = frozenset(
    {
        TcpCloseReason.BAD_FRAMING,
        TcpCloseReason.OVERSIZED,
        TcpCloseReason.UNAUTHENTICATED,
        TcpCloseReason.AUTH_TIMEOUT,
        TcpCloseReason.EVICTED,
        TcpCloseReason.LIMIT,
        TcpCloseReason.REFUSED,
    }
)


class TcpCounters:
    """Per-worker counters the connections share (plain attributes: incremented on the data path)."""

    __slots__ = ("checks_held", "dropped", "errors", "send_dropped")

    def __init__(self) -> None:
        self.dropped = 0  # frames on a bound connection that are neither STUN, DTLS nor SRTP
        self.errors = 0
        self.send_dropped = 0  # frames not sent: the connection's output buffer was full
        self.checks_held = 0  # valid checks not answered (yet): see WebRtcTransport.answers_tcp_check


@dataclass(frozen=True)
class IceTcpConnectionParams:
    max_frame_bytes: int
    send_buffer_bytes: int
    counters: TcpCounters
    # STUN Binding request with this worker's credentials -> (request, transport); None when refused.
    # Raises ValueError on bytes that are not STUN.
    check_binding: Callable[[bytes], tuple[stun.BindingRequest, WebRtcTransport] | None]
    on_open: Callable[[IceTcpConnection], TcpCloseReason | None]  # server admission (None = admitted)
    on_bound: Callable[[IceTcpConnection, WebRtcTransport], bool]  # False: transport's limit reached
    on_closed: Callable[[IceTcpConnection, TcpCloseReason], None]


class IceTcpConnection(asyncio.Protocol):
    def __init__(self, params: IceTcpConnectionParams) -> None:
        self.params = params
        self.stream: asyncio.Transport | None = None
        self.remote: Addr = ("", 0)
        self.webrtc: WebRtcTransport | None = None  # set once a valid check arrived (bound)
        self.closed = False
        self.created_at = time.monotonic()
        self.last_rx = self.created_at
        self.auth_timer: asyncio.TimerHandle | None = None
        self._buf = bytearray()  # an incomplete frame carried over to the next read
        self._out = bytearray()  # frames queued in this event-loop turn
        self._loop = asyncio.get_running_loop()

    # -- asyncio.Protocol ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stream = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.remote = (str(peer[0]), int(peer[1]))
        reason = self.params.on_open(self)
        if reason is not None:
            self.close(reason)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(TcpCloseReason.PEER_CLOSED)

    def eof_received(self) -> bool:
        self.close(TcpCloseReason.PEER_CLOSED)
        return False

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        now = time.monotonic()
        self.last_rx = now
        buf = self._buf
        if buf:
            buf += data
        max_frame = self.params.max_frame_bytes
        pos = 0
        with memoryview(buf if buf else data) as view:
            end = len(view)
            while end - pos >= 2:
                n = (view[pos] << 8) | view[pos + 1]
                if n > max_frame:
                    self.close(TcpCloseReason.OVERSIZED)
                    return
                if end - pos - 2 < n:
                    break
                frame = bytes(view[pos + 2 : pos + 2 + n])
                pos += 2 + n
                webrtc = self.webrtc
                try:
                    if webrtc is None:
                        if not self._authenticate(frame, now):
                            return
                        continue
                    # RFC 7983 demux, as on the UDP socket: SRTP/SRTCP first.
                    b0 = frame[0] if n else 255
                    if 127 < b0 < 192:
                        if n >= 12:
                            webrtc.receive_srtp(frame, now)
                    elif 19 < b0 < 64:
                        webrtc.receive_dtls(frame)
                    elif b0 < 4:
                        self._refresh(frame, webrtc, now)
                    else:
                        self.params.counters.dropped += 1
                except Exception:
                    self.params.counters.errors += 1
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug("ice-tcp frame handling failed", exc_info=True)
                if self.closed:  # e.g. the transport closed (DTLS failure) and took us with it
                    return
        if buf:
            del buf[:pos]
        elif pos < len(data):
            buf += data[pos:]

    # -- ICE -------------------------------------------------------------------------------------------
    def _authenticate(self, frame: bytes, now: float) -> bool:
        """First frame: a valid check binds the connection to its transport; anything else closes it."""
        if not frame or frame[0] > 3:
            self.close(TcpCloseReason.BAD_FRAMING)
            return False
        try:
            found = self.params.check_binding(frame)
        except Exception:  # aioice raises ValueError, and struct/index errors on some garbage
            self.close(TcpCloseReason.BAD_FRAMING)
            return False
        if found is None:
            self.close(TcpCloseReason.UNAUTHENTICATED)
            return False
        req, webrtc = found
        if not self.params.on_bound(self, webrtc):
            self.close(TcpCloseReason.LIMIT)
            return False
        self.webrtc = webrtc
        self._answer(req, webrtc, now)
        return True

    def _answer(self, req: stun.BindingRequest, webrtc: WebRtcTransport, now: float) -> None:
        if not webrtc.answers_tcp_check(now):
            self.params.counters.checks_held += 1  # the client's UDP works (or may): TCP waits
            return
        self.send_frame(stun.build_binding_success(req, self.remote, webrtc.ice_pwd), self.remote)
        webrtc.on_ice_check(self.remote, req.use_candidate, self)

    def _refresh(self, frame: bytes, webrtc: WebRtcTransport, now: float) -> None:
        """A check on a bound connection (consent, nomination): only for the same transport."""
        try:
            found = self.params.check_binding(frame)
        except Exception:
            self.params.counters.dropped += 1
            return
        if found is None or found[1] is not webrtc:
            self.params.counters.dropped += 1
            return
        self._answer(found[0], webrtc, now)

    # -- sending ---------------------------------------------------------------------------------------
    def send_frame(self, data: bytes, addr: Addr) -> None:
        """Queue one frame (``addr`` is the transport's tuple; the connection already knows its peer).

        Dropped, never queued without bound, when the peer does not read fast enough: media that
        cannot leave within the buffer is late anyway, and a frame is dropped whole (framing stays
        intact)."""
        stream = self.stream
        if stream is None or self.closed:
            return
        n = len(data)
        out = self._out
        if n > MAX_RFC4571_FRAME or (
            len(out) + n + stream.get_write_buffer_size() > self.params.send_buffer_bytes
        ):
            self.params.counters.send_dropped += 1
            return
        if not out:
            self._loop.call_soon(self._flush)
        out += _LEN.pack(n)
        out += data

    def _flush(self) -> None:
        out, self._out = self._out, bytearray()
        stream = self.stream
        if out and stream is not None and not self.closed:
            stream.write(out)

    # -- lifecycle -------------------------------------------------------------------------------------
    def close(self, reason: TcpCloseReason) -> None:
        if self.closed:
            return
        self.closed = True
        if self.auth_timer is not None:
            self.auth_timer.cancel()
            self.auth_timer = None
        self._buf = bytearray()
        stream = self.stream
        if stream is not None:
            if reason in _ABORT:
                stream.abort()
            else:
                if self._out:
                    stream.write(self._out)
                stream.close()
        self._out = bytearray()
        self.params.on_closed(self, reason)
        webrtc = self.webrtc
        if webrtc is not None:
            webrtc.on_tcp_closed(self)

    @property
    def pending(self) -> bool:
        return self.webrtc is None
