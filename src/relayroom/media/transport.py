"""Transport: what every transport of a router shares (mediasoup's ``Transport``, the base of
``WebRtcTransport`` and ``PipeTransport``): its producers and consumers, their indexes by SSRC, and the
control-path bookkeeping around them (the checks of ``produce``/``consume``, closing cascades).

The per-packet paths (receiving, sending, RTCP) belong to each kind of transport; a subclass provides
``send_rtp``, ``send_rtp_rewritten`` and ``send_rtcp``, which the consumers it creates call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from relayroom.media.consumer import Consumer, ConsumerParams
from relayroom.media.producer import Producer
from relayroom.media.types import CloseReason, InvalidStateError


class ProducerDirectory(Protocol):
    """What a transport may ask of its router about producers: functions, not the router."""

    @property
    def get_producer(self) -> Callable[[str], Producer | None]: ...
    @property
    def register_producer(self) -> Callable[[Producer], None]: ...
    @property
    def unregister_producer(self) -> Callable[[Producer], None]: ...


class Transport:
    """Producers and consumers of one transport; ``label`` names the kind in error messages."""

    label: ClassVar[str] = "transport"
    max_producers: ClassVar[int] = 32
    max_consumers: ClassVar[int] = 1024

    def __init__(
        self,
        transport_id: str,
        directory: ProducerDirectory,
        notify: Callable[[str, str, dict[str, Any]], None],
    ) -> None:
        self.id = transport_id
        self.closed = False
        self._directory = directory
        self._notify = notify
        self.producers: dict[str, Producer] = {}
        self.consumers: dict[str, Consumer] = {}
        self._rtp_listeners: dict[int, Producer] = {}  # producer ssrc and rtx ssrc -> producer
        self._consumers_by_ssrc: dict[int, Consumer] = {}  # consumer ssrc and rtx ssrc -> consumer

    # -- what the consumers send through (per packet: each kind of transport) ------------------------
    def send_rtp(self, data: bytes) -> None:
        raise NotImplementedError

    def send_rtp_rewritten(self, data: bytes, payload_type: int, seq: int, ts: int, ssrc: int) -> None:
        raise NotImplementedError

    def send_rtcp(self, data: bytes) -> None:
        raise NotImplementedError

    # -- producers -------------------------------------------------------------------------------------
    def _check_new_producer(self, producer_id: str) -> None:
        self._check_open()
        if len(self.producers) >= self.max_producers:
            raise ValueError(f"too many producers on this {self.label}")
        if producer_id in self.producers:
            raise TypeError("duplicate producer id")

    def _new_producer(self, producer: Producer) -> Producer:
        """Index a producer built on this transport (its SSRC and RTX SSRC, when known) and register it
        with the router."""
        self.producers[producer.id] = producer
        if producer.params.ssrc:
            self._rtp_listeners[producer.params.ssrc] = producer
        if producer.params.rtx_ssrc is not None:
            self._rtp_listeners[producer.params.rtx_ssrc] = producer
        self._directory.register_producer(producer)
        return producer

    def _on_producer_close(self, producer: Producer, reason: CloseReason) -> None:
        self.producers.pop(producer.id, None)
        self._directory.unregister_producer(producer)
        for ssrc in (producer.params.ssrc, producer.params.rtx_ssrc):
            if ssrc is not None and self._rtp_listeners.get(ssrc) is producer:
                del self._rtp_listeners[ssrc]
        if producer.layer_of is None:  # a lower simulcast layer closes with its track, unannounced
            self._notify(producer.id, "producerclose", {"reason": str(reason)})

    # -- consumers -------------------------------------------------------------------------------------
    def consume(self, consumer_id: str, producer_id: str, data: dict[str, Any]) -> Consumer:
        """A consumer of one of the router's producers, sending with the SSRC/PT in ``data``."""
        self._check_open()
        if len(self.consumers) >= self.max_consumers:
            raise ValueError(f"too many consumers on this {self.label}")
        if consumer_id in self.consumers:
            raise TypeError("duplicate consumer id")
        producer = self._directory.get_producer(producer_id)
        if producer is None:
            raise TypeError("unknown producer")
        params = ConsumerParams.from_dict(consumer_id, data)
        for ssrc in (params.ssrc, params.rtx_ssrc):
            if ssrc is not None and ssrc in self._consumers_by_ssrc:
                raise TypeError("ssrc already in use")
        return self._add_consumer(self._new_consumer(params, producer, data))

    def _add_consumer(self, consumer: Consumer) -> Consumer:
        self.consumers[consumer.id] = consumer
        self._consumers_by_ssrc[consumer.params.ssrc] = consumer
        if consumer.params.rtx_ssrc is not None:
            self._consumers_by_ssrc[consumer.params.rtx_ssrc] = consumer
        self._first_keyframe(consumer)
        return consumer

    def _first_keyframe(self, consumer: Consumer) -> None:
        """A new consumer starts at a key frame: ask for one (WebRtcTransport asks later)."""
        consumer.request_keyframe()

    def _new_consumer(self, params: ConsumerParams, producer: Producer, data: dict[str, Any]) -> Consumer:
        return Consumer(
            params,
            producer.attach,
            send_rtp=self.send_rtp,
            send_rewritten=self.send_rtp_rewritten,
            send_rtcp=self.send_rtcp,
            on_close=self._on_consumer_close,
            on_producer_closed=self._on_consumer_producer_closed,
            paused=bool(data.get("paused", False)),
            native_target=self._consumer_native_target(),
        )

    def _consumer_native_target(self) -> Any:
        """The native fan-out's target for new consumers (media/native); None: the Python path."""
        return None

    def _on_consumer_close(self, consumer: Consumer, reason: CloseReason) -> None:
        self.consumers.pop(consumer.id, None)
        for ssrc in (consumer.params.ssrc, consumer.params.rtx_ssrc):
            if ssrc is not None and self._consumers_by_ssrc.get(ssrc) is consumer:
                del self._consumers_by_ssrc[ssrc]

    def _on_consumer_producer_closed(self, consumer: Consumer) -> None:
        self._notify(consumer.id, "producerclose", {})

    # -- periodic and lifecycle --------------------------------------------------------------------------
    def update_rates(self, now: float) -> None:
        """Once per report interval: bitrates (and frame rates) of every producer and consumer."""
        for producer in self.producers.values():
            producer.update_rates(now)
        for consumer in self.consumers.values():
            consumer.update_rates(now)

    def _check_open(self) -> None:
        if self.closed:
            raise InvalidStateError(f"{self.label} closed")

    def _close_children(self) -> None:
        """Close every consumer, then every producer (their close callbacks unindex them)."""
        for consumer in list(self.consumers.values()):
            consumer.close(CloseReason.TRANSPORT_CLOSED)
        for producer in list(self.producers.values()):
            producer.close(CloseReason.TRANSPORT_CLOSED)
        self.consumers.clear()
        self.producers.clear()
