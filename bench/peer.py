"""One synthetic WebRTC endpoint: a UDP socket with full-ICE checks and answers, DTLS-SRTP, and either a
paced publisher of pre-built media or a subscriber that only counts, timestamps and checks packets.

Works against an ICE-lite server (RelayRoom) and a full-ICE server (Janus/libnice). The receive path
reads the socket directly (``loop.add_reader`` + ``recvmsg`` until EAGAIN) and takes the kernel's
receive timestamp, so the latency it reports does not include the generator's own scheduling delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pylibsrtp
from aioice import stun
from aiortc import RTCCertificate

from bench.media import (
    AUDIO_CLOCK,
    AUDIO_PT,
    FLAG_KEY,
    FLAG_VIDEO,
    TRAILER,
    TRAILER_SIZE,
    VIDEO_CLOCK,
    VIDEO_PT,
    Frame,
    rtp_header,
)
from bench.sdp import RemoteDescription
from relayroom.media.dtls.dtls_transport import DtlsRole, DtlsTransport, SrtpKeys, local_fingerprint
from relayroom.media.srtp.session import SrtpPair

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TS = struct.Struct("qq")
_RTCP_HDR = struct.Struct("!BBH")

# Latency histogram: 2 µs bins to 4 ms, then 1 ms bins to ~2 s.
FINE_BINS = 2000
FINE_US = 2
COARSE_BINS = 2000
HIST_BINS = FINE_BINS + COARSE_BINS


def hist_index(lat_ns: int) -> int:
    us = lat_ns // 1000
    if us < FINE_BINS * FINE_US:
        return max(0, us // FINE_US)
    i = FINE_BINS + (us - FINE_BINS * FINE_US) // 1000
    return i if i < HIST_BINS else HIST_BINS - 1


def hist_value_us(i: int) -> float:
    if i < FINE_BINS:
        return (i + 0.5) * FINE_US
    return FINE_BINS * FINE_US + (i - FINE_BINS + 0.5) * 1000


@dataclass
class Window:
    """Counters of one measurement window [t0, t1) by send time (CLOCK_REALTIME ns)."""

    t0: int = 0
    t1: int = 0
    received: int = 0
    received_bytes: int = 0
    bad: int = 0
    hist: list[int] = field(default_factory=lambda: [0] * HIST_BINS)
    sent: dict[str, int] = field(default_factory=dict)  # stream key -> packets sent in window
    received_kind: list[int] = field(default_factory=lambda: [0, 0])  # in window: audio, video
    # Time series (bench/robust.py), by send time in bins of bin_ns from bins_t0, per kind (0 audio,
    # 1 video): packets sent, and packets received within ON_TIME_NS of their sending.
    bins_t0: int = 0
    bin_ns: int = 0
    sent_bins: list[list[int]] = field(default_factory=lambda: [[], []])
    ontime_bins: list[list[int]] = field(default_factory=lambda: [[], []])

    def reset(self, t0: int, t1: int) -> None:
        self.t0, self.t1 = t0, t1
        self.received = self.received_bytes = self.bad = 0
        self.hist = [0] * HIST_BINS
        self.sent = {}
        self.received_kind = [0, 0]

    def reset_bins(self, t0: int, bin_ns: int, n: int) -> None:
        self.bins_t0, self.bin_ns = t0, bin_ns
        self.sent_bins = [[0] * n, [0] * n]
        self.ontime_bins = [[0] * n, [0] * n]

    def count_bin(self, table: list[list[int]], kind: int, sent_ns: int) -> None:
        i = (sent_ns - self.bins_t0) // self.bin_ns
        if 0 <= i < len(table[kind]):
            table[kind][i] += 1


ON_TIME_NS = 100_000_000  # a packet later than this does not count as delivered in the time series


class Peer:
    """One client transport (one PeerConnection's worth)."""

    def __init__(self, name: str, cert: RTCCertificate, window: Window) -> None:
        self.name = name
        self.loop = asyncio.get_running_loop()
        self.cert = cert
        self.fingerprint = local_fingerprint(cert)
        self.window = window
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.ufrag = secrets.token_hex(4)
        self.pwd = secrets.token_hex(16)
        self.tie_breaker = secrets.randbits(63)
        self.remote: RemoteDescription | None = None
        self.remote_addr: tuple[str, int] | None = None
        self.controlling = True
        self.dtls: DtlsTransport | None = None
        self.dtls_role = DtlsRole.CLIENT
        self.srtp: SrtpPair | None = None
        self.srtp_profile = ""
        self.ice_ok = False
        self.connected = asyncio.Event()
        self.failed: str | None = None
        self.connected_ns = 0
        self.first_rtp_ns = 0
        self.first_key_ns = 0
        self.start_ns = 0  # subscribe/publish start (set by the coordinator)
        self.rx_packets = 0
        self.rx_rtcp = 0
        self.closed = False
        self._ice_task: asyncio.Task[None] | None = None
        self.loop.add_reader(self.sock.fileno(), self._on_readable)

    # -- setup ---------------------------------------------------------------------------------------
    def start(self, remote: RemoteDescription, *, controlling: bool, dtls_role: DtlsRole) -> None:
        if not remote.candidates:
            raise ValueError("remote description has no 127.0.0.0/8 UDP candidate")
        self.remote = remote
        self.remote_addr = remote.candidates[0]
        self.controlling = controlling
        self.dtls_role = dtls_role
        self.dtls = DtlsTransport(self.cert, self._send_raw, self._on_keys, self._on_failed, lambda: None)
        if dtls_role == DtlsRole.SERVER:
            self.dtls.start(DtlsRole.SERVER, [remote.fingerprint])
        self._ice_task = self.loop.create_task(self._ice_loop())

    def _send_raw(self, data: bytes) -> None:
        if self.remote_addr is not None and not self.closed:
            with contextlib.suppress(OSError):
                self.sock.sendto(data, self.remote_addr)

    def _on_keys(self, keys: SrtpKeys) -> None:
        self.srtp = SrtpPair(keys)
        self.srtp_profile = keys.profile.openssl_profile.decode()
        self.connected_ns = time.time_ns()
        self.connected.set()
        self.on_connected()

    def on_connected(self) -> None:
        """Subclasses start sending here."""

    def _on_failed(self, reason: str) -> None:
        self.failed = reason
        self.connected.set()

    async def _ice_loop(self) -> None:
        """Connectivity checks until DTLS is up (45 s at most), then consent every 2.5 s."""
        deadline = time.monotonic() + 45
        try:
            while not self.closed:
                self._send_check()
                if self.connected.is_set():
                    await asyncio.sleep(2.5)  # Chrome's ping interval on a stable selected pair
                    continue
                if time.monotonic() > deadline:
                    self._on_failed("ice/dtls timeout")
                    return
                # like Chrome: 50 ms while no check has succeeded, 480 ms once the pair works
                # (DTLS retransmits on its own), 2.5 s once connected
                await asyncio.sleep(0.48 if self.ice_ok else 0.05)
        except asyncio.CancelledError:
            pass

    def _send_check(self) -> None:
        assert self.remote is not None
        msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{self.remote.ice_ufrag}:{self.ufrag}"
        msg.attributes["PRIORITY"] = 1853817087
        if self.controlling:
            msg.attributes["ICE-CONTROLLING"] = self.tie_breaker
            msg.attributes["USE-CANDIDATE"] = None
        else:
            msg.attributes["ICE-CONTROLLED"] = self.tie_breaker
        msg.add_message_integrity(self.remote.ice_pwd.encode())
        msg.add_fingerprint()
        self._send_raw(bytes(msg))

    def _on_stun(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = stun.parse_message(data)
        except ValueError:
            return
        if msg.message_method != stun.Method.BINDING:
            return
        if msg.message_class == stun.Class.REQUEST:
            resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=msg.transaction_id)
            resp.attributes["XOR-MAPPED-ADDRESS"] = addr
            resp.add_message_integrity(self.pwd.encode())
            resp.add_fingerprint()
            with contextlib.suppress(OSError):
                self.sock.sendto(bytes(resp), addr)
            if self.remote_addr != addr and not self.ice_ok and addr[0].startswith("127."):
                self.remote_addr = addr
        elif msg.message_class == stun.Class.RESPONSE and not self.ice_ok and addr[0].startswith("127."):
            self.ice_ok = True
            self.remote_addr = addr
            if self.dtls is not None and self.dtls_role == DtlsRole.CLIENT:
                self.dtls.start(DtlsRole.CLIENT, [self.remote.fingerprint] if self.remote else [])

    # -- receive ---------------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        recvmsg = self.sock.recvmsg
        while True:
            try:
                data, anc, _flags, addr = recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                continue
            b0 = data[0]
            if 127 < b0 < 192:
                if 192 <= data[1] <= 223:
                    self.rx_rtcp += 1
                    self.on_rtcp(data)
                else:
                    rx_ns = 0
                    if anc:
                        sec, nsec = _TS.unpack_from(anc[0][2])
                        rx_ns = sec * 1_000_000_000 + nsec
                    self.on_rtp(data, rx_ns or time.time_ns())
            elif b0 < 4:
                self._on_stun(data, addr)
            elif 19 < b0 < 64 and self.dtls is not None:
                self.dtls.receive(data)

    def on_rtp(self, data: bytes, rx_ns: int) -> None:
        self.rx_packets += 1

    def on_rtcp(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._ice_task is not None:
            self._ice_task.cancel()
        if self.dtls is not None:
            with contextlib.suppress(Exception):
                self.dtls.close()
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class Subscriber(Peer):
    """Counts, timestamps and checks every RTP packet: decrypts it (SRTP auth = integrity check), reads
    the trailer and adds the packet to the window when its send time falls inside."""

    def on_rtp(self, data: bytes, rx_ns: int) -> None:
        srtp = self.srtp
        if srtp is None:
            return
        w = self.window
        try:
            plain = srtp.rx.unprotect(data)
        except pylibsrtp.Error:
            w.bad += 1
            return
        self.rx_packets += 1
        flags, _stream, _counter, sent_ns = TRAILER.unpack_from(plain, len(plain) - TRAILER_SIZE)
        if flags > 3:
            w.bad += 1
            return
        if not self.first_rtp_ns:
            self.first_rtp_ns = rx_ns
        if flags & FLAG_KEY and not self.first_key_ns:
            self.first_key_ns = rx_ns
        if w.bin_ns and rx_ns - sent_ns < ON_TIME_NS:
            w.count_bin(w.ontime_bins, flags & FLAG_VIDEO, sent_ns)
        if w.t0 <= sent_ns < w.t1:
            w.received += 1
            w.received_bytes += len(data)
            w.received_kind[flags & FLAG_VIDEO] += 1
            lat = rx_ns - sent_ns
            us = lat // 1000
            if 0 <= us < 4000:
                w.hist[us >> 1] += 1
            else:
                w.hist[hist_index(lat)] += 1


class Publisher(Peer):
    """Sends pre-built audio (20 ms) and VP8-shaped video (30 fps) frames; answers PLI/FIR with a key
    frame (at most one per 500 ms). Video packets of a frame are paced like libwebrtc's pacer
    (2.5× the target rate, 5 ms ticks) unless ``burst``."""

    def __init__(
        self,
        name: str,
        cert: RTCCertificate,
        window: Window,
        *,
        stream_id: int,
        audio: bool,
        video: bool,
        frames: list[Frame],
        key_frame: Frame,
        audio_payloads: list[bytes],
        kbps: int,
        burst: bool,
    ) -> None:
        super().__init__(name, cert, window)
        self.stream_id = stream_id
        self.audio_ssrc = secrets.randbits(31) | 1 if audio else None
        self.video_ssrc = secrets.randbits(31) | 2 if video else None
        self.frames = frames
        self.key_frame = key_frame
        self.audio_payloads = audio_payloads
        self.pace_bytes_per_tick = int(kbps * 1000 / 8 * 2.5 * 0.005) if not burst else 1 << 30
        self.sending = False
        self.want_key = True
        self.last_key = 0.0
        self.key_frames_sent = 0
        self.plis = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.a_seq = secrets.randbits(16)
        self.v_seq = secrets.randbits(16)
        self.a_ts = secrets.randbits(32)
        self.v_ts = secrets.randbits(32)
        self.a_i = 0
        self.v_i = 0
        self.counter = 0
        self.queue: list[
            tuple[bytes, bool, bool, int]
        ] = []  # (payload, marker, key, ts) waiting for the pacer
        self.audio_mid = 0
        self.video_mid = 1 if audio else 0

    def on_connected(self) -> None:
        self.sending = True

    def on_rtcp(self, data: bytes) -> None:
        srtp = self.srtp
        if srtp is None:
            return
        try:
            plain = srtp.rx.unprotect_rtcp(data)
        except pylibsrtp.Error:
            return
        off = 0
        while off + 4 <= len(plain):
            b0, pt, length = _RTCP_HDR.unpack_from(plain, off)
            if pt == 206 and (b0 & 0x1F) in (1, 4):  # PSFB PLI / FIR
                self.plis += 1
                self.want_key = True
            off += (length + 1) * 4

    def _send(
        self,
        pt: int,
        marker: bool,
        seq: int,
        ts: int,
        ssrc: int,
        mid: int,
        payload: bytes,
        flags: int,
        sent_key: str | None = None,
    ) -> None:
        """Protect and send one packet; count it in the window under ``sent_key`` (default: the stream
        and its kind)."""
        assert self.srtp is not None
        now = time.time_ns()
        self.counter += 1
        pkt = (
            rtp_header(pt, marker, seq, ts, ssrc, mid, now)
            + payload
            + TRAILER.pack(flags, self.stream_id, self.counter & 0xFFFFFFFF, now)
        )
        try:
            self.sock.sendto(self.srtp.tx.protect(pkt), self.remote_addr)  # type: ignore[arg-type]
        except (OSError, pylibsrtp.Error):
            return
        self.tx_packets += 1
        self.tx_bytes += len(pkt)
        w = self.window
        if w.bin_ns:
            w.count_bin(w.sent_bins, flags & FLAG_VIDEO, now)
        if w.t0 <= now < w.t1:
            key = sent_key or f"{self.stream_id}:{flags & FLAG_VIDEO}"
            w.sent[key] = w.sent.get(key, 0) + 1

    def audio_tick(self) -> None:
        """Every 20 ms."""
        if not self.sending or self.audio_ssrc is None:
            return
        payload = self.audio_payloads[self.a_i % len(self.audio_payloads)]
        self.a_i += 1
        self.a_seq = (self.a_seq + 1) & 0xFFFF
        self.a_ts = (self.a_ts + AUDIO_CLOCK // 50) & 0xFFFFFFFF
        self._send(AUDIO_PT, False, self.a_seq, self.a_ts, self.audio_ssrc, self.audio_mid, payload, 0)

    def video_frame(self, now: float) -> None:
        """Every 1/30 s: queue the next frame's packets (a key frame when one was requested)."""
        if not self.sending or self.video_ssrc is None:
            return
        if self.want_key and now - self.last_key >= 0.5:
            frame = self.key_frame
            self.want_key = False
            self.last_key = now
            self.key_frames_sent += 1
        else:
            frame = self.frames[self.v_i % len(self.frames)]
            self.v_i += 1
        self.v_ts = (self.v_ts + VIDEO_CLOCK // 30) & 0xFFFFFFFF
        n = len(frame.payloads)
        for i, p in enumerate(frame.payloads):
            self.queue.append((p, i == n - 1, frame.key, self.v_ts))

    def pace_tick(self) -> None:
        """Every 5 ms: send queued video packets up to the pacing budget."""
        if not self.queue or self.video_ssrc is None:
            return
        budget = self.pace_bytes_per_tick
        sent = 0
        q = self.queue
        while q and (sent == 0 or budget > 0):
            payload, marker, key, ts = q.pop(0)
            self.v_seq = (self.v_seq + 1) & 0xFFFF
            flags = FLAG_VIDEO | (FLAG_KEY if key else 0)
            self._send(VIDEO_PT, marker, self.v_seq, ts, self.video_ssrc, self.video_mid, payload, flags)
            budget -= len(payload)
            sent += 1


def schedule_publishers(publishers: Callable[[], list[Publisher]], stop: asyncio.Event) -> asyncio.Task[None]:
    """One clock for every publisher of a process: 5 ms pacer ticks, 20 ms audio, 33.3 ms video frames.

    Deadline-based (catches up after a late wake-up) and stops when ``stop`` is set."""

    async def run() -> None:
        t0 = time.monotonic()
        tick = 0
        next_audio = t0
        next_video = t0
        while not stop.is_set():
            now = time.monotonic()
            pubs = publishers()
            while next_audio <= now:
                for p in pubs:
                    p.audio_tick()
                next_audio += 0.020
            while next_video <= now:
                for p in pubs:
                    p.video_frame(now)
                next_video += 1 / 30
            for p in pubs:
                p.pace_tick()
            tick += 1
            delay = t0 + tick * 0.005 - time.monotonic()
            if delay < -0.1:  # far behind: resynchronise instead of bursting
                t0 = time.monotonic()
                tick = 0
                delay = 0.005
            await asyncio.sleep(max(0.0, delay))

    return asyncio.get_running_loop().create_task(run())


class SimulcastPublisher(Publisher):
    """A camera sent as three simulcast encodings (``a=ssrc-group:SIM``, lowest first), each with its own
    SSRC, sequence numbers, frames and pacer budget, all paced together like libwebrtc. A PLI/FIR asks
    the encoding it names (its media SSRC) for a key frame. Packets sent in the window are counted per
    encoding under ``"<stream>:1.<layer>"`` (audio stays ``"<stream>:0"``)."""

    def __init__(
        self,
        name: str,
        cert: RTCCertificate,
        window: Window,
        *,
        stream_id: int,
        audio: bool,
        layers: list[tuple[list[Frame], Frame]],
        audio_payloads: list[bytes],
        kbps: int,
        burst: bool,
    ) -> None:
        frames, key = layers[-1]
        super().__init__(
            name,
            cert,
            window,
            stream_id=stream_id,
            audio=audio,
            video=True,
            frames=frames,
            key_frame=key,
            audio_payloads=audio_payloads,
            kbps=kbps,
            burst=burst,
        )
        self.layers = layers
        n = len(layers)
        self.video_ssrcs = [secrets.randbits(31) | 2 for _ in range(n)]
        self.video_ssrc = self.video_ssrcs[-1]
        self.l_seq = [secrets.randbits(16) for _ in range(n)]
        self.l_want_key = [True] * n
        self.l_last_key = [0.0] * n
        self.l_queue: list[list[tuple[bytes, bool, bool, int]]] = [[] for _ in range(n)]

    def on_rtcp(self, data: bytes) -> None:
        srtp = self.srtp
        if srtp is None:
            return
        try:
            plain = srtp.rx.unprotect_rtcp(data)
        except pylibsrtp.Error:
            return
        off = 0
        while off + 12 <= len(plain):
            b0, pt, length = _RTCP_HDR.unpack_from(plain, off)
            if pt == 206 and (b0 & 0x1F) in (1, 4):  # PSFB PLI / FIR: the media SSRC names the encoding
                self.plis += 1
                target = struct.unpack_from("!I", plain, off + 8)[0]
                if (b0 & 0x1F) == 4 and off + 16 <= len(plain):
                    target = struct.unpack_from("!I", plain, off + 12)[0]  # FIR: the FCI's SSRC
                for i, s in enumerate(self.video_ssrcs):
                    if s == target:
                        self.l_want_key[i] = True
            off += (length + 1) * 4

    def video_frame(self, now: float) -> None:
        if not self.sending:
            return
        self.v_ts = (self.v_ts + VIDEO_CLOCK // 30) & 0xFFFFFFFF
        i = self.v_i
        self.v_i += 1
        for layer, (frames, key_frame) in enumerate(self.layers):
            if self.l_want_key[layer] and now - self.l_last_key[layer] >= 0.5:
                frame = key_frame
                self.l_want_key[layer] = False
                self.l_last_key[layer] = now
                self.key_frames_sent += 1
            else:
                frame = frames[i % len(frames)]
            n = len(frame.payloads)
            q = self.l_queue[layer]
            for j, p in enumerate(frame.payloads):
                q.append((p, j == n - 1, frame.key, self.v_ts))

    def pace_tick(self) -> None:
        budget = self.pace_bytes_per_tick
        for layer, q in enumerate(self.l_queue):
            sent = 0
            while q and (sent == 0 or budget > 0):
                payload, marker, key, ts = q.pop(0)
                self.l_seq[layer] = seq = (self.l_seq[layer] + 1) & 0xFFFF
                flags = FLAG_VIDEO | (FLAG_KEY if key else 0)
                ssrc, mid = self.video_ssrcs[layer], self.video_mid
                self._send(
                    VIDEO_PT, marker, seq, ts, ssrc, mid, payload, flags, f"{self.stream_id}:1.{layer}"
                )
                budget -= len(payload)
                sent += 1
