"""Consumer: one outgoing track to one subscriber, with its own SSRC and seq/timestamp space.

A consumer keeps a continuous sequence/timestamp space across producer changes (pause/resume,
``set_producer`` after a publisher restart): on resync it maps the next forwarded packet (a keyframe
for video) to ``last_seq + 1``.
"""

from __future__ import annotations

import logging
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relayroom.media.producer import ConsumerSink, ProducerLink
from relayroom.media.rtp import limits, rtcp
from relayroom.media.rtp.header import build_rtx, rewritten
from relayroom.media.rtp.seq import seq_diff, seq_newer
from relayroom.media.types import CloseReason

logger = logging.getLogger(__name__)

RTX_RATE = 500.0  # retransmissions per second per consumer, sustained
RTX_BURST = 200  # and in one burst
_PADDING_HDR = struct.Struct("!BBHII")


@dataclass(frozen=True)
class ConsumerParams:
    consumer_id: str
    ssrc: int
    payload_type: int
    rtx_ssrc: int | None = None
    rtx_payload_type: int | None = None

    @classmethod
    def from_dict(cls, consumer_id: str, d: dict[str, Any]) -> ConsumerParams:
        """Parameters from the channel, range-checked (ValueError) before anything builds a packet."""
        return cls(
            consumer_id=consumer_id,
            ssrc=limits.ssrc(d["ssrc"]),
            payload_type=limits.payload_type(d["payloadType"]),
            rtx_ssrc=limits.optional(limits.ssrc, d.get("rtxSsrc"), "rtx ssrc"),
            rtx_payload_type=limits.optional(
                limits.payload_type, d.get("rtxPayloadType"), "rtx payload type"
            ),
        )


ProducerAttach = Callable[[ConsumerSink], ProducerLink]  # Producer.attach


class Consumer:
    """Forwards one producer's packets to one subscriber. It knows its producer only through the
    functions of a ``ProducerLink`` (``attach`` is ``Producer.attach``), never the producer object."""

    def __init__(
        self,
        params: ConsumerParams,
        attach: ProducerAttach,
        send_rtp: Callable[[bytes], None],
        send_rewritten: Callable[[bytes, int, int, int, int], None],
        send_rtcp: Callable[[bytes], None],
        on_close: Callable[[Consumer, CloseReason], None],
        on_producer_closed: Callable[[Consumer], None],
        paused: bool = False,
        native_target: Any = None,
    ) -> None:
        self.params = params
        self.id = params.consumer_id
        self.closed = False
        self.paused = paused
        self.bandwidth_paused = False  # nothing fits the subscriber's estimate (set_max_layer)
        self._send = send_rtp
        self._send_rewritten = send_rewritten
        self._send_rtcp = send_rtcp
        self._on_close = on_close
        self._on_producer_closed = on_producer_closed
        self._ssrc = params.ssrc
        self._pt = params.payload_type
        self._sync = True  # next forwarded packet (keyframe for video) re-bases the offsets
        self._sync_seq = 0
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_seq = random.randint(0, 0x7FFF)
        self._last_ts = random.randint(0, 0x7FFFFFFF)
        self._last_send_time = 0.0
        self._rtx_seq = random.randint(0, 0x7FFF)
        self._rtx_ssrc = params.rtx_ssrc
        self._rtx_pt = params.rtx_payload_type
        self._rtx_tokens = float(RTX_BURST)
        self._rtx_refill = 0.0
        self.retransmissions_refused = 0
        self.packets = 0
        self.octets = 0
        self.retransmitted = 0
        self.keyframe_requests = 0
        self.remb_bitrate: int | None = None  # last REMB from the subscriber covering this SSRC
        # from the subscriber's receiver reports about our SSRC (None until the first one)
        self.fraction_lost: float | None = None
        self.packets_lost: int | None = None
        self.jitter_ms: float | None = None
        self.rtt_ms: float | None = None
        self.bitrate = 0
        self._rate_time = 0.0
        self._rate_octets = 0
        self._sr_sent: dict[int, float] = {}  # middle 32 bits of the NTP of our recent SRs -> monotonic
        # Native fan-out (media/native, decision 0032): while armed, the producer's C fan-out does what
        # send_rtp does, on a copy of the rewrite state in _entry; _pull() brings it back. Armed only in
        # the steady state (not paused, not waiting for a key frame) on a UDP tuple (native_target).
        self._target: Any = native_target
        self._entry: Any = None
        self._armed_on: ProducerLink | None = None
        if native_target is not None:
            from relayroom.media.native import _fanout

            self._entry = _fanout.Entry()
        self.producer: ProducerLink | None = attach(self)
        self.kind = self.producer.kind
        self._clock_rate = self.producer.clock_rate

    # -- hot path ------------------------------------------------------------------------------------
    def send_rtp(self, data: bytes, seq: int, ts: int, now: float) -> None:
        if self.paused or self.bandwidth_paused:
            if not self.paused:
                self._sync = True  # resume at a key frame
            return
        if self._sync:
            producer = self.producer
            if producer is None or not producer.is_keyframe(data):
                return
            self._rebase(seq, ts, now)
            if self._entry is not None:  # steady state from here: this packet in Python, then natively
                self.send_rtp(data, seq, ts, now)
                self._update_native()
                return
        elif seq_diff(seq, self._sync_seq) < 0:
            return  # reordered packet from before the re-base point
        out_seq = (seq + self._seq_offset) & 0xFFFF
        out_ts = (ts + self._ts_offset) & 0xFFFFFFFF
        if seq_newer(out_seq, self._last_seq):
            self._last_seq = out_seq
            self._last_ts = out_ts
            self._last_send_time = now
        self.packets += 1
        self.octets += len(data) - 12
        self._send_rewritten(data, self._pt, out_seq, out_ts, self._ssrc)

    # -- native fan-out ------------------------------------------------------------------------------
    def set_native_target(self, target: Any) -> None:
        """The transport's native target (None: its tuple is not one the native path can send on)."""
        if self._entry is None and target is None and self._target is None:
            return
        self._target = target
        if target is not None and self._entry is None:
            from relayroom.media.native import _fanout

            self._entry = _fanout.Entry()
        self._update_native()

    def _update_native(self) -> None:
        """Arm or disarm after a state change (never per packet)."""
        producer = self.producer
        want = (
            self._entry is not None
            and self._target is not None
            and producer is not None
            and producer.arm is not None
            and not (self.closed or self.paused or self.bandwidth_paused or self._sync)
        )
        armed = self._armed_on
        if armed is not None and (not want or armed is not producer):
            self._pull()
            self._armed_on = None
            if armed.arm is not None:
                armed.arm(None)
        if want and self._armed_on is None and producer is not None and producer.arm is not None:
            self._entry.load(
                self._target,
                self._pt,
                self._ssrc,
                self._seq_offset,
                self._ts_offset,
                self._sync_seq,
                self._last_seq,
                self._last_ts,
                self._last_send_time,
                self.packets,
                self.octets,
            )
            self._armed_on = producer
            producer.arm(self._entry)

    def _pull(self) -> None:
        """Bring back what the native fan-out changed (last seq/timestamp, counters)."""
        if self._armed_on is not None:
            (self._last_seq, self._last_ts, self._last_send_time, self.packets, self.octets) = (
                self._entry.state()
            )

    def _rebase(self, seq: int, ts: int, now: float) -> None:
        gap = 1
        if self.packets:
            gap = max(1, int((now - self._last_send_time) * self._clock_rate))
        self._seq_offset = (self._last_seq + 1 - seq) & 0xFFFF
        self._ts_offset = (self._last_ts + gap - ts) & 0xFFFFFFFF
        self._sync_seq = seq
        self._sync = False

    # -- RTCP from the subscriber ------------------------------------------------------------------
    def receive_nack(self, seqs: list[int], now: float) -> None:
        producer = self.producer
        stored_packet = producer.stored_packet if producer is not None else None
        if producer is None or stored_packet is None:
            return
        # Token bucket: a NACK flood must not turn the SFU into an amplifier.
        self._rtx_tokens = min(RTX_BURST, self._rtx_tokens + (now - self._rtx_refill) * RTX_RATE)
        self._rtx_refill = now
        for out_seq in seqs:
            if self._rtx_tokens < 1:
                self.retransmissions_refused += 1
                continue
            in_seq = (out_seq - self._seq_offset) & 0xFFFF
            pkt = stored_packet(in_seq, now * 1000)
            if pkt is None:
                producer.request_missing(in_seq)
                continue
            ts = ((pkt[4] << 24) | (pkt[5] << 16) | (pkt[6] << 8) | pkt[7]) + self._ts_offset
            out = rewritten(pkt, self._pt, out_seq, ts & 0xFFFFFFFF, self._ssrc)
            rtx_ssrc, rtx_pt = self._rtx_ssrc, self._rtx_pt
            if rtx_ssrc is not None and rtx_pt is not None:
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                out = bytes(build_rtx(out, rtx_pt, self._rtx_seq, rtx_ssrc, out_seq))
            self.retransmitted += 1
            self._rtx_tokens -= 1
            self._send(out)

    def padding_packet(self, size: int) -> bytes | None:
        """A padding-only packet (``size`` octets of padding, 1-255) on this consumer's RTX stream, for a
        bandwidth probe (the transport stamps and sends it); None without RTX or before any media."""
        rtx_ssrc, rtx_pt = self._rtx_ssrc, self._rtx_pt
        self._pull()  # the timestamp of the last packet the native path sent
        if rtx_ssrc is None or rtx_pt is None or not self.packets:
            return None
        size = max(1, min(size, 255))
        self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        header = _PADDING_HDR.pack(0xA0, rtx_pt, self._rtx_seq, self._last_ts, rtx_ssrc)
        return header + bytes(size - 1) + bytes((size,))

    def disable_rtx(self) -> None:
        """The subscriber did not accept RTX: answer NACKs with plain retransmissions."""
        self._rtx_ssrc = None
        self._rtx_pt = None

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        if self.producer is not None:
            self.producer.request_keyframe()

    def sender_report(self, now: float, wallclock: float) -> bytes | None:
        """SR for the subscriber: NTP/RTP mapping from the publisher's last SR when known."""
        self._pull()
        if not self.packets:
            return None
        producer = self.producer
        upstream = producer.last_sender_report() if producer is not None else None
        if upstream is not None:
            sr_ntp, sr_rtp, sr_time = upstream
            elapsed = now - sr_time
            ntp = sr_ntp + int(elapsed * (1 << 32))
            rtp_ts = sr_rtp + self._ts_offset + int(elapsed * self._clock_rate)
        else:
            ntp = int((wallclock + 2208988800) * (1 << 32))
            rtp_ts = self._last_ts + int((now - self._last_send_time) * self._clock_rate)
        ntp &= 0xFFFFFFFFFFFFFFFF
        # The NTP may come from the publisher's clock, so RTT is measured against when we sent it.
        sent = self._sr_sent
        if len(sent) >= 8:
            del sent[next(iter(sent))]
        sent[(ntp >> 16) & 0xFFFFFFFF] = now
        return rtcp.build_sr(
            rtcp.SenderReport(self._ssrc, ntp, rtp_ts & 0xFFFFFFFF, self.packets, self.octets)
        )

    def receive_report(self, block: rtcp.ReportBlock, now: float) -> None:
        """A report block from the subscriber about our SSRC (RFC 3550 §6.4.1). RTT = now - LSR - DLSR,
        with LSR looked up among the SRs we sent (their send time), so the NTP base does not matter."""
        self.fraction_lost = block.fraction_lost / 256
        self.packets_lost = block.packets_lost
        self.jitter_ms = round(block.jitter * 1000 / self._clock_rate, 2)
        sent_at = self._sr_sent.get(block.lsr) if block.lsr else None
        if sent_at is not None:
            rtt = now - sent_at - block.dlsr / 65536
            if 0 <= rtt < 60:
                self.rtt_ms = round(rtt * 1000, 1)

    def update_rates(self, now: float) -> None:
        """Bitrate sent over the interval since the last call (once per report interval)."""
        self._pull()
        dt = now - self._rate_time
        if self._rate_time and dt > 0:
            self.bitrate = int((self.octets - self._rate_octets) * 8 / dt)
        self._rate_time = now
        self._rate_octets = self.octets

    def stats(self) -> dict[str, Any]:
        """Send-side quality of this track towards its subscriber (docs/channel.md ``router.stats``)."""
        return {
            "kind": self.kind,
            "producerId": self.producer.producer_id if self.producer else None,
            "paused": self.paused,
            "bitrate": self.bitrate,
            "fractionLost": None if self.fraction_lost is None else round(self.fraction_lost, 4),
            "packetsLost": self.packets_lost,
            "jitterMs": self.jitter_ms,
            "rttMs": self.rtt_ms,
        }

    # -- state -------------------------------------------------------------------------------------
    def set_preferred_layers(self, spatial: int, temporal: int = 3) -> None:
        """One encoding only: every layer choice gets it (TRTC: small falls back to big)."""

    def set_max_layer(self, layer: int) -> None:
        """One encoding only: the bandwidth cap pauses (-1) or resumes the video."""
        paused = layer < 0
        if self.bandwidth_paused and not paused:
            self._sync = True
            self.request_keyframe()
        self.bandwidth_paused = paused
        if self._entry is not None:
            self._update_native()

    # -- what the layer allocator needs (webrtc_transport.allocate_layers) ---------------------------
    def layer_bitrates(self) -> tuple[int, ...]:
        """Bit/s of each encoding this consumer can get (one here; never 0, so it is never skipped)."""
        producer = self.producer
        return (max(1, producer.bitrate() if producer is not None else 0),)

    @property
    def wanted_layer(self) -> int:
        return 0

    @property
    def current_layer(self) -> int:
        self._pull()
        return -1 if self.bandwidth_paused or not self.packets else 0

    def resync(self) -> None:
        self._sync = True
        if self._entry is not None:
            self._update_native()

    def pause(self) -> None:
        self.paused = True
        if self._entry is not None:
            self._update_native()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self._sync = True
            self.request_keyframe()

    def set_producer(self, kind: str, attach: ProducerAttach) -> None:
        """Continue this consumer's stream from another producer (publisher restart); ``attach`` is the
        new producer's ``Producer.attach``."""
        if kind != self.kind:
            raise TypeError("producer kind mismatch")
        self._sync = True
        if self._entry is not None:
            self._update_native()  # disarm from the old producer before leaving it
        if self.producer is not None:
            self.producer.detach()
        self.producer = link = attach(self)
        self._clock_rate = link.clock_rate
        self._sync = True
        link.request_keyframe()

    def producer_closed(self) -> None:
        """The producer went away; the consumer stays (silent) until closed or given a new producer."""
        self._pull()
        self._armed_on = None  # the producer drops its native fan-out itself
        self.producer = None
        self._sync = True
        self._on_producer_closed(self)

    def close(self, reason: CloseReason = CloseReason.CLOSED) -> None:
        if self.closed:
            return
        self.closed = True
        if self._entry is not None:
            self._update_native()
        if self.producer is not None:
            self.producer.detach()
            self.producer = None
        self._on_close(self, reason)

    def dump(self) -> dict[str, Any]:
        self._pull()
        return {
            "id": self.id,
            "kind": self.kind,
            "producerId": self.producer.producer_id if self.producer else None,
            "ssrc": self._ssrc,
            "rtxSsrc": self._rtx_ssrc,
            "payloadType": self._pt,
            "paused": self.paused,
            "packets": self.packets,
            "octets": self.octets,
            "retransmitted": self.retransmitted,
            "retransmissionsRefused": self.retransmissions_refused,
            "keyframeRequests": self.keyframe_requests,
            "rembBitrate": self.remb_bitrate,
            **self.stats(),
        }
