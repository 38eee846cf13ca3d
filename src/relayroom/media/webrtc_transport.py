"""WebRtcTransport: ICE-lite + DTLS + SRTP for one peer connection, on the worker's shared UDP port
(or on an ICE-TCP connection to the worker, see ice/tcp_connection.py)."""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pylibsrtp
from aiortc.rtcdtlstransport import RTCCertificate

from relayroom.media.bwe.estimator import BandwidthEstimator
from relayroom.media.bwe.probe import ProbeCluster
from relayroom.media.consumer import Consumer, ConsumerParams
from relayroom.media.dtls.dtls_transport import DtlsRole, DtlsTransport, SrtpKeys, local_fingerprint
from relayroom.media.dtls.handshake_gate import HandshakeGate
from relayroom.media.ice.stun import IntegrityKey
from relayroom.media.layer_allocator import HEADROOM, VideoDemand, allocate
from relayroom.media.network_quality import network_quality
from relayroom.media.producer import Producer, ProducerParams
from relayroom.media.rtp import limits, rtcp
from relayroom.media.rtp.twcc import TWCC_URI, TwccRecorder, find_extension, with_transport_sequence
from relayroom.media.simulcast_consumer import SimulcastConsumer
from relayroom.media.srtp.session import SrtpPair
from relayroom.media.transport import Transport
from relayroom.media.types import CloseReason, InvalidStateError

logger = logging.getLogger(__name__)
_SENT_RECORD = struct.Struct("=dI4x")  # the native target's take_sent(): (send time in s, size)

Addr = tuple[str, int]

MAX_PRODUCERS_PER_TRANSPORT = 32
# The subscriber's bandwidth estimate (its REMB) steers which layer each video consumer gets
# (layer_allocator.py), but only down when its receiver reports show loss (at least LOSS_CONGESTED in
# the last CONGESTION_MEMORY_S): a receive-side estimate follows what arrives (aiortc's stays below it)
# and would otherwise take layers away from a subscriber whose link is fine. Without loss the current
# layers are kept. Estimates are ignored until they have been coming for ESTIMATE_WARMUP_S and once
# older than ESTIMATE_TTL_S.
ESTIMATE_WARMUP_S = 3.0
ESTIMATE_TTL_S = 5.0
LOSS_CONGESTED = 0.02
CONGESTION_MEMORY_S = 2.0
SILENT_S = 5.0  # a connected transport without input this long grades 6 (disconnected)
# A receiver's estimate cannot show room above what it receives, so getting back to a higher layer
# needs a trial: after TRIAL_BACKOFF_S below what the consumers asked for, the next upgrade is allowed
# for TRIAL_S; if no loss is reported meanwhile it stays and the next step is tried at once, else (loss
# ends the trial early) the allocation falls back and the wait grows by TRIAL_BACKOFF_GROWTH up to
# TRIAL_BACKOFF_MAX_S. A failed trial costs up to a second or two of loss on a link that is truly short,
# at most every 8 s; padding probes (bwe/probe.py) would avoid that.
TRIAL_S = 3.0
TRIAL_BACKOFF_S = 2.0
TRIAL_BACKOFF_GROWTH = 1.5
TRIAL_BACKOFF_MAX_S = 8.0
MAX_CONSUMERS_PER_TRANSPORT = 1024
# The send-side estimate (transport-cc feedback from the subscriber, media/bwe) replaces the REMB rules
# above once it is worth something: after its first probe result (the start probes go out with the
# first video sent; BWE_PROBE_WAIT_S after them without a result), or BWE_WARMUP_S after its first
# feedback when no probe can be sent (no video consumer with RTX). Until then every consumer gets
# what it asked for (a joining subscriber starts on the layer
# it wants; libwebrtc's start rate of 300 kbit/s would put everyone on the small layer for a second).
# Probes are sent as padding on a video consumer's RTX stream, PROBE_STEP_S apart (the cluster's rate
# is kept by sending what is due at each step), in packets of PROBE_PADDING octets of padding.
BWE_WARMUP_S = 2.0
BWE_PROBE_WAIT_S = 5.0
PROBE_STEP_S = 0.005
PROBE_PADDING = 255
PROBE_MAX_PACKETS_PER_STEP = 40
PAUSED_PROBE_SCALE = 2.0  # video paused: probe at once at this many times what the lowest layer needs

# Candidate priorities (RFC 8445 §5.1.2.1: 2^24 type-pref + 2^8 local-pref + 256 - component). The TCP
# candidate gets a lower type preference than UDP so that every UDP pair outranks every TCP pair: a
# client that can reach the UDP port uses it; TCP is the fallback (RFC 6544 §4.2 leaves that choice to
# the agent). Its local preference follows RFC 6544: 2^13 * direction-pref (passive host: 4) + 8191.
UDP_CANDIDATE_PRIORITY = (64 << 24) + (10000 << 8) + 255  # 1076302079
TCP_CANDIDATE_PRIORITY = (32 << 24) + (((4 << 13) + 8191) << 8) + 255  # 547356671


_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
_RRID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"


def _encoding_fields(enc: Any) -> dict[str, Any]:
    """One simulcast encoding of ``transport.produce``: its rid and/or SSRCs (payload types may differ
    when the encodings come from two m-lines: a small stream sent as its own track)."""
    if not isinstance(enc, dict):
        raise TypeError("an encoding must be an object")
    out: dict[str, Any] = {"ssrc": enc.get("ssrc"), "rtxSsrc": enc.get("rtxSsrc"), "rid": enc.get("rid")}
    for key in ("payloadType", "rtxPayloadType", "mid"):
        if enc.get(key) is not None:
            out[key] = enc[key]
    return out


class TcpLink(Protocol):
    """An ICE-TCP connection the transport may select as its tuple: frames go out on it (RFC 4571)."""

    def send_frame(self, data: bytes, addr: Addr) -> None: ...


class TransportState(enum.StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True)
class RouterLink:
    """What a transport may ask of its router: functions, not a reference to the router."""

    get_producer: Callable[[str], Producer | None]
    register_producer: Callable[[Producer], None]
    unregister_producer: Callable[[Producer], None]
    on_transport_close: Callable[[WebRtcTransport], None]


@dataclass(frozen=True)
class TransportParams:
    transport_id: str
    certificate: RTCCertificate
    announced_ip: str
    port: int
    rtx_buffer_ms: int
    sendto: Callable[[bytes, Addr], None]
    send_rtp: Callable[[bytes, Addr], None]  # batched (GSO) path for forwarded RTP
    # worker callbacks
    bind_tuple: Callable[[WebRtcTransport, Addr | None, Addr | None], None]  # UDP (transport, old, new)
    notify: Callable[[str, str, dict[str, Any]], None]  # (target id, event, data)
    router: RouterLink
    on_close: Callable[[WebRtcTransport], None]  # worker bookkeeping (ufrag, 5-tuple), then the router
    tcp_port: int | None = None  # the worker's ICE-TCP port (a passive TCP candidate); None = no TCP
    udp_preferred_s: float = 5.0  # TCP checks are not answered while UDP checks are this recent
    tcp_grace_s: float = 1.0  # nor this long after the first TCP check (time for UDP checks to arrive)
    # the worker's native sender (media/native NativeSender) when the native fan-out is on
    native_sender: Any = None
    dtls_gate: HandshakeGate | None = None  # the worker's budget of DTLS flights per loop turn


class WebRtcTransport(Transport):
    max_producers = MAX_PRODUCERS_PER_TRANSPORT
    max_consumers = MAX_CONSUMERS_PER_TRANSPORT

    def __init__(self, params: TransportParams) -> None:
        super().__init__(params.transport_id, params.router, params.notify)
        self.params = params
        self.ice_ufrag = secrets.token_hex(8)
        self.ice_pwd = secrets.token_hex(16)
        self.ice_key = IntegrityKey(self.ice_pwd)  # the STUN fast path's HMAC state (worker.handle_stun)
        self.state = TransportState.NEW
        # The selected tuple: the peer's address, and the ICE-TCP connection when it came over TCP.
        # Sends go through _sendto/_send_rtp_to, swapped when the tuple changes kind, so the send path
        # never asks which kind it is on (the UDP functions are the worker's, called directly).
        self.tuple: Addr | None = None
        self.tcp: TcpLink | None = None
        self._sendto = params.sendto
        self._send_rtp_to = params.send_rtp
        self.ice_checks_udp = 0
        self.ice_checks_tcp = 0
        self._udp_checked_at = float("-inf")  # last valid UDP check (answers_tcp_check)
        self._first_tcp_check_at: float | None = None
        self.srtp: SrtpPair | None = None
        # Native fan-out (decision 0032): this transport's SRTP context and UDP tuple, pushed to C when
        # they change; consumers get it while the tuple is UDP (ICE-TCP tuples stay on the Python path).
        self.native_target: Any = None
        self._native_path = True  # consumers get native_target (not while the tuple is ICE-TCP or not IPv4)
        if params.native_sender is not None:
            from relayroom.media.native import _fanout

            self.native_target = _fanout.Target(params.native_sender.c)
        self.dtls = DtlsTransport(
            params.certificate,
            send=self._send_raw,
            on_connected=self._on_dtls_connected,
            on_failed=self._on_dtls_failed,
            on_closed=self._on_dtls_closed,
            gate=params.dtls_gate,
        )
        # simulcast encodings offered by rid whose SSRC is not known yet: (mid, rid) -> producer
        self._rid_listeners: dict[tuple[str, str], Producer] = {}
        self._mid_id = self._rid_id = self._rrid_id = 0  # header extension ids (0 = not negotiated)
        # the subscriber's receive-side bandwidth estimate (REMB) and since when estimates arrive
        self.estimate_bps: int | None = None
        self._estimate_at = 0.0
        self._estimate_since: float | None = None
        self.allocation: dict[str, int] = {}  # video consumer id -> layer allowed (-1: paused)
        self._below_since: float | None = None  # since when the allocation is below what was asked
        self._trial_until = 0.0
        self._trial_bps = 0.0
        self._trial_backoff = TRIAL_BACKOFF_S
        self.trials = 0
        self._congested_at = -1e9  # last time a receiver report showed loss
        self._held_bps = float("inf")  # what the current layers take: kept while no loss is reported
        self._dtls_started = False
        self.remote_ufrag: str | None = None  # the client's ICE ufrag, checked in STUN USERNAME once known
        self._pending_client: tuple[DtlsRole, list[tuple[str, str]]] | None = None
        self._pending_dtls: list[bytes] = []
        self._twcc_id = 0  # transport-wide CC extension id negotiated with the publisher (0 = none)
        self._twcc = TwccRecorder()
        # transport-cc towards the subscriber (enable_transport_cc): our extension id, the estimator,
        # the probe cluster being sent (bytes and packets so far, start time) and its padding source
        self._tx_twcc_id = 0
        self.bwe: BandwidthEstimator | None = None
        self._bwe_started = False
        self._bwe_first_feedback: float | None = None
        self._bwe_since: float | None = None  # when the start probes were scheduled
        self._probing: ProbeCluster | None = None
        self._probe_bytes = 0
        self._probe_packets = 0
        self._probe_start = 0.0
        self._probe_timer: Any = None  # the handle of the next probe step (``cancel()``)
        self.probes_sent = 0
        # Clock and timer of the estimator: the worker's loop; tests run them in simulated time.
        self.clock: Callable[[], float] = time.monotonic
        self.call_later: Callable[[float, Callable[[], None]], Any] | None = None
        self._key_ts: dict[int, int] = {}  # producer SSRC -> RTP timestamp of its last key frame (_shed)
        self.created_at = time.monotonic()
        self.last_rx = self.created_at
        self.rx_packets = 0
        self.rx_errors = 0
        self.tx_packets = 0
        # RTCP feedback from the subscriber (NACK items, PLI, FIR) and RTX sent by consumers that closed
        self.nacks_received = 0
        self.plis_received = 0
        self.firs_received = 0
        self._rtx_sent_closed = 0

    # -- parameters ----------------------------------------------------------------------------------
    def local_parameters(self) -> dict[str, Any]:
        candidates: list[dict[str, Any]] = [
            {
                "foundation": "udpcandidate",
                "priority": UDP_CANDIDATE_PRIORITY,
                "ip": self.params.announced_ip,
                "port": self.params.port,
                "protocol": "udp",
                "type": "host",
            }
        ]
        if self.params.tcp_port:
            candidates.append(
                {
                    "foundation": "tcpcandidate",
                    "priority": TCP_CANDIDATE_PRIORITY,
                    "ip": self.params.announced_ip,
                    "port": self.params.tcp_port,
                    "protocol": "tcp",
                    "type": "host",
                    "tcpType": "passive",
                }
            )
        return {
            "id": self.id,
            "iceParameters": {"usernameFragment": self.ice_ufrag, "password": self.ice_pwd, "iceLite": True},
            "iceCandidates": candidates,
            "dtlsParameters": {
                "role": "auto",
                "fingerprints": [
                    {"algorithm": "sha-256", "value": local_fingerprint(self.params.certificate)}
                ],
            },
        }

    def connect(self, dtls_parameters: dict[str, Any], remote_ufrag: str | None = None) -> None:
        """Remote DTLS parameters. Remote role 'client' (SDP active) makes us the DTLS server."""
        self._check_open()
        if self._dtls_started:
            raise InvalidStateError("transport already connected")
        fps = [(str(f["algorithm"]), str(f["value"])) for f in dtls_parameters.get("fingerprints", [])]
        if not fps:
            raise TypeError("missing dtls fingerprints")
        self.remote_ufrag = remote_ufrag
        remote_role = dtls_parameters.get("role", "client")
        role = DtlsRole.CLIENT if remote_role == "server" else DtlsRole.SERVER
        self._dtls_started = True
        if role == DtlsRole.CLIENT and self.tuple is None:
            # we must send ClientHello but do not know where yet: start on the first ICE check
            self._pending_client = (role, fps)
            return
        self.dtls.start(role, fps)
        for data in self._pending_dtls:
            self.dtls.receive(data)
        self._pending_dtls.clear()

    # -- ICE ---------------------------------------------------------------------------------------
    def restart_ice(self, remote_ufrag: str | None) -> tuple[str, str]:
        """New local ICE credentials (RFC 8445 §9); DTLS, SRTP and the bound 5-tuple stay until the
        client nominates a new path. Returns (ufrag, pwd); the worker re-indexes the ufrag."""
        self._check_open()
        self.ice_ufrag = secrets.token_hex(8)
        self.ice_pwd = secrets.token_hex(16)
        self.ice_key = IntegrityKey(self.ice_pwd)
        self.remote_ufrag = remote_ufrag
        return self.ice_ufrag, self.ice_pwd

    def on_ice_check(self, addr: Addr, nominated: bool, tcp: TcpLink | None = None) -> None:
        """A valid (integrity-checked) binding request arrived from addr, over UDP or on ``tcp``: the
        first one selects its tuple, later ones move it when the client nominates another."""
        now = time.monotonic()
        self.last_rx = now
        if tcp is None:
            self.ice_checks_udp += 1
            self._udp_checked_at = now
        else:
            self.ice_checks_tcp += 1
        if self.tuple is None or (nominated and (addr != self.tuple or tcp is not self.tcp)):
            self._select_tuple(addr, tcp)
            if self.state == TransportState.NEW:
                self._set_state(TransportState.CONNECTING)
            if self._pending_client is not None:
                role, fps = self._pending_client
                self._pending_client = None
                self.dtls.start(role, fps)

    def answers_tcp_check(self, now: float) -> bool:
        """Whether a valid check over ICE-TCP gets its answer now (TCP is the fallback for clients
        without UDP, not a second path for the others).

        A browser selects the first pair that works and may stay on it even once a higher-priority
        one works too (Chromium does, measured: a dual-stack page on a loaded machine stayed on TCP
        for a whole call). So TCP checks are left unanswered while this transport's UDP checks come
        in (the last one less than ``udp_preferred_s`` ago), and for ``tcp_grace_s`` after the first
        TCP check, time for the client's UDP checks to show up. A client without UDP gets its
        answers after that grace (its next check); one whose UDP stops gets them after
        ``udp_preferred_s``.
        """
        if self._first_tcp_check_at is None:
            self._first_tcp_check_at = now
        if now - self._udp_checked_at <= self.params.udp_preferred_s:
            return False
        return now - self._first_tcp_check_at >= self.params.tcp_grace_s

    def _select_tuple(self, addr: Addr | None, tcp: TcpLink | None) -> None:
        old_udp = self.tuple if self.tcp is None else None
        self.tuple = addr
        self.tcp = tcp
        if tcp is None:
            self._sendto, self._send_rtp_to = self.params.sendto, self.params.send_rtp
        else:
            self._sendto = self._send_rtp_to = tcp.send_frame
        self._update_native_tuple()
        self.params.bind_tuple(self, old_udp, addr if tcp is None else None)

    def _update_native_tuple(self) -> None:
        target = self.native_target
        if target is None:
            return
        target.clear_addr()
        # ICE-TCP tuples go the Python path (transport-cc subscribers do not: the target stamps)
        ok = self.tcp is None
        if ok and self.tuple is not None:
            try:
                target.set_addr(self.tuple[0], self.tuple[1])
            except ValueError:  # not IPv4 (the worker's socket is): the Python path sends
                ok = False
        self._native_path = ok
        for consumer in self.consumers.values():
            consumer.set_native_target(target if ok else None)

    def on_tcp_closed(self, tcp: TcpLink) -> None:
        """An ICE-TCP connection of this transport closed. If it was the selected tuple, nothing can be
        sent until the client's next valid check (on a new connection, or over UDP) selects a path;
        consent expiry closes the transport if none comes."""
        if tcp is self.tcp:
            self._select_tuple(None, None)

    # -- datagrams (hot path) ------------------------------------------------------------------------
    def receive_dtls(self, data: bytes) -> None:
        if self.state != TransportState.CONNECTED:
            self.last_rx = time.monotonic()  # handshake progress; once connected only SRTP/STUN count
        if not self._dtls_started or self.dtls.state == "new":
            if len(self._pending_dtls) < 8:
                self._pending_dtls.append(data)
            return
        self.dtls.receive(data)

    def receive_srtp(self, data: bytes, now: float, shedding: bool = False) -> Producer | None:
        """SRTP or SRTCP (first byte 128..191) from the bound tuple. ``shedding`` (the worker is behind,
        worker.py): video packets of non-key frames are dropped (``_shed``); returns the producer whose
        packet was dropped, else None."""
        srtp = self.srtp
        if srtp is None:
            return None
        if 192 <= data[1] <= 223:  # RFC 5761: RTCP packet types
            try:
                plain = srtp.rx.unprotect_rtcp(data)
            except pylibsrtp.Error:
                self.rx_errors += 1
                return None
            self.last_rx = now  # only authenticated packets count as consent
            self.rx_packets += 1
            self._receive_rtcp(plain, now)
            return None
        try:
            plain = srtp.rx.unprotect(data)
        except pylibsrtp.Error:
            self.rx_errors += 1
            return None
        self.last_rx = now
        self.rx_packets += 1
        if len(plain) < 12:
            return None
        twcc_id = self._twcc_id
        if twcc_id:  # every packet counts for congestion control, probes and RTX included
            pos = find_extension(plain, twcc_id)
            if pos > 0:
                self._twcc.record((plain[pos] << 8) | plain[pos + 1], int(now * 1_000_000))
        # Hand-written header unpack (see rtp/header.py): PT, seq, ts, SSRC straight from the bytes.
        ssrc = (plain[8] << 24) | (plain[9] << 16) | (plain[10] << 8) | plain[11]
        producer = self._rtp_listeners.get(ssrc)
        if producer is None:
            if not self._rid_listeners:
                return None
            producer = self._learn_ssrc(plain, ssrc)
            if producer is None:
                return None
        seq = (plain[2] << 8) | plain[3]
        ts = (plain[4] << 24) | (plain[5] << 16) | (plain[6] << 8) | plain[7]
        if shedding and producer.kind == "video" and self._shed(producer, plain, seq, ts, ssrc, now):
            return producer
        producer.receive_rtp(plain, plain[1] & 0x7F, seq, ts, ssrc, now)
        return None

    def _shed(self, producer: Producer, plain: bytes, seq: int, ts: int, ssrc: int, now: float) -> bool:
        """Whether the worker's load shedding drops this video packet: RTX, and the packets of non-key
        frames. A key frame goes through whole: its first packet by its payload header, the others by
        its RTP timestamp (a key frame that began before the backlog loses its tail: the key frame the
        worker asks for once drained replaces it). Dropped packets count as received for the
        producer's statistics (no NACK for them) and are neither stored nor forwarded."""
        if ssrc != producer.params.ssrc:
            return True  # a repair: the key frame requested after the backlog supersedes it
        if producer.is_keyframe(plain):
            self._key_ts[ssrc] = ts
            return False
        if self._key_ts.get(ssrc) == ts:
            return False
        producer.receive_shed(plain, seq, ts, now)
        return True

    def _extension_text(self, data: bytes, ext_id: int) -> str | None:
        if not ext_id:
            return None
        pos = find_extension(data, ext_id)
        if pos <= 0:
            return None
        length = (data[pos - 1] & 0x0F) + 1
        try:
            return data[pos : pos + length].decode("ascii")
        except UnicodeDecodeError:
            return None

    def _learn_ssrc(self, data: bytes, ssrc: int) -> Producer | None:
        """A packet of an unknown SSRC: if it names a simulcast encoding offered by rid (RFC 8852
        rid / repaired-rid header extensions, with the mid when negotiated), bind its SSRC for good."""
        repaired = False
        rid = self._extension_text(data, self._rid_id)
        if rid is None:
            rid = self._extension_text(data, self._rrid_id)
            repaired = True
        if rid is None:
            return None
        mid = self._extension_text(data, self._mid_id)
        producer = None
        if mid is not None:
            producer = self._rid_listeners.get((mid, rid))
        else:  # no mid extension: the rid must name one encoding of this transport
            found = [p for (_, r), p in self._rid_listeners.items() if r == rid]
            producer = found[0] if len(found) == 1 else None
        if producer is None or producer.closed:
            return None
        params = producer.params
        if repaired:
            rtx_pt = params.rtx_payload_type
            if rtx_pt is None or params.rtx_ssrc or (data[1] & 0x7F) != rtx_pt:
                return None
            producer.bind_ssrc(ssrc, rtx=True)
        else:
            if params.ssrc:
                return None  # the encoding's SSRC is known: another SSRC with its rid is refused
            producer.bind_ssrc(ssrc)
        self._rtp_listeners[ssrc] = producer
        if producer.params.ssrc and (producer.params.rtx_ssrc or producer.params.rtx_payload_type is None):
            self._rid_listeners = {k: p for k, p in self._rid_listeners.items() if p is not producer}
        return producer

    def _receive_rtcp(self, data: bytes, now: float) -> None:
        try:
            items = rtcp.parse(data)
        except ValueError:
            self.rx_errors += 1
            return
        for item in items:
            if isinstance(item, rtcp.SenderReport | rtcp.ReceiverReport):
                if isinstance(item, rtcp.SenderReport):
                    producer = self._rtp_listeners.get(item.ssrc)
                    if producer is not None:
                        producer.receive_sr(item, now)
                for block in item.reports:  # the subscriber's reception of our consumers' media SSRCs
                    consumer = self._consumers_by_ssrc.get(block.ssrc)
                    if consumer is not None and block.ssrc == consumer.params.ssrc:  # not its RTX stream
                        consumer.receive_report(block, now)
            elif isinstance(item, rtcp.Nack):
                self.nacks_received += 1
                consumer = self._consumers_by_ssrc.get(item.media_ssrc)
                if consumer is not None:
                    consumer.receive_nack(item.lost, now)
            elif isinstance(item, rtcp.Pli):
                self.plis_received += 1
                consumer = self._consumers_by_ssrc.get(item.media_ssrc)
                if consumer is not None:
                    consumer.request_keyframe()
            elif isinstance(item, rtcp.Fir):
                self.firs_received += 1
                for ssrc, _ in item.entries:
                    consumer = self._consumers_by_ssrc.get(ssrc)
                    if consumer is not None:
                        consumer.request_keyframe()
            elif isinstance(item, rtcp.TransportFeedback):
                self._on_transport_feedback(item.packet, now)
            elif isinstance(item, rtcp.Remb):
                # The transport's estimate (layer allocation); also remembered per consumer, for the
                # publisher's REMB (send_reports).
                if self._estimate_since is None or now - self._estimate_at > ESTIMATE_TTL_S:
                    self._estimate_since = now
                self.estimate_bps = item.bitrate
                self._estimate_at = now
                for ssrc in item.ssrcs:
                    consumer = self._consumers_by_ssrc.get(ssrc)
                    if consumer is not None:
                        consumer.remb_bitrate = item.bitrate

    def _send_raw(self, data: bytes) -> None:
        if self.tuple is not None:
            self._sendto(data, self.tuple)

    def send_rtp(self, data: bytes) -> None:
        srtp = self.srtp
        tup = self.tuple
        if srtp is None or tup is None:
            return
        if self._tx_twcc_id:
            data = self.stamp_transport_cc(data)
        try:
            protected = srtp.tx.protect(data)
        except (pylibsrtp.Error, ValueError):  # ValueError: too long once protected (RTX adds 2 octets)
            return
        self.tx_packets += 1
        self._send_rtp_to(protected, tup)

    def send_rtp_rewritten(self, data: bytes, payload_type: int, seq: int, ts: int, ssrc: int) -> None:
        """Forwarding hot path: rewrite + protect in one step (see srtp/session.py) and queue."""
        srtp = self.srtp
        tup = self.tuple
        if srtp is None or tup is None:
            return
        if self._tx_twcc_id:
            data = self.stamp_transport_cc(data)
        try:
            protected = srtp.protect_rewritten(data, payload_type, seq, ts, ssrc)
        except (pylibsrtp.Error, ValueError):
            return
        self.tx_packets += 1
        self._send_rtp_to(protected, tup)

    def send_rtcp(self, data: bytes) -> None:
        srtp = self.srtp
        tup = self.tuple
        if srtp is None or tup is None:
            return
        try:
            protected = srtp.tx.protect_rtcp(data)
        except pylibsrtp.Error:
            return
        self._sendto(protected, tup)

    # -- DTLS callbacks ----------------------------------------------------------------------------
    def _on_dtls_connected(self, keys: SrtpKeys) -> None:
        self.srtp = SrtpPair(keys)
        if self.native_target is not None:
            from relayroom.media.native import srtp_context_address

            self.native_target.set_srtp(srtp_context_address(self.srtp.tx), self.srtp.tx)
        self._set_state(TransportState.CONNECTED, {"srtpProfile": self.srtp.profile_name})
        # Anything forwarded before now was dropped: start every consumer at a fresh key frame.
        for consumer in self.consumers.values():
            consumer.resync()
            consumer.request_keyframe()

    def _on_dtls_failed(self, reason: str) -> None:
        self.close(CloseReason.DTLS_FAILED)

    def _on_dtls_closed(self) -> None:
        self.close(CloseReason.DTLS_CLOSED)

    # -- producers / consumers -----------------------------------------------------------------------
    def produce(self, producer_id: str, data: dict[str, Any]) -> Producer:
        self._check_new_producer(producer_id)
        encodings = data.get("encodings") or []
        if not isinstance(encodings, list) or len(encodings) > 3:
            raise ValueError("encodings must be a list of at most 3")
        if len(encodings) < 2:  # one encoding (by rid, or by SSRC as usual)
            if encodings:
                data = {**data, **_encoding_fields(encodings[0])}
            return self._add_producer(ProducerParams.from_dict(producer_id, data, self.params.rtx_buffer_ms))
        # Simulcast: a producer per encoding, lowest first; the control plane knows the last one.
        n = len(encodings)
        all_params = [
            ProducerParams.from_dict(
                producer_id if i == n - 1 else f"{producer_id}.{i}",
                {**data, **_encoding_fields(enc)},
                self.params.rtx_buffer_ms,
            )
            for i, enc in enumerate(encodings)
        ]
        keys = [(p.mid, p.rid) for p in all_params if not p.ssrc]
        ssrcs = [s for p in all_params for s in (p.ssrc, p.rtx_ssrc) if s]
        if len(set(ssrcs)) != len(ssrcs) or len(set(keys)) != len(keys):
            raise ValueError("encodings must differ in ssrc and rid")
        if any(s in self._rtp_listeners for s in ssrcs) or any(k in self._rid_listeners for k in keys):
            raise TypeError("ssrc or rid already in use")
        layers = tuple(self._add_producer(p) for p in all_params)
        top = layers[-1]
        top.layers = layers
        for layer in layers[:-1]:
            layer.layer_of = top
        return top

    def _add_producer(self, params: ProducerParams) -> Producer:
        for ssrc in (params.ssrc, params.rtx_ssrc):
            if ssrc and ssrc in self._rtp_listeners:
                raise TypeError("ssrc already in use")
        if not params.ssrc and (params.rid is None or (params.mid, params.rid) in self._rid_listeners):
            raise TypeError("an encoding without ssrc needs a rid not in use")
        if params.producer_id in self.producers:
            raise TypeError("duplicate producer id")
        producer = Producer(
            params,
            send_rtcp=self.send_rtcp,
            on_close=self._on_producer_close,
            native_sender=self.params.native_sender,
        )
        if not params.ssrc:
            self._rid_listeners[(params.mid, params.rid or "")] = producer
        for ext_id, uri in params.header_extensions:
            if 1 <= ext_id <= 14:
                if uri == TWCC_URI:
                    self._twcc_id = ext_id
                elif uri == _MID_URI:
                    self._mid_id = ext_id
                elif uri == _RID_URI:
                    self._rid_id = ext_id
                elif uri == _RRID_URI:
                    self._rrid_id = ext_id
        return self._new_producer(producer)

    def _on_producer_close(self, producer: Producer, reason: CloseReason) -> None:
        key = (producer.params.mid, producer.params.rid or "")
        if self._rid_listeners.get(key) is producer:
            del self._rid_listeners[key]
        super()._on_producer_close(producer, reason)

    def _new_consumer(self, params: ConsumerParams, producer: Producer, data: dict[str, Any]) -> Consumer:
        """A simulcast producer's consumer picks one of its layers; any other forwards the producer."""
        if producer.layers:
            preferred = data.get("spatialLayer")
            return SimulcastConsumer(
                params,
                [layer.attach for layer in producer.layers],
                producer.params.mime_type,
                send_rtp=self.send_rtp,
                send_rewritten=self.send_rtp_rewritten,
                send_rtcp=self.send_rtcp,
                on_close=self._on_consumer_close,
                on_producer_closed=self._on_consumer_producer_closed,
                paused=bool(data.get("paused", False)),
                preferred_layer=None
                if preferred is None
                else limits.in_range(preferred, 0, 2, "spatialLayer"),
            )
        return super()._new_consumer(params, producer, data)

    def _first_keyframe(self, consumer: Consumer) -> None:
        """No key frame request yet: one now would arrive before the subscriber can use it (DTLS not up,
        or its answer with this m-line not applied yet) and hold the producer's request window against
        the request that counts. That one comes at DTLS connect (_on_dtls_connected) or, on a connected
        transport, once the subscriber answered (``consumer.requestKeyFrame`` from
        ``MediaService.set_subscriber_answer``; docs/quality.md, Join to first frame)."""

    def _consumer_native_target(self) -> Any:
        return self.native_target if self._native_path else None

    def _on_consumer_close(self, consumer: Consumer, reason: CloseReason) -> None:
        if consumer.id in self.consumers:
            self._rtx_sent_closed += consumer.retransmitted
        self.allocation.pop(consumer.id, None)
        super()._on_consumer_close(consumer, reason)

    # -- periodic ------------------------------------------------------------------------------------
    def allocate_layers(self, now: float) -> None:
        """Which layer each video consumer may have within the subscriber's estimate: audio first, the
        lowest layers for all, then upgrades while they fit; video paused when nothing fits. Without a
        usable estimate every consumer may have what it asked for."""
        video = [c for c in self.consumers.values() if c.kind == "video" and c.producer is not None]
        if not video:
            return
        if self.bwe is not None and self._bwe_first_feedback is not None:
            self._allocate_send_side(now, video, self.bwe)
            return
        since = self._estimate_since
        estimate = self.estimate_bps
        usable = (
            estimate is not None
            and since is not None
            and now - since >= ESTIMATE_WARMUP_S
            and now - self._estimate_at <= ESTIMATE_TTL_S
        )
        if not usable or estimate is None:
            layers = {c.id: len(c.layer_bitrates()) - 1 for c in video}
        else:
            if any(
                c.fraction_lost is not None and c.fraction_lost >= LOSS_CONGESTED
                for c in self.consumers.values()
            ):
                self._congested_at = now
            congested = now - self._congested_at < CONGESTION_MEMORY_S
            audio = sum(c.bitrate for c in self.consumers.values() if c.kind == "audio" and not c.paused)
            demands = [
                VideoDemand(c.id, c.layer_bitrates(), c.wanted_layer, c.current_layer)
                for c in video
                if not c.paused
            ]
            budget = float(estimate) if congested else max(float(estimate), self._held_bps)
            if now < self._trial_until:
                budget = max(budget, self._trial_bps)
            result = allocate(budget, float(audio), demands)
            layers = result.layers
            self._held_bps = result.allocated_bps * 1.5  # bitrates vary from second to second
            self._plan_trial(now, congested, result.allocated_bps, result.wanted_bps, result.next_upgrade_bps)
        self._apply_allocation(video, layers)

    def _apply_allocation(self, video: list[Consumer], layers: dict[str, int]) -> None:
        for c in video:
            layer = layers.get(c.id, len(c.layer_bitrates()) - 1)
            if self.allocation.get(c.id) != layer:
                self.allocation[c.id] = layer
                c.set_max_layer(layer)

    def _plan_trial(
        self, now: float, congested: bool, allocated: float, wanted: float, next_upgrade: float | None
    ) -> None:
        if now < self._trial_until:
            if congested and now - self._trial_until + TRIAL_S > 0.5:
                self._trial_until = now  # loss during the trial: it failed, end it now
            else:
                return
        if self._trial_until:  # a trial just ended: did the link carry the upgrade without loss?
            self._trial_until = 0.0
            if not congested:
                self._trial_backoff = TRIAL_BACKOFF_S
                self._below_since = now - TRIAL_BACKOFF_S  # room found: try the next step now
            else:
                self._trial_backoff = min(self._trial_backoff * TRIAL_BACKOFF_GROWTH, TRIAL_BACKOFF_MAX_S)
                self._below_since = now
        if next_upgrade is None or allocated >= wanted:
            self._below_since = None
            return
        if self._below_since is None:
            self._below_since = now
        elif now - self._below_since >= self._trial_backoff:
            self.trials += 1
            self._trial_bps = next_upgrade / HEADROOM
            self._trial_until = now + TRIAL_S

    def on_tick(self, now: float) -> None:
        for producer in self.producers.values():
            producer.on_tick(now)
        if self.bwe is not None:
            self._bwe_tick(now, self.bwe)
        if self.consumers:
            self.allocate_layers(now)
        if self._twcc_id and self.srtp is not None and self.producers:
            media_ssrc = next((p.params.ssrc for p in self.producers.values() if p.params.ssrc), 0)
            for feedback in self._twcc.feedback(1, media_ssrc):
                self.send_rtcp(feedback)

    def send_reports(self, now: float, wallclock: float) -> None:
        """RR towards the publisher (one block per producer), SR per consumer towards the subscriber."""
        if self.srtp is None:
            return
        blocks = [b for p in self.producers.values() if (b := p.report_block(now)) is not None]
        if blocks:
            report = rtcp.build_rr(1, blocks)
            for producer in self.producers.values():
                remb = None if self._twcc_id else producer.aggregate_remb()  # TWCC publishers: no cap
                if remb is not None:
                    report += remb
            self.send_rtcp(report)
        for consumer in self.consumers.values():
            sr = consumer.sender_report(now, wallclock)
            if sr is not None:
                self.send_rtcp(sr)

    def network_quality(self, now: float) -> int:
        """TRTC's 0-6 grade of this transport (network_quality.py): as the SFU receives a publisher's
        tracks (loss, jitter), or as a subscriber reports ours (loss, jitter, RTT) and its estimate
        against what its consumers asked for. 0 before anything is measured (or while connecting), 6 when
        nothing authenticated arrived for SILENT_S."""
        if self.state != TransportState.CONNECTED:
            return 0
        if now - self.last_rx > SILENT_S:
            return network_quality(connected=False)
        losses: list[float] = []
        jitters: list[float] = []
        rtts: list[float] = []
        for p in self.producers.values():
            if p.fraction_lost is not None:
                losses.append(p.fraction_lost)
                jitters.append(p.jitter_ms)
        wanted = 0.0
        for c in self.consumers.values():
            if c.fraction_lost is not None:
                losses.append(c.fraction_lost)
            if c.jitter_ms is not None:
                jitters.append(c.jitter_ms)
            if c.rtt_ms is not None:
                rtts.append(c.rtt_ms)
            if c.kind == "video" and not c.paused and c.producer is not None:
                rates = c.layer_bitrates()
                wanted += rates[min(c.wanted_layer, len(rates) - 1)]
            elif not c.paused:
                wanted += c.bitrate
        usable = self.estimate_bps is not None and now - self._estimate_at <= ESTIMATE_TTL_S
        return network_quality(
            loss=max(losses) if losses else None,
            jitter_ms=max(jitters) if jitters else None,
            rtt_ms=max(rtts) if rtts else None,
            estimate_bps=float(self.estimate_bps) if usable and self.estimate_bps is not None else None,
            wanted_bps=wanted if usable and wanted > 1000 else None,
        )

    def stats(self) -> dict[str, Any]:
        return {
            "producers": {p.id: p.stats() for p in self.producers.values() if p.layer_of is None},
            "consumers": {c.id: c.stats() for c in self.consumers.values()},
        }

    # -- transport-cc towards the subscriber: stamping, feedback, estimate, probes (decision 0034) -----
    def enable_transport_cc(self, ext_id: int) -> None:
        """The subscriber's answer kept transport-cc with header extension ``ext_id``: from now on every
        RTP packet to it gets our transport-wide sequence number, and its feedback feeds a send-side
        estimator that steers the layer allocation (instead of its REMB)."""
        self._check_open()
        if not 1 <= ext_id <= 14:
            raise ValueError("transport-cc extension id must be 1..14")
        self._drain_native_sent()
        self._tx_twcc_id = ext_id
        if self.bwe is None:
            self.bwe = BandwidthEstimator()
        if self.native_target is not None:  # the native path stamps from the same counter
            self.native_target.set_twcc(ext_id, self.bwe.next_seq)

    def stamp_transport_cc(self, data: bytes) -> bytes:
        """The one place an outgoing RTP packet gets its transport-wide sequence number (a native send
        path mirrors this: same bytes). Records (size, send time, probe cluster) in the estimator."""
        bwe = self.bwe
        assert bwe is not None
        target = self.native_target
        if target is not None:
            self._drain_native_sent()
        probe = self._probing
        if probe is not None:
            self._probe_bytes += len(data)
            self._probe_packets += 1
        seq = bwe.on_packet_sent(len(data), self.clock() * 1000, probe)
        if target is not None:
            target.twcc_next = bwe.next_seq
        try:
            return with_transport_sequence(data, self._tx_twcc_id, seq)
        except ValueError:
            return data  # a malformed extension block from the publisher: sent as it is

    def _drain_native_sent(self) -> None:
        """Feed the estimator what the native path stamped since the last call, as stamp_transport_cc
        would have: called before Python stamps a packet, reads the estimator or changes the probe, so
        the estimator sees every packet in sequence order with the probe it went out under."""
        target = self.native_target
        bwe = self.bwe
        if target is None or bwe is None:
            return
        records = target.take_sent()
        if not records:
            return
        probe = self._probing
        on_sent = bwe.on_packet_sent
        for send_time, size in _SENT_RECORD.iter_unpack(records):
            if probe is not None:
                self._probe_bytes += size
                self._probe_packets += 1
            on_sent(size, send_time * 1000, probe)

    def _on_transport_feedback(self, packet: bytes, now: float) -> None:
        bwe = self.bwe
        if bwe is None:
            return
        self._drain_native_sent()
        try:
            bwe.on_feedback(packet, now * 1000)
        except ValueError:
            self.rx_errors += 1
            return
        if self._bwe_first_feedback is None:
            self._bwe_first_feedback = now

    def _bwe_tick(self, now: float, bwe: BandwidthEstimator) -> None:
        self._drain_native_sent()
        now_ms = now * 1000
        source = self._probe_source()
        if not self._bwe_started and self._bwe_first_feedback is not None:
            # The start probes wait for the first video sent (an audio-only start would waste them and
            # leave the estimate at its start rate when the video comes).
            if any(c.kind == "video" and c.packets for c in self.consumers.values()):
                self._bwe_started = True
                self._bwe_since = now
                bwe.start(now_ms)
        bwe.on_tick(now_ms)
        if self._bwe_first_feedback is not None:
            self.estimate_bps = int(bwe.target_bps)  # what the downlink grade and dump show
            self._estimate_at = now
        if self._probing is None and self._bwe_started and source is not None:
            cluster = bwe.next_probe()
            # a probe below the estimate shows nothing (its result would only pull the estimate down)
            if cluster is not None and cluster.bitrate_bps > bwe.target_bps:
                self._start_probe(cluster)

    def _estimate_usable(self, now: float, bwe: BandwidthEstimator) -> bool:
        """Once the start probes (and the probes continuing them while they find room) have results;
        without, BWE_WARMUP_S after the first feedback when no probe can be sent (no video consumer
        with RTX), else BWE_PROBE_WAIT_S after the start probes. Before, the estimate is still
        climbing: a first probe at 900 kbit/s must not pause a 1.2 Mbit/s video."""
        if self._bwe_first_feedback is None:
            return False
        if bwe.probe_results > 0 and not bwe.probes.waiting:
            return True  # the start probes and their exponential continuation are done
        if self._probe_source() is None:
            return now - self._bwe_first_feedback >= BWE_WARMUP_S
        return self._bwe_started and self._bwe_since is not None and now - self._bwe_since >= BWE_PROBE_WAIT_S

    def _allocate_send_side(self, now: float, video: list[Consumer], bwe: BandwidthEstimator) -> None:
        """The layers of every video consumer within the send-side estimate. Climbing back needs no
        trials: the estimator probes (padding) up to what the consumers asked for."""
        audio = sum(c.bitrate for c in self.consumers.values() if c.kind == "audio" and not c.paused)
        demands = [
            VideoDemand(c.id, c.layer_bitrates(), c.wanted_layer, c.current_layer)
            for c in video
            if not c.paused
        ]
        result = allocate(bwe.target_bps, float(audio), demands)
        if all(max(d.layer_bps, default=0) > 1 for d in demands):  # rates known (once per second)
            bwe.set_max_bitrate(result.wanted_bps / HEADROOM)
        if not self._estimate_usable(now, bwe):
            self._apply_allocation(video, {c.id: len(c.layer_bitrates()) - 1 for c in video})
            return
        newly_paused = any(
            layer < 0 and self.allocation.get(cid, 0) >= 0 for cid, layer in result.layers.items()
        )
        if newly_paused and result.next_upgrade_bps is not None:
            # nothing fits: find out at once whether the lowest layer does (the periodic probe would
            # leave the video off for seconds); at twice its need, as every probe, so that a link
            # which carries it shows room to spare
            bwe.request_probe(PAUSED_PROBE_SCALE * result.next_upgrade_bps / HEADROOM, now * 1000)
        self._apply_allocation(video, result.layers)

    def _probe_source(self) -> Consumer | None:
        """A video consumer that can send padding (RTX negotiated, media sent)."""
        for c in self.consumers.values():
            if c.kind == "video" and c.params.rtx_ssrc is not None and c.packets:
                return c
        return None

    def _start_probe(self, cluster: ProbeCluster) -> None:
        if self._probe_source() is None:
            return  # no padding source: the estimate climbs by the estimator's increase alone
        if self.call_later is None:
            try:
                self.call_later = asyncio.get_running_loop().call_later
            except RuntimeError:
                return  # no event loop and no timer given
        self._drain_native_sent()  # what went out before the probe started is not part of it
        self._probing = cluster
        self._probe_bytes = self._probe_packets = 0
        self._probe_start = self.clock()
        self.probes_sent += 1
        self._probe_step()

    def _probe_step(self) -> None:
        """Send the padding the cluster is due by the next step; end it once it lasted its duration
        with its packets and bytes (media sent meanwhile counts, stamp_transport_cc)."""
        self._probe_timer = None
        self._drain_native_sent()
        cluster = self._probing
        source = self._probe_source()
        if cluster is None or source is None or self.closed:
            self._end_probe()
            return
        elapsed_ms = (self.clock() - self._probe_start) * 1000
        due = cluster.bitrate_bps * (elapsed_ms + PROBE_STEP_S * 1000) / 8000 - self._probe_bytes
        for _ in range(PROBE_MAX_PACKETS_PER_STEP):
            if due <= 0:
                break
            packet = source.padding_packet(PROBE_PADDING)
            if packet is None:
                break
            before = self._probe_bytes
            self.send_rtp(packet)
            due -= self._probe_bytes - before
        if (
            elapsed_ms >= cluster.duration_ms
            and self._probe_bytes >= cluster.min_bytes
            and self._probe_packets >= cluster.min_packets
        ) or elapsed_ms > 4 * cluster.duration_ms:
            self._end_probe()
            return
        assert self.call_later is not None
        self._probe_timer = self.call_later(PROBE_STEP_S, self._probe_step)

    def _end_probe(self) -> None:
        self._drain_native_sent()
        self._probing = None
        if self._probe_timer is not None:
            self._probe_timer.cancel()
            self._probe_timer = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def _set_state(self, state: TransportState, extra: dict[str, Any] | None = None) -> None:
        if state == self.state:
            return
        logger.debug("transport %s: %s -> %s", self.id, self.state, state)
        self.state = state
        self.params.notify(self.id, "statechange", {"state": str(state), **(extra or {})})

    def close(self, reason: CloseReason = CloseReason.CLOSED) -> None:
        if self.closed:
            return
        self.closed = True
        self._end_probe()
        self.dtls.close()
        self._close_children()
        self.srtp = None
        if self.native_target is not None:
            self.native_target.clear_srtp()
            self.native_target.clear_addr()
        self._set_state(TransportState.CLOSED, {"reason": str(reason)})
        self.params.on_close(self)
        self.params.notify(self.id, "transportclose", {"reason": str(reason)})

    def feedback_counts(self) -> tuple[int, int, int, int]:
        """(NACKs, PLIs, FIRs received, RTX packets sent) over the transport's life so far."""
        rtx = self._rtx_sent_closed + sum(c.retransmitted for c in self.consumers.values())
        return self.nacks_received, self.plis_received, self.firs_received, rtx

    def dump(self) -> dict[str, Any]:
        self._drain_native_sent()
        return {
            "id": self.id,
            "state": str(self.state),
            "dtlsState": str(self.dtls.state),
            "tuple": list(self.tuple) if self.tuple else None,
            "tupleProtocol": ("tcp" if self.tcp is not None else "udp") if self.tuple else None,
            "iceChecks": {"udp": self.ice_checks_udp, "tcp": self.ice_checks_tcp},
            "srtpProfile": self.srtp.profile_name if self.srtp else None,
            "rxPackets": self.rx_packets,
            "rxErrors": self.rx_errors,
            "txPackets": self.tx_packets + (self.native_target.tx_packets if self.native_target else 0),
            "producerIds": list(self.producers),
            "consumerIds": list(self.consumers),
            "estimateBps": self.estimate_bps,
            "allocation": dict(self.allocation),
            "trials": self.trials,
            "bwe": None if self.bwe is None else {**self.bwe.dump(), "probesSent": self.probes_sent},
            "consumers": [c.dump() for c in self.consumers.values()],
            "producers": [p.dump() for p in self.producers.values()],
        }
