"""Producer: one incoming track (SSRC + optional RTX SSRC) on a publisher's transport."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from relayroom.media.rtp import limits, rtcp
from relayroom.media.rtp.audio_level import parse_audio_level
from relayroom.media.rtp.header import (
    EXT_URI_AUDIO_LEVEL,
    extension_table,
    h264_picture_size,
    header_length,
    is_h264_keyframe,
    is_vp8_keyframe,
    remap_extensions,
    unwrap_rtx,
    vp8_picture_size,
)
from relayroom.media.rtp.nack import RetransmissionBuffer
from relayroom.media.rtp.seq import seq_diff
from relayroom.media.types import CloseReason


class ConsumerSink(Protocol):
    """What a producer calls on what it forwards to: a consumer, or one layer input of a simulcast
    consumer (simulcast_consumer.py)."""

    id: str
    remb_bitrate: int | None

    def send_rtp(self, data: bytes, seq: int, ts: int, now: float) -> None: ...
    def resync(self) -> None: ...
    def producer_closed(self) -> None: ...


logger = logging.getLogger(__name__)

# At most one key frame request per KEYFRAME_MIN_INTERVAL_S while the one asked for has not arrived;
# once it arrived, a new request (a subscriber that could not use it: its DTLS was not up yet) goes out
# at the next tick, but not within KEYFRAME_FLOOR_S of the last one: libwebrtc publishers ignore a
# request within 300 ms of the previous one (EncoderRtcpFeedback). A request whose key frame does not
# come (lost, or ignored) is sent again after KEYFRAME_RETRY_S, at most KEYFRAME_RETRIES times
# (docs/quality.md, Join to first frame).
KEYFRAME_MIN_INTERVAL_S = 0.5
KEYFRAME_FLOOR_S = 0.35
KEYFRAME_RETRY_S = 1.0
KEYFRAME_RETRIES = 2
_RETRIES = KEYFRAME_RETRIES
REMB_FLOOR_BPS = 300_000
_MAX_NACK_GAP = 200
_NACK_RETRIES = 3


@dataclass(frozen=True)
class ProducerLink:
    """What a consumer may ask of the producer it forwards: functions and constants, not the producer.

    Given by ``Producer.attach(consumer)``; ``detach`` undoes it.
    """

    producer_id: str
    kind: str
    clock_rate: int
    is_keyframe: Callable[[bytes | bytearray], bool]
    # retransmission ring lookup (seq, now in ms) -> packet; None for producers without a ring (audio)
    stored_packet: Callable[[int, float], bytes | None] | None
    request_missing: Callable[[int], None]  # ask the publisher for a packet the ring lacks (NACK)
    request_keyframe: Callable[[], None]
    last_sender_report: Callable[[], tuple[int, int, float] | None]  # (NTP, RTP ts, monotonic) if any
    detach: Callable[[], None]
    bitrate: Callable[[], int] = lambda: 0  # received bit/s over the last report interval
    # native fan-out (media/native): arm(entry) moves this consumer to the producer's C fan-out,
    # arm(None) back to its Python loop; None when the producer has no native fan-out
    arm: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class ProducerParams:
    producer_id: str
    kind: str  # audio | video
    mime_type: str  # e.g. video/VP8
    clock_rate: int
    payload_type: int
    ssrc: int
    rtx_ssrc: int | None = None
    rtx_payload_type: int | None = None
    mid: str = ""
    rtx_buffer_ms: int = 2000
    use_fir: bool = False  # the publisher negotiated "ccm fir" but not "nack pli"
    header_extensions: tuple[tuple[int, str], ...] = ()  # (id, uri) negotiated with the publisher
    rid: str | None = None  # simulcast encoding id (RFC 8851); ssrc 0 until learned from packets

    @classmethod
    def from_dict(cls, producer_id: str, d: dict[str, Any], rtx_buffer_ms: int) -> ProducerParams:
        """Parameters from the channel, range-checked (ValueError) before anything builds a packet."""
        kind = d["kind"]
        if kind not in ("audio", "video"):
            raise TypeError("invalid kind")
        rid = d.get("rid")
        if rid is not None and (not isinstance(rid, str) or not 1 <= len(rid) <= 16):
            raise ValueError("rid must be a string of 1..16 characters")
        # An encoding offered by rid only: its SSRC comes with its first packet (rid header extension).
        ssrc = 0 if rid is not None and d.get("ssrc") is None else limits.ssrc(d["ssrc"])
        rtx_ssrc = limits.optional(limits.ssrc, d.get("rtxSsrc"), "rtx ssrc")
        if rtx_ssrc == ssrc:
            raise ValueError("rtx ssrc equals the media ssrc")
        return cls(
            producer_id=producer_id,
            kind=kind,
            mime_type=str(d["mimeType"]),
            clock_rate=limits.in_range(d["clockRate"], 1, limits.CLOCK_RATE_MAX, "clock rate"),
            payload_type=limits.payload_type(d["payloadType"]),
            ssrc=ssrc,
            rtx_ssrc=rtx_ssrc,
            rtx_payload_type=limits.optional(
                limits.payload_type, d.get("rtxPayloadType"), "rtx payload type"
            ),
            mid=str(d.get("mid", "")),
            rtx_buffer_ms=rtx_buffer_ms,
            use_fir=bool(d.get("useFir", False)),
            header_extensions=tuple(
                (limits.in_range(i, 1, limits.EXTENSION_ID_MAX, "header extension id"), str(u))
                for i, u in d.get("headerExtensions", ())
            ),
            rid=rid,
        )


class Producer:
    """Receives decrypted RTP of one track and fans it out to its consumers."""

    def __init__(
        self,
        params: ProducerParams,
        send_rtcp: Callable[[bytes], None],
        on_close: Callable[[Producer, CloseReason], None],
        native_sender: Any = None,
    ) -> None:
        self.params = params
        self.id = params.producer_id
        self.kind = params.kind
        self.closed = False
        self.paused = False
        self._send_rtcp = send_rtcp
        self._on_close = on_close
        self._consumers: tuple[ConsumerSink, ...] = ()
        # Native fan-out (media/native, decision 0032): consumers armed there leave _py_consumers and
        # are served by one C call per packet (_fanout.FanOut.forward on the worker's native sender).
        self._py_consumers: tuple[ConsumerSink, ...] = ()
        self._armed: dict[int, tuple[ConsumerSink, Any]] = {}  # id(consumer) -> (consumer, entry)
        self._fanout: Any = None
        self._native_sender: Any = None  # the C sender
        self._native_schedule: Callable[[], None] = lambda: None
        if native_sender is not None:  # media/native NativeSender
            from relayroom.media.native import _fanout

            self._fanout = _fanout.FanOut()
            self._native_sender = native_sender.c
            self._native_schedule = native_sender.schedule
        # Simulcast: the track's encodings, lowest resolution first, on the producer the control plane
        # knows (the last one, the full resolution); the others are its layers, each a Producer of one
        # encoding (own SSRC, ring, NACK, keyframe requests), reachable only through it.
        self.layers: tuple[Producer, ...] = ()
        self.layer_of: Producer | None = None  # set on the lower layers: the producer they belong to
        # RFC 6464 audio levels of this (audio) producer's packets go here (the router's speaker
        # detector), when the publisher negotiated ssrc-audio-level
        self.level_sink: Callable[[str, int], None] | None = None
        self._level_id = next(
            (i for i, uri in params.header_extensions if uri == EXT_URI_AUDIO_LEVEL and 1 <= i <= 14), 0
        )
        # publisher extension ids -> the ids every subscriber m-line uses (None: already identical)
        self._ext_table = extension_table(list(params.header_extensions))
        mime = params.mime_type.lower()
        self._keyframe_check: Callable[[bytes | bytearray, int], bool] | None = (
            is_vp8_keyframe if mime == "video/vp8" else is_h264_keyframe if mime == "video/h264" else None
        )
        # picture size, probed on the first packet of each frame only (see _new_frame)
        self._size_probe: Callable[[bytes | bytearray, int], tuple[int, int] | None] | None = (
            vp8_picture_size if mime == "video/vp8" else h264_picture_size if mime == "video/h264" else None
        )
        self.width: int | None = None
        self.height: int | None = None
        # Retransmission ring (video only): a power of two covering rtx_buffer_ms at ~1000 pps.
        size = 1
        while size < max(64, params.rtx_buffer_ms):
            size <<= 1
        self.ring: RetransmissionBuffer | None = (
            RetransmissionBuffer(size, params.rtx_buffer_ms) if params.kind == "video" else None
        )
        # receive statistics (RFC 3550 A.3 / A.8)
        self.packets = 0
        self.octets = 0
        self._base_ext: int | None = None
        self._max_ext = 0
        self._cycles = 0
        self._max_seq = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last_transit: float | None = None
        self._started = False
        self._video = params.kind == "video"
        self._last_ts = -1  # RTP timestamp of the newest video frame seen (frame counting, size probing)
        self.frames = 0
        # derived once per report interval (update_rates / report_block), read by dump() and stats()
        self.fraction_lost: float | None = None  # until our first RR to the publisher
        self.packets_lost = 0
        self.bitrate = 0
        self.frame_rate = 0.0
        self._rate_time = 0.0
        self._rate_octets = 0
        self._rate_frames = 0
        # SR from the publisher: for our RR (LSR/DLSR) and for consumers' SRs (NTP<->RTP mapping)
        self.last_sr_ntp = 0
        self.last_sr_rtp = 0
        self.last_sr_time = 0.0
        # NACK towards the publisher: seq -> retries
        self._missing: dict[int, int] = {}
        # keyframe request rate limiting
        self._last_keyframe_request = -1e9
        self._keyframe_pending = False
        self._keyframe_awaited = False  # a request went out and its key frame has not arrived yet
        self._keyframe_retries = 0
        self._fir_seq = 0
        self.keyframe_requests_sent = 0
        self.rtx_received = 0

    # -- consumers -------------------------------------------------------------------------------
    def bind_ssrc(self, ssrc: int, rtx: bool = False) -> None:
        """The SSRC of this encoding (or of its RTX stream), learned from its rid header extension."""
        self.params = replace(self.params, rtx_ssrc=ssrc) if rtx else replace(self.params, ssrc=ssrc)

    def attach(self, consumer: ConsumerSink) -> ProducerLink:
        """Start forwarding to ``consumer``; returns what it may call on this producer."""
        if consumer not in self._consumers:
            self._consumers = (*self._consumers, consumer)
            self._py_consumers = (*self._py_consumers, consumer)
        ring = self.ring
        return ProducerLink(
            producer_id=self.id,
            kind=self.kind,
            clock_rate=self.params.clock_rate,
            is_keyframe=self.is_keyframe,
            stored_packet=ring.get if ring is not None else None,
            request_missing=self.request_missing,
            request_keyframe=self.request_keyframe,
            last_sender_report=self._last_sender_report,
            detach=lambda: self._detach(consumer),
            bitrate=lambda: self.bitrate,
            arm=None if self._fanout is None else lambda entry: self._arm(consumer, entry),
        )

    def _arm(self, consumer: ConsumerSink, entry: Any) -> None:
        """Serve ``consumer`` natively through ``entry`` (loaded by the consumer), or in Python (None)."""
        if consumer not in self._consumers:
            return
        old = self._armed.pop(id(consumer), None)
        if old is not None:
            self._fanout.remove(old[1])
        if entry is not None:
            self._armed[id(consumer)] = (consumer, entry)
            self._fanout.add(entry)
        self._py_consumers = tuple(c for c in self._consumers if id(c) not in self._armed)

    def _detach(self, consumer: ConsumerSink) -> None:
        self._arm(consumer, None)
        self._consumers = tuple(c for c in self._consumers if c is not consumer)
        self._py_consumers = tuple(c for c in self._py_consumers if c is not consumer)

    def _last_sender_report(self) -> tuple[int, int, float] | None:
        if not self.last_sr_time:
            return None
        return self.last_sr_ntp, self.last_sr_rtp, self.last_sr_time

    @property
    def consumers(self) -> tuple[ConsumerSink, ...]:
        return self._consumers

    def is_keyframe(self, data: bytes | bytearray) -> bool:
        check = self._keyframe_check
        if check is None:
            return True
        try:
            return check(data, header_length(data))
        except ValueError:
            return False

    # -- hot path ----------------------------------------------------------------------------------
    def receive_rtp(self, data: bytes, pt: int, seq: int, ts: int, ssrc: int, now: float) -> None:
        """Decrypted RTP for this producer (media or RTX SSRC). Called once per incoming packet."""
        if ssrc != self.params.ssrc:
            # RTX (RFC 4588) answering our NACK: restore the original packet and process it.
            payload_len = len(data) - header_length(data) - (data[-1] if data[0] & 0x20 else 0)
            if pt != self.params.rtx_payload_type or payload_len <= 2:
                return  # padding-only RTX (bandwidth probes) carries no original packet
            data = bytes(unwrap_rtx(data, self.params.payload_type, self.params.ssrc))
            seq = (data[2] << 8) | data[3]
            self.rtx_received += 1
            if self.ring is not None and self.ring.get(seq, now * 1000) is not None:
                return
            self._missing.pop(seq, None)
            self._forward(data, seq, ts, now)
            return
        if pt != self.params.payload_type:
            return
        self._update_stats(seq, ts, len(data), now)
        sink = self.level_sink
        if sink is not None and self._level_id and data[0] & 0x10:
            level = parse_audio_level(data, self._level_id)
            if level is not None:
                sink(self.id, level[0])
        if ts != self._last_ts and self._video:
            self._new_frame(data, ts)
        self._forward(data, seq, ts, now)

    def receive_shed(self, data: bytes, seq: int, ts: int, now: float) -> None:
        """A packet of this producer the worker's load shedding dropped (webrtc_transport.py ``_shed``):
        it counts as received (statistics, frames; no NACK to the publisher for it), and is neither
        stored nor forwarded."""
        if self.params.payload_type != data[1] & 0x7F:
            return
        self._update_stats(seq, ts, len(data), now)
        if ts != self._last_ts and self._video:
            self._new_frame(data, ts)

    def _new_frame(self, data: bytes, ts: int) -> None:
        """First packet seen of a new video frame (timestamp change): count it and probe the picture
        size (a key frame starts with the VP8 key frame header / the H.264 SPS). Once per frame, not per
        packet. A reordered older packet counts as a frame too; the rate is an estimate."""
        self._last_ts = ts
        self.frames += 1
        if self._keyframe_awaited and self.is_keyframe(data):
            self._keyframe_awaited = False  # requests deferred meanwhile go out on the next tick
        probe = self._size_probe
        if probe is not None:
            try:
                size = probe(data, header_length(data))
            except ValueError:
                return
            if size is not None:
                self.width, self.height = size

    def _forward(self, data: bytes, seq: int, ts: int, now: float) -> None:
        table = self._ext_table
        if table is not None and data[0] & 0x10:
            buf = bytearray(data)
            remap_extensions(buf, table)  # once per incoming packet, shared by every consumer
            data = bytes(buf)
        ring = self.ring
        if ring is not None:
            ring.store(seq, data, now * 1000)
        if self.paused:
            return
        if self._armed and self._fanout.forward(data, seq, ts, now, self._native_sender):
            self._native_schedule()
        for consumer in self._py_consumers:
            consumer.send_rtp(data, seq, ts, now)

    def _update_stats(self, seq: int, ts: int, size: int, now: float) -> None:
        self.packets += 1
        self.octets += size
        if not self._started:
            self._started = True
            self._max_seq = seq
            self._base_ext = seq
            self._max_ext = seq
        else:
            d = seq_diff(seq, self._max_seq)
            if d > 0:
                if seq < self._max_seq:
                    self._cycles += 1 << 16
                if 1 < d <= _MAX_NACK_GAP and self.ring is not None:
                    for i in range(1, d):
                        self._missing[(self._max_seq + i) & 0xFFFF] = 0
                    self._send_nack()
                self._max_seq = seq
                self._max_ext = self._cycles | seq
            elif d < 0:
                self._missing.pop(seq, None)
        # interarrival jitter, in RTP timestamp units
        transit = now * self.params.clock_rate - ts
        last = self._last_transit
        if last is not None:
            delta = abs(transit - last)
            if delta < 1 << 30:
                self._jitter += (delta - self._jitter) / 16.0
        self._last_transit = transit

    # -- RTCP --------------------------------------------------------------------------------------
    def receive_sr(self, sr: rtcp.SenderReport, now: float) -> None:
        self.last_sr_ntp = sr.ntp_timestamp
        self.last_sr_rtp = sr.rtp_timestamp
        self.last_sr_time = now

    def aggregate_remb(self) -> bytes | None:
        """REMB towards the publisher: the lowest estimate among subscribers that sent one, never below
        REMB_FLOOR_BPS (without simulcast one slow subscriber would otherwise starve the whole room)."""
        rates = [c.remb_bitrate for c in self._consumers if c.remb_bitrate]
        if not rates:
            return None
        return rtcp.build_remb(1, max(min(rates), REMB_FLOOR_BPS), [self.params.ssrc])

    def request_missing(self, seq: int) -> None:
        """A subscriber asked for a packet the ring does not have."""
        if self.ring is not None and seq not in self._missing:
            self._missing[seq] = 0

    def _send_nack(self) -> None:
        if not self._missing:
            return
        seqs = []
        for seq, tries in list(self._missing.items()):
            if tries >= _NACK_RETRIES:
                del self._missing[seq]
                continue
            self._missing[seq] = tries + 1
            seqs.append(seq)
        if seqs:
            self._send_rtcp(rtcp.build_rr(1) + rtcp.build_nack(1, self.params.ssrc, seqs))

    def request_keyframe(self, now: float | None = None) -> None:
        """PLI (FIR if the publisher only offered ccm fir) to the publisher: at most one per
        KEYFRAME_MIN_INTERVAL_S while the key frame asked for has not come, one per KEYFRAME_FLOOR_S once
        it came; requests inside those windows are deferred to the next tick that allows them, not lost."""
        if self.kind != "video" or self.closed:
            return
        now = time.monotonic() if now is None else now
        if not self.params.ssrc:  # an encoding whose SSRC is not known yet: ask once it is
            self._keyframe_pending = True
            return
        since = now - self._last_keyframe_request
        if since < KEYFRAME_FLOOR_S or (since < KEYFRAME_MIN_INTERVAL_S and self._keyframe_awaited):
            self._keyframe_pending = True
            return
        if not self._keyframe_pending or not self._keyframe_awaited:
            self._keyframe_retries = 0
        self._keyframe_pending = False
        self._keyframe_awaited = True
        self._last_keyframe_request = now
        self.keyframe_requests_sent += 1
        if self.params.use_fir:
            self._fir_seq = (self._fir_seq + 1) & 0xFF
            self._send_rtcp(rtcp.build_rr(1) + rtcp.build_fir(1, self.params.ssrc, self._fir_seq))
        else:
            self._send_rtcp(rtcp.build_rr(1) + rtcp.build_pli(1, self.params.ssrc))

    def on_tick(self, now: float) -> None:
        """Called every ~100 ms by the worker: NACK retries and deferred keyframe requests."""
        if self._missing:
            self._send_nack()
        since = now - self._last_keyframe_request
        if self._keyframe_pending:
            if since >= KEYFRAME_MIN_INTERVAL_S or (since >= KEYFRAME_FLOOR_S and not self._keyframe_awaited):
                self.request_keyframe(now)
        elif (
            self._keyframe_awaited and since >= KEYFRAME_RETRY_S and self._keyframe_retries < KEYFRAME_RETRIES
        ):
            self._keyframe_retries += 1  # the key frame asked for did not come: ask again
            self._keyframe_pending = True
            self.request_keyframe(now)

    def report_block(self, now: float) -> rtcp.ReportBlock | None:
        """RFC 3550 A.3 report block for our RR to the publisher."""
        if not self._started or self._base_ext is None:
            return None
        expected = self._max_ext - self._base_ext + 1
        lost = max(expected - self.packets, 0)
        expected_interval = expected - self._expected_prior
        received_interval = self.packets - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.packets
        lost_interval = expected_interval - received_interval
        fraction = (
            0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        )
        self.fraction_lost = min(fraction, 255) / 256
        self.packets_lost = lost
        lsr = (self.last_sr_ntp >> 16) & 0xFFFFFFFF
        dlsr = int((now - self.last_sr_time) * 65536) if self.last_sr_time else 0
        return rtcp.ReportBlock(
            ssrc=self.params.ssrc,
            fraction_lost=min(fraction, 255),
            packets_lost=min(lost, 0x7FFFFF),
            highest_seq=self._max_ext & 0xFFFFFFFF,
            jitter=int(self._jitter),
            lsr=lsr,
            dlsr=dlsr & 0xFFFFFFFF,
        )

    # -- statistics --------------------------------------------------------------------------------
    def update_rates(self, now: float) -> None:
        """Bitrate and frame rate over the interval since the last call (the worker calls it once per
        report interval)."""
        dt = now - self._rate_time
        if self._rate_time and dt > 0:
            self.bitrate = int((self.octets - self._rate_octets) * 8 / dt)
            self.frame_rate = round((self.frames - self._rate_frames) / dt, 1)
        self._rate_time = now
        self._rate_octets = self.octets
        self._rate_frames = self.frames

    @property
    def jitter_ms(self) -> float:
        return round(self._jitter * 1000 / self.params.clock_rate, 2)

    def stats(self) -> dict[str, Any]:
        """Receive-side quality of this track (see docs/channel.md ``router.stats``)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "paused": self.paused,
            "bitrate": self.bitrate,
            "fractionLost": None if self.fraction_lost is None else round(self.fraction_lost, 4),
            "packetsLost": self.packets_lost,
            "jitterMs": self.jitter_ms,
        }
        if self.kind == "video":
            out["frameRate"] = self.frame_rate
            out["width"] = self.width
            out["height"] = self.height
        if self.layers:
            out["layers"] = [
                {
                    "rid": layer.params.rid,
                    "bitrate": layer.bitrate,
                    "frameRate": layer.frame_rate,
                    "width": layer.width,
                    "height": layer.height,
                }
                for layer in self.layers
            ]
        return out

    # -- lifecycle ---------------------------------------------------------------------------------
    def _other_layers(self) -> tuple[Producer, ...]:
        return tuple(layer for layer in self.layers if layer is not self)

    def pause(self) -> None:
        self.paused = True
        for layer in self._other_layers():
            layer.pause()

    def resume(self) -> None:
        for layer in self._other_layers():
            layer.resume()
        if self.paused:
            self.paused = False
            for c in self._consumers:
                c.resync()
            self.request_keyframe()

    def close(self, reason: CloseReason = CloseReason.CLOSED) -> None:
        if self.closed:
            return
        self.closed = True
        for layer in self._other_layers():
            layer.close(reason)
        consumers, self._consumers = self._consumers, ()
        for c in consumers:
            c.producer_closed()
        self._py_consumers = ()
        if self._armed:
            for _, entry in self._armed.values():
                self._fanout.remove(entry)
            self._armed.clear()
        if self.ring is not None:
            self.ring.clear()
        self._on_close(self, reason)

    def dump(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "mimeType": self.params.mime_type,
            "ssrc": self.params.ssrc,
            "rtxSsrc": self.params.rtx_ssrc,
            "rid": self.params.rid,
            "paused": self.paused,
            "packets": self.packets,
            "octets": self.octets,
            "rtxReceived": self.rtx_received,
            "keyframeRequests": self.keyframe_requests_sent,
            "consumerIds": [c.id for c in self._consumers],
            **self.stats(),
        }
