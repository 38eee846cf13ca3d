"""SimulcastConsumer: one outgoing video track cut from a simulcast producer's encodings.

Each encoding is a ``Producer`` of its own (``Producer.layers``, lowest resolution first); this consumer
attaches to every one of them through a ``_LayerInput`` (so each packet arrives with its layer index)
and lets a ``LayerRewriter`` choose and rewrite: one SSRC, continuous sequence numbers, timestamps and
VP8 PictureID/TL0PICIDX towards the subscriber, switching only on a key frame of the target layer
(asked for with PLI/FIR to that encoding).

The target is what the subscriber prefers (``set_preferred_layers``: TRTC's small stream is layer 0,
the big one the highest), capped by what its bandwidth allows (``set_max_layer``, from the layer
allocator), and moved to the nearest encoding that arrives when the wanted one stops arriving (a
publisher's browser drops its upper encodings when its uplink is short).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from relayroom.media.consumer import RTX_BURST, RTX_RATE, Consumer, ConsumerParams, ProducerAttach
from relayroom.media.layer_rewriter import ALL_TEMPORAL, LayerRewriter, LayerRewriterParams, SenderReport
from relayroom.media.producer import ProducerLink
from relayroom.media.rtp import rtcp
from relayroom.media.rtp.header import build_rtx
from relayroom.media.types import CloseReason

logger = logging.getLogger(__name__)

LAYER_IDLE_S = 2.0  # an encoding without packets this long counts as not sent (a loaded encoder stalls ~1 s)
KEYFRAME_ASK_S = 0.25  # while waiting for a key frame of the target: ask again at most this often


class _LayerInput:
    """What one layer's producer forwards to: tags each packet with its layer index."""

    def __init__(self, consumer: SimulcastConsumer, layer: int) -> None:
        self.id = consumer.id
        self.remb_bitrate: int | None = None
        self._consumer = consumer
        self._layer = layer

    def send_rtp(self, data: bytes, seq: int, ts: int, now: float) -> None:
        self._consumer.send_layer_rtp(self._layer, data, now)

    def resync(self) -> None:
        self._consumer.resync()

    def producer_closed(self) -> None:
        self._consumer.layer_closed(self._layer)


class SimulcastConsumer(Consumer):
    def __init__(
        self,
        params: ConsumerParams,
        layers: Sequence[ProducerAttach],
        mime_type: str,
        send_rtp: Callable[[bytes], None],
        send_rewritten: Callable[[bytes, int, int, int, int], None],
        send_rtcp: Callable[[bytes], None],
        on_close: Callable[[Consumer, CloseReason], None],
        on_producer_closed: Callable[[Consumer], None],
        paused: bool = False,
        preferred_layer: int | None = None,
    ) -> None:
        self.id = params.consumer_id
        self.links: list[ProducerLink] = []
        self._inputs: list[_LayerInput] = []
        self._attach_layers(layers)
        top = self.links[-1]
        super().__init__(
            params,
            lambda _consumer: top,
            send_rtp,
            send_rewritten,
            send_rtcp,
            on_close,
            on_producer_closed,
            paused,
        )
        self.rewriter = LayerRewriter(
            LayerRewriterParams(params.ssrc, params.payload_type, top.clock_rate, mime_type),
            sender_report=self._layer_sender_report,
        )
        self.preferred_spatial = len(self.links) - 1 if preferred_layer is None else preferred_layer
        self.preferred_temporal = ALL_TEMPORAL
        self.max_layer = len(self.links) - 1  # bandwidth cap (layer allocator); -1 pauses the video
        self._last_ask = -1e9

    def _attach_layers(self, layers: Sequence[ProducerAttach]) -> None:
        for link in self.links:
            link.detach()
        self._inputs = [_LayerInput(self, i) for i in range(len(layers))]
        self.links = [attach(layer_input) for attach, layer_input in zip(layers, self._inputs, strict=True)]
        self._seen = [float("-inf")] * len(self.links)

    # -- targets -------------------------------------------------------------------------------------
    def set_preferred_layers(self, spatial: int, temporal: int = ALL_TEMPORAL) -> None:
        """The subscriber's choice (0 = small); applied at the next key frame of that encoding."""
        self.preferred_spatial = max(0, spatial)
        self.preferred_temporal = temporal
        self.request_keyframe()

    def set_max_layer(self, layer: int) -> None:
        """The highest layer the subscriber's bandwidth allows (-1: none, video paused)."""
        self.max_layer = layer

    def effective_target(self, now: float) -> int:
        """The layer to switch to: preferred, capped by bandwidth, else the nearest that arrives."""
        n = len(self.links)
        want = min(self.preferred_spatial, self.max_layer, n - 1)
        if want < 0:
            return -1
        seen = self._seen
        if now - seen[want] <= LAYER_IDLE_S:
            return want
        for layer in range(want - 1, -1, -1):  # the encoding is not sent: the next lower one that is
            if now - seen[layer] <= LAYER_IDLE_S:
                return layer
        if self.max_layer >= n - 1:  # nothing lower arrives: a higher one (TRTC: small falls back to big)
            for layer in range(want + 1, n):
                if now - seen[layer] <= LAYER_IDLE_S:
                    return layer
        return want

    # -- what the layer allocator needs ---------------------------------------------------------------
    def layer_bitrates(self) -> tuple[int, ...]:
        """Bit/s of each encoding, lowest first; 0 for one that does not arrive (the top one counts
        at least 1 while it arrives, so a consumer is not paused before its first rate is known)."""
        rates = [link.bitrate() for link in self.links]
        if rates and not any(rates):
            rates[-1] = 1
        return tuple(rates)

    @property
    def wanted_layer(self) -> int:
        return min(self.preferred_spatial, len(self.links) - 1)

    @property
    def current_layer(self) -> int:
        return self.rewriter.current_spatial

    # -- hot path ------------------------------------------------------------------------------------
    def send_rtp(self, data: bytes, seq: int, ts: int, now: float) -> None:
        """Not attached directly: packets come per layer (send_layer_rtp)."""

    def send_layer_rtp(self, layer: int, data: bytes, now: float) -> None:
        self._seen[layer] = now
        if self.paused:
            return
        rewriter = self.rewriter
        target = self.effective_target(now)
        if target != rewriter.target_spatial or self.preferred_temporal != rewriter.target_temporal:
            rewriter.set_target(target, self.preferred_temporal)
        if rewriter.wants_keyframe and layer == target and now - self._last_ask >= KEYFRAME_ASK_S:
            self._last_ask = now
            self.keyframe_requests += 1
            self.links[target].request_keyframe()
        out = rewriter.rewrite(layer, data, now)
        if out is None:
            return
        self.packets += 1
        self.octets += len(out) - 12
        self._send(bytes(out))

    # -- RTCP from the subscriber --------------------------------------------------------------------
    def receive_nack(self, seqs: list[int], now: float) -> None:
        self._rtx_tokens = min(RTX_BURST, self._rtx_tokens + (now - self._rtx_refill) * RTX_RATE)
        self._rtx_refill = now
        for out_seq in seqs:
            if self._rtx_tokens < 1:
                self.retransmissions_refused += 1
                continue
            found = self.rewriter.lookup(out_seq)
            if found is None:
                continue
            layer, in_seq = found
            link = self.links[layer]
            stored = link.stored_packet
            pkt = stored(in_seq, now * 1000) if stored is not None else None
            if pkt is None:
                link.request_missing(in_seq)
                continue
            out = self.rewriter.rewrite_retransmission(layer, pkt, out_seq)
            if out is None:
                continue
            data = bytes(out)
            rtx_ssrc, rtx_pt = self._rtx_ssrc, self._rtx_pt
            if rtx_ssrc is not None and rtx_pt is not None:
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                data = bytes(build_rtx(data, rtx_pt, self._rtx_seq, rtx_ssrc, out_seq))
            self.retransmitted += 1
            self._rtx_tokens -= 1
            self._send(data)

    def request_keyframe(self) -> None:
        """PLI from the subscriber (or a switch): ask the encoding it gets, or is about to get."""
        self.keyframe_requests += 1
        rewriter = self.rewriter
        layer = rewriter.target_spatial if rewriter.target_spatial >= 0 else rewriter.current_spatial
        if layer < 0:
            layer = min(self.preferred_spatial, len(self.links) - 1)
        if self.producer is not None:
            self.links[layer].request_keyframe()

    def _layer_sender_report(self, layer: int) -> SenderReport | None:
        sr = self.links[layer].last_sender_report()
        return None if sr is None else (sr[0] / (1 << 32), sr[1])

    def sender_report(self, now: float, wallclock: float) -> bytes | None:
        rewriter = self.rewriter
        last = rewriter.last_sent
        if not self.packets or last is None:
            return None
        layer = rewriter.current_spatial
        upstream = self.links[layer].last_sender_report() if layer >= 0 else None
        if upstream is not None:
            sr_ntp, sr_rtp, sr_time = upstream
            elapsed = now - sr_time
            ntp = sr_ntp + int(elapsed * (1 << 32))
            rtp_ts = sr_rtp + rewriter.ts_offset + int(elapsed * self._clock_rate)
        else:
            ntp = int((wallclock + 2208988800) * (1 << 32))
            rtp_ts = last[0] + int((now - last[1]) * self._clock_rate)
        ntp &= 0xFFFFFFFFFFFFFFFF
        sent = self._sr_sent
        if len(sent) >= 8:
            del sent[next(iter(sent))]
        sent[(ntp >> 16) & 0xFFFFFFFF] = now
        return rtcp.build_sr(
            rtcp.SenderReport(self._ssrc, ntp, rtp_ts & 0xFFFFFFFF, self.packets, self.octets)
        )

    # -- state ---------------------------------------------------------------------------------------
    def resync(self) -> None:
        """Start again at a key frame (transport connected, producer resumed); numbering continues."""
        self.rewriter.set_target(-1)

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.resync()
            self.request_keyframe()

    def set_layers(self, kind: str, layers: Sequence[ProducerAttach]) -> None:
        """Continue from another producer's encodings (publisher restart); numbering continues."""
        if kind != self.kind:
            raise TypeError("producer kind mismatch")
        self._attach_layers(layers)
        self.producer = self.links[-1]
        self.rewriter.set_target(-1)
        self.request_keyframe()

    def set_producer(self, kind: str, attach: ProducerAttach) -> None:
        self.set_layers(kind, [attach])

    def layer_closed(self, layer: int) -> None:
        if self.links and layer == len(self.links) - 1 and self.producer is not None:
            self.links = []
            self._inputs = []
            self.producer = None
            self.rewriter.set_target(-1)
            self._on_producer_closed(self)

    def close(self, reason: CloseReason = CloseReason.CLOSED) -> None:
        if self.closed:
            return
        for link in self.links:
            link.detach()
        self.links = []
        self.producer = None
        super().close(reason)

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["spatialLayer"] = self.rewriter.current_spatial
        out["targetSpatialLayer"] = self.rewriter.target_spatial
        out["preferredSpatialLayer"] = self.preferred_spatial
        return out

    def dump(self) -> dict[str, Any]:
        return {**super().dump(), "layers": self.rewriter.dump(), "maxLayer": self.max_layer}
