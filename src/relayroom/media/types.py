"""Public value types of the media layer (what the control plane sees through MediaService)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

MediaKind = Literal["audio", "video"]
TrackSource = Literal["main", "sub"]


class InvalidStateError(Exception):
    """An operation on a closed object, or a pending channel request when the channel closed."""


class UnsupportedError(Exception):
    """A codec or capability the SFU does not support."""


class CloseReason(enum.StrEnum):
    CLOSED = "closed"  # closed on request
    ROUTER_CLOSED = "router_closed"
    TRANSPORT_CLOSED = "transport_closed"
    PRODUCER_CLOSED = "producer_closed"
    DTLS_FAILED = "dtls_failed"
    DTLS_CLOSED = "dtls_closed"  # close_notify from the peer
    CONSENT_TIMEOUT = "consent_timeout"  # no STUN consent / no packets for the timeout
    WORKER_DIED = "worker_died"


class MediaEventType(enum.StrEnum):
    PRODUCER_ADDED = "producer_added"
    PRODUCER_CLOSED = "producer_closed"
    PRODUCER_PAUSED = "producer_paused"
    PRODUCER_RESUMED = "producer_resumed"
    TRANSPORT_CONNECTED = "transport_connected"
    TRANSPORT_CLOSED = "transport_closed"
    WORKER_DIED = "worker_died"
    WORKER_RESTARTED = "worker_restarted"
    STATS = "stats"
    SPEAKERS = "speakers"  # data: volumes [[participant id, 0..100]] loudest first, dominant participant id
    NETWORK_QUALITY = "network_quality"  # data: {participant id: {"uplink": 0..6, "downlink": 0..6}}


@dataclass(frozen=True)
class IceTcpOptions:
    """ICE-TCP (RFC 6544 passive candidates, RFC 4571 framing) on each worker, and its limits.

    A connection must present a valid ICE check (right ufrag and MESSAGE-INTEGRITY) as its first frame
    within ``auth_timeout_s``; until then it is *pending*. At most ``max_pending`` pending connections
    are kept (a new one evicts the oldest), at most ``max_connections`` in all per worker. A frame
    longer than ``max_frame_bytes`` closes the connection; output beyond ``send_buffer_bytes`` queued
    on one connection is dropped whole frame by whole frame (media is late anyway).
    """

    enabled: bool = True
    max_frame_bytes: int = 4096
    auth_timeout_s: float = 10.0
    max_pending: int = 128
    max_connections: int = 1024
    send_buffer_bytes: int = 256 * 1024


@dataclass(frozen=True)
class MediaParams:
    """How MediaService runs its workers.

    ``ports``: one UDP port per worker (0 or missing = ephemeral). ``announced_ip``: the address put in
    ICE candidates (defaults to ``host``). ``loopback_only``: ignore STUN from outside 127.0.0.0/8 (tests).
    ``tcp_ports``: one ICE-TCP port per worker (0 = ephemeral); missing = the worker's UDP port number.
    """

    workers: int = 1
    host: str = "127.0.0.1"
    ports: Sequence[int] = ()
    announced_ip: str | None = None
    loopback_only: bool = False
    rtx_buffer_ms: int = 2000
    consent_timeout_s: float = 30.0
    restart_dead_workers: bool = True
    stats_interval_s: float = 0.0  # 0 = no periodic STATS events
    udp_gso: bool = True  # batch RTP bursts to one address with UDP_SEGMENT when the kernel supports it
    # Load shedding (docs/performance.md, "Load shedding"): a loop turn that starts with at least
    # shed_queue_bytes of kernel memory queued on the worker's UDP socket (or with new kernel drops)
    # drops the video packets of non-key frames it reads; audio, RTCP and key frames go through, and a
    # key frame is requested once the queue has drained. 64 KiB: ~28 datagrams of 1,200 bytes.
    load_shedding: bool = True
    shed_queue_bytes: int = 64 * 1024
    # DTLS handshakes in slices (dtls/handshake_gate.py): at most this many handshake flights run per
    # event-loop turn, the others wait for the next turns, so a mass join cannot starve forwarding
    # (0 = no gate)
    dtls_flights_per_turn: int = 2
    tcp_ports: Sequence[int] = ()
    tcp: IceTcpOptions = field(default_factory=IceTcpOptions)
    # Spreading a room over workers (pipe transports): a subscriber goes to the least-loaded worker when
    # it is audience, or when the room's origin worker carries at least pipe_threshold x worker_capacity
    # consumers (0 = every new subscriber is spread); otherwise it stays on the origin worker.
    pipe_threshold: float = 0.5
    worker_capacity: int = 1000  # consumers (outgoing tracks) one worker is sized for
    native: bool = True  # native fan-out (media/native) when built; False = pure-Python forwarding


@dataclass(frozen=True)
class ProducerInfo:
    producer_id: str
    participant_id: str
    kind: MediaKind
    source: TrackSource
    mid: str
    ssrc: int


@dataclass(frozen=True)
class PublishResult:
    answer_sdp: str
    producers: list[ProducerInfo]  # producers created by this publish call (new m-lines)
    closed_producer_ids: list[str] = field(default_factory=list)  # m-lines the offer set inactive


@dataclass(frozen=True)
class SubscribeResult:
    """What ``MediaService.subscribe`` did: each producer is consumed in isolation, so one that fails
    (``failed``: producer id -> reason) never keeps the others from the subscriber."""

    offer_sdp: str  # a (re-)offer for the recv transport covering every consumer it has now
    added: list[str] = field(default_factory=list)  # producer ids now consumed
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlayResult:
    """What ``MediaService.play`` did for a receive-only client's offer (WHEP)."""

    answer_sdp: str
    producer_ids: list[str]  # producers now sent to the client
    missing: list[str] = field(default_factory=list)  # "kind mime" of producers no m-line could take


@dataclass(frozen=True)
class MediaEvent:
    """An event from the media layer. ``router_ids`` is set for WORKER_DIED (the routers that were lost)."""

    type: MediaEventType
    router_id: str | None = None
    participant_id: str | None = None
    producer_id: str | None = None
    reason: str | None = None
    router_ids: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
