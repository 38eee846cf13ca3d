"""Control-plane side bookkeeping of MediaService: routers, participants, m-lines (no I/O here)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from relayroom.media.sdp import CodecInfo, LocalTransport, SubscriberMLine
from relayroom.media.types import MediaKind, TrackSource


@dataclass
class ProducerRecord:
    producer_id: str
    participant_id: str
    kind: MediaKind
    source: TrackSource
    mid: str
    ssrc: int
    codec: CodecInfo
    has_rtx: bool
    paused: bool = False
    layers: int = 1  # simulcast encodings (big/small: 2)


@dataclass
class PipeRecord:
    """One origin producer piped to one edge worker: a pipe consumer on the origin router's pipe
    transport, a pipe producer on the edge router's, shared by every edge consumer of that producer."""

    producer_id: str  # the origin producer (the id the control plane knows)
    pipe_consumer_id: str  # on the origin worker
    edge_producer_id: str  # on the edge worker
    ssrc: int
    rtx_ssrc: int | None
    consumers: set[str] = field(default_factory=set)  # edge consumer ids fed by this pipe
    layer_ssrcs: tuple[int | None, ...] = ()  # a simulcast producer's lower layers: their pipe ssrcs


@dataclass
class EdgeState:
    """A room's router on a worker other than its origin, joined to the origin by a pipe transport pair."""

    worker_index: int
    router_id: str  # the router on the edge worker
    origin_pipe_id: str  # pipe transport on the origin router
    edge_pipe_id: str  # pipe transport on the edge router
    pipes: dict[str, PipeRecord] = field(default_factory=dict)  # origin producer id -> pipe
    ssrcs: set[int] = field(default_factory=set)  # pipe ssrcs in use on this pair


@dataclass
class ParticipantState:
    participant_id: str
    send_transport_id: str | None = None
    send_local: LocalTransport | None = None
    send_connected: bool = False
    send_remote_ice: tuple[str, str] | None = None  # (ufrag, pwd) of the peer that owns the send transport
    send_fingerprints: frozenset[tuple[str, str]] = frozenset()  # its DTLS certificate fingerprints
    published: dict[str, str] = field(default_factory=dict)  # mid -> producer id
    recv_transport_id: str | None = None
    recv_worker: int | None = None  # worker index of the recv transport (the origin or an edge)
    recv_local: LocalTransport | None = None
    recv_connected: bool = False
    mlines: list[SubscriberMLine] = field(default_factory=list)
    session_id: int = field(default_factory=lambda: random.randint(1, 2**62))
    send_session_id: int = field(default_factory=lambda: random.randint(1, 2**62))
    recv_version: int = 0
    send_version: int = 0
    # publishers (participant ids) whose camera this subscriber wants as the small stream
    small_from: set[str] = field(default_factory=set)

    def active_mline_for(self, producer_id: str) -> SubscriberMLine | None:
        return next((m for m in self.mlines if m.active and m.producer_id == producer_id), None)


@dataclass
class RouterState:
    router_id: str
    room_key: str
    worker_index: int
    participants: dict[str, ParticipantState] = field(default_factory=dict)
    producers: dict[str, ProducerRecord] = field(default_factory=dict)
    ssrcs: set[int] = field(default_factory=set)  # consumer ssrcs in use in this router
    edges: dict[int, EdgeState] = field(default_factory=dict)  # worker index -> edge of this room
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # serialises SDP/state changes of this room

    def participant(self, participant_id: str) -> ParticipantState:
        p = self.participants.get(participant_id)
        if p is None:
            p = ParticipantState(participant_id)
            self.participants[participant_id] = p
        return p
