"""Router: one per room on a worker. Holds transports; producers are found by id for consumers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relayroom.media.active_speaker import ActiveSpeakerDetector, SpeakerReport
from relayroom.media.pipe_transport import PipeTransport, PipeTransportParams
from relayroom.media.producer import Producer
from relayroom.media.types import CloseReason, InvalidStateError
from relayroom.media.webrtc_transport import RouterLink, TransportParams, WebRtcTransport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouterParams:
    router_id: str
    make_transport_params: Callable[[str, RouterLink], TransportParams]
    on_transport_created: Callable[[WebRtcTransport], None]
    on_close: Callable[[Router], None]
    # pipe transports (media/pipe_transport.py): (transport id, get/register/unregister producer, on close)
    make_pipe_params: Callable[..., PipeTransportParams] | None = None


class Router:
    def __init__(self, params: RouterParams) -> None:
        self.params = params
        self.id = params.router_id
        self.closed = False
        self.transports: dict[str, WebRtcTransport] = {}
        self.producers: dict[str, Producer] = {}
        self.speakers = ActiveSpeakerDetector()  # RFC 6464 levels of the audio producers
        self.pipe_transports: dict[str, PipeTransport] = {}

    def create_webrtc_transport(self, transport_id: str) -> WebRtcTransport:
        if self.closed:
            raise InvalidStateError("router closed")
        if transport_id in self.transports:
            raise TypeError("duplicate transport id")
        link = RouterLink(
            get_producer=self.producers.get,
            register_producer=self._register_producer,
            unregister_producer=self._unregister_producer,
            on_transport_close=self._on_transport_close,
        )
        tp = self.params.make_transport_params(transport_id, link)
        transport = WebRtcTransport(tp)
        self.transports[transport_id] = transport
        self.params.on_transport_created(transport)
        return transport

    def create_pipe_transport(self, transport_id: str) -> PipeTransport:
        """One end of a pipe to a router of this room on another worker."""
        if self.closed:
            raise InvalidStateError("router closed")
        make = self.params.make_pipe_params
        if make is None:
            raise InvalidStateError("pipe transports unavailable")
        if transport_id in self.transports or transport_id in self.pipe_transports:
            raise TypeError("duplicate transport id")
        transport = PipeTransport(
            make(
                transport_id,
                self.producers.get,
                self._register_producer,
                self._unregister_producer,
                self._on_pipe_transport_close,
            )
        )
        self.pipe_transports[transport_id] = transport
        return transport

    def _on_pipe_transport_close(self, transport: PipeTransport) -> None:
        self.pipe_transports.pop(transport.id, None)

    def _register_producer(self, producer: Producer) -> None:
        if producer.id in self.producers:
            raise TypeError("duplicate producer id")
        self.producers[producer.id] = producer
        if producer.kind == "audio":
            self.speakers.add_producer(producer.id)
            producer.level_sink = self.speakers.on_level

    def _unregister_producer(self, producer: Producer) -> None:
        if self.producers.get(producer.id) is producer:
            del self.producers[producer.id]
            self.speakers.remove_producer(producer.id)

    def poll_speakers(self, now: float) -> SpeakerReport | None:
        """The loudest speakers and the dominant one, at most every 200 ms (active_speaker.py)."""
        return self.speakers.poll(now * 1000)

    def _on_transport_close(self, transport: WebRtcTransport) -> None:
        self.transports.pop(transport.id, None)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for t in list(self.transports.values()):
            t.close(CloseReason.ROUTER_CLOSED)
        for pt in list(self.pipe_transports.values()):
            pt.close(CloseReason.ROUTER_CLOSED)
        self.transports.clear()
        self.pipe_transports.clear()
        self.producers.clear()
        self.params.on_close(self)

    def stats(self) -> dict[str, Any]:
        """Per transport: its producers' and consumers' quality statistics (no ids beyond those)."""
        return {tid: t.stats() for tid, t in self.transports.items()}

    def dump(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "transportIds": list(self.transports),
            "producerIds": list(self.producers),
            "transports": [t.dump() for t in self.transports.values()],
            "pipeTransports": [t.dump() for t in self.pipe_transports.values()],
        }
