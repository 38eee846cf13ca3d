"""LayerRewriter: one continuous outgoing stream cut from a publisher's simulcast encodings.

A simulcast publisher sends up to three encodings of one camera (RFC 8853), each its own RTP stream:
its own SSRC, sequence numbers, timestamp base and, for VP8, PictureID / TL0PICIDX. A subscriber
must see one stream. Per consumer this object keeps

- a target spatial layer (what the subscriber asked for and its bandwidth allows; -1 = none, paused)
  and a current one (what it gets now). It switches only at the first packet of a key frame of the
  target (the consumer asks for one with PLI/FIR while ``wants_keyframe``), so the decoder never sees
  a frame that refers to a picture of another encoding;
- a target and current temporal layer for VP8 (TID in the payload descriptor): frames above the
  target are dropped, a higher layer is added only at a layer-sync frame (Y bit) or a key frame;
- the output numbering: sequence numbers, timestamps, PictureID and TL0PICIDX continue across
  switches (``rtp.seq.SeqRewriter``), and dropped temporal-layer packets leave no gap, so the
  subscriber does not NACK what was never meant for it. Timestamps of a new layer are lined up with
  the old one through both streams' sender reports when known (same capture clock, different RTP
  bases), else advanced by the wall time since the last packet; they never go backwards.

Packets are given with their layer index (0 = lowest resolution); mapping SSRC/rid to a layer is
the producer's job. Pure: no I/O, no clock of its own; hand-written because it runs per packet.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relayroom.media.codecs.vp8 import Vp8Descriptor, parse_descriptor, write_picture_id
from relayroom.media.rtp.header import header_length, is_h264_keyframe
from relayroom.media.rtp.seq import SeqRewriter, ts_at, ts_diff

_HDR = struct.Struct("!BBHII")
_NACK_RING = 1024  # outgoing seq -> (layer, incoming seq), for retransmissions
_FRAME_MEMORY = 128  # temporal-layer decisions remembered per PictureID (reordered packets)
ALL_TEMPORAL = 3  # VP8 TID is two bits: target 3 keeps every temporal layer

SenderReport = tuple[float, int]  # (sender's NTP time in seconds, RTP timestamp) of a layer's last SR


@dataclass(frozen=True)
class LayerRewriterParams:
    ssrc: int  # the consumer's outgoing SSRC
    payload_type: int  # the consumer's payload type
    clock_rate: int
    mime_type: str  # video/VP8 or video/H264


class LayerRewriter:
    def __init__(
        self,
        params: LayerRewriterParams,
        sender_report: Callable[[int], SenderReport | None] = lambda layer: None,
    ) -> None:
        mime = params.mime_type.lower()
        if mime not in ("video/vp8", "video/h264"):
            raise ValueError("layer switching needs vp8 or h264")
        self.params = params
        self._vp8 = mime == "video/vp8"
        self._desc = Vp8Descriptor() if self._vp8 else None  # reused for every packet
        self._ssrc = params.ssrc
        self._pt = params.payload_type
        self._clock_rate = params.clock_rate
        self._sender_report = sender_report
        self.target_spatial = -1
        self.target_temporal = ALL_TEMPORAL
        self.current_spatial = -1
        self.current_temporal = ALL_TEMPORAL
        self._seq = SeqRewriter(16, random.randint(0, 0x7FFF))
        self._pid_bits = 15
        self._pid = SeqRewriter(15, random.randint(0, 0x7FFF))
        self._tl0 = SeqRewriter(8, random.randint(0, 0xFF))
        self._pid_in = self._pid_out = -1  # the last frame's PictureID, in and out
        self._tl0_in = self._tl0_out = -1
        self._keep_pid = -1  # the last frame's temporal-layer decision (its other packets reuse it)
        self._keep_last = True
        self._ts_offset = 0
        self._last_ts = random.randint(0, 0x7FFFFFFF)  # newest outgoing timestamp
        self._last_time = 0.0  # when it was sent
        self._sent_any = False
        self._frames: dict[int, bool] = {}  # incoming PictureID -> forwarded (current layer only)
        self._newest_pid = -1
        self._nack_out = [-1] * _NACK_RING
        self._nack_layer = [0] * _NACK_RING
        self._nack_in = [0] * _NACK_RING
        self.packets = 0
        self.switches = 0  # between two layers
        self.syncs = 0  # every start of a new segment: the first, switches, resumes after a pause
        self.temporal_drops = 0
        self.switch_drops = 0  # packets of other layers, or of the target before its key frame
        self.malformed = 0

    # -- targets ---------------------------------------------------------------------------------
    def set_target(self, spatial: int, temporal: int = ALL_TEMPORAL) -> None:
        """Ask for a layer (-1: none, the consumer is paused). A lower temporal target applies from
        the next frame; a spatial change waits for a key frame of the new layer."""
        self.target_spatial = spatial
        self.target_temporal = temporal
        if spatial < 0:
            self.current_spatial = -1
        elif temporal < self.current_temporal:
            self.current_temporal = temporal

    @property
    def wants_keyframe(self) -> bool:
        """A key frame of the target layer is needed to switch (request one from that encoding)."""
        return self.target_spatial >= 0 and self.current_spatial != self.target_spatial

    # -- per packet ------------------------------------------------------------------------------
    def rewrite(self, layer: int, data: bytes, now: float) -> bytearray | None:
        """The packet as the subscriber must get it, or None when it is not for the subscriber.

        ``data`` is a decrypted RTP packet of encoding ``layer``; ``now`` is monotonic seconds.
        """
        b0, b1, seq, ts, _ssrc = _HDR.unpack_from(data, 0)
        desc = self._desc
        try:
            hlen = header_length(data)
            if desc is not None:
                desc.parse(data, hlen)
        except ValueError:
            self.malformed += 1
            return None
        if layer != self.current_spatial:
            if layer != self.target_spatial or not (
                desc.keyframe if desc is not None else is_h264_keyframe(data, hlen)
            ):
                self.switch_drops += 1
                return None
            self._switch(layer, seq, ts, desc, now)
        if desc is not None and desc.tid >= 0 and desc.picture_id >= 0:
            pid = desc.picture_id
            keep = self._keep_last if pid == self._keep_pid else self._keep_frame(desc)
            if not keep:
                self._seq.drop(seq)
                self._pid.drop(pid)
                self.temporal_drops += 1
                return None
        out_seq = self._seq.rewrite(seq)
        if out_seq is None:
            self.switch_drops += 1
            return None
        out_ts = (ts + self._ts_offset) & 0xFFFFFFFF
        buf = bytearray(data)
        _HDR.pack_into(buf, 0, b0, (b1 & 0x80) | self._pt, out_seq, out_ts, self._ssrc)
        if desc is not None:
            pid = desc.picture_id
            if pid >= 0:
                # The packets of one frame share their PictureID: map it once per frame.
                if pid == self._pid_in:
                    out_pid = self._pid_out
                else:
                    mapped = self._pid.rewrite(pid)
                    if mapped is None:  # a frame from before the switch point
                        self.switch_drops += 1
                        return None
                    out_pid = self._pid_in_out(pid, mapped)
                write_picture_id(buf, desc.picture_id_pos, desc.picture_id_bits, out_pid)
            tl0 = desc.tl0picidx
            if tl0 >= 0:
                if tl0 != self._tl0_in:
                    mapped = self._tl0.rewrite(tl0)
                    if mapped is not None:
                        self._tl0_in = tl0
                        self._tl0_out = mapped
                if tl0 == self._tl0_in:
                    buf[desc.tl0picidx_pos] = self._tl0_out
        if not self._sent_any or 0 < ((out_ts - self._last_ts) & 0xFFFFFFFF) < 0x80000000:
            self._last_ts = out_ts
            self._last_time = now
            self._sent_any = True
        i = out_seq & (_NACK_RING - 1)
        self._nack_out[i] = out_seq
        self._nack_layer[i] = layer
        self._nack_in[i] = seq
        self.packets += 1
        return buf

    def _pid_in_out(self, pid: int, out: int) -> int:
        self._pid_in = pid
        self._pid_out = out
        return out

    def _keep_frame(self, desc: Vp8Descriptor) -> bool:
        """Temporal-layer decision, once per frame (PictureID), remembered for its other packets."""
        pid = desc.picture_id
        frames = self._frames
        known = frames.get(pid)
        if known is not None:
            self._keep_pid = pid
            self._keep_last = known
            return known
        newest = self._newest_pid
        if newest >= 0:
            mask = (1 << desc.picture_id_bits) - 1
            d = (pid - newest) & mask
            if d == 0 or d > mask >> 1:
                return False  # an older frame whose decision was forgotten: not worth the risk
        self._newest_pid = pid
        tid = desc.tid
        keep = True
        if tid > self.target_temporal:
            keep = False
        elif tid > self.current_temporal:
            if desc.layer_sync:
                self.current_temporal = tid
            else:
                keep = False
        frames[pid] = keep
        self._keep_pid = pid
        self._keep_last = keep
        if len(frames) > _FRAME_MEMORY:
            del frames[next(iter(frames))]
        return keep

    def _switch(self, layer: int, seq: int, ts: int, desc: Vp8Descriptor | None, now: float) -> None:
        """First packet of a key frame of the target: continue the output from here."""
        clock = self._clock_rate
        # Where the output timestamps would be by wall time since the last packet sent.
        elapsed = max(1, round((now - self._last_time) * clock)) if self._sent_any else 1
        out_ts = (self._last_ts + elapsed) & 0xFFFFFFFF
        old = self.current_spatial
        if old >= 0 and self._sent_any:
            new_sr = self._sender_report(layer)
            old_sr = self._sender_report(old)
            if new_sr is not None and old_sr is not None:
                # This packet's capture time on the old layer's timestamp axis, then its output offset.
                ntp = new_sr[0] + ts_diff(ts, new_sr[1]) / clock
                aligned = (ts_at(ntp, old_sr[0], old_sr[1], clock) + self._ts_offset) & 0xFFFFFFFF
                ahead = ts_diff(aligned, self._last_ts)
                if -clock // 2 < ahead <= elapsed + clock // 2:  # plausible: trust the reports
                    # The same picture may already have gone out from the old layer: one tick
                    # later, so two frames never share a timestamp.
                    out_ts = aligned if ahead > 0 else (self._last_ts + 1) & 0xFFFFFFFF
        self._ts_offset = (out_ts - ts) & 0xFFFFFFFF
        self._seq.sync(seq)
        if desc is not None and desc.picture_id >= 0:
            if desc.picture_id_bits != self._pid_bits:  # 7-bit PictureIDs: continue modulo 128
                self._pid_bits = desc.picture_id_bits
                self._pid = SeqRewriter(self._pid_bits, self._pid.last_output + 1)
            self._pid.sync(desc.picture_id)
        if desc is not None and desc.tl0picidx >= 0:
            self._tl0.sync(desc.tl0picidx)
        self._frames.clear()
        self._newest_pid = -1
        self._pid_in = self._tl0_in = self._keep_pid = -1
        self.syncs += 1
        if self.current_spatial >= 0:
            self.switches += 1
        self.current_spatial = layer
        self.current_temporal = self.target_temporal  # a key frame: every temporal layer may follow

    # -- what a sender report needs ---------------------------------------------------------------
    @property
    def ts_offset(self) -> int:
        """Output timestamp minus the current layer's input timestamp."""
        return self._ts_offset

    @property
    def last_sent(self) -> tuple[int, float] | None:
        """(newest output timestamp, when it was sent), None before the first packet."""
        return (self._last_ts, self._last_time) if self._sent_any else None

    # -- retransmissions -------------------------------------------------------------------------
    def lookup(self, out_seq: int) -> tuple[int, int] | None:
        """(layer, incoming seq) of a packet we sent as ``out_seq``, if still remembered."""
        i = out_seq & (_NACK_RING - 1)
        if self._nack_out[i] != out_seq:
            return None
        return self._nack_layer[i], self._nack_in[i]

    def rewrite_retransmission(self, layer: int, data: bytes, out_seq: int) -> bytearray | None:
        """A stored packet of ``layer`` answering a NACK for ``out_seq``: the same rewrite as when it
        was first sent (it is still inside the current layer's mapping, else None)."""
        if layer != self.current_spatial:
            return None
        b0, b1, _seq, ts, _ssrc = _HDR.unpack_from(data, 0)
        buf = bytearray(data)
        _HDR.pack_into(
            buf, 0, b0, (b1 & 0x80) | self._pt, out_seq, (ts + self._ts_offset) & 0xFFFFFFFF, self._ssrc
        )
        if self._vp8:
            try:
                desc = parse_descriptor(data, header_length(data))
            except ValueError:
                return None
            if desc.picture_id_pos >= 0:
                out_pid = self._pid.rewrite(desc.picture_id)
                if out_pid is None:
                    return None
                write_picture_id(buf, desc.picture_id_pos, desc.picture_id_bits, out_pid)
            if desc.tl0picidx_pos >= 0:
                out_tl0 = self._tl0.rewrite(desc.tl0picidx)
                if out_tl0 is not None:
                    buf[desc.tl0picidx_pos] = out_tl0
        return buf

    def dump(self) -> dict[str, Any]:
        return {
            "targetSpatial": self.target_spatial,
            "targetTemporal": self.target_temporal,
            "currentSpatial": self.current_spatial,
            "currentTemporal": self.current_temporal,
            "packets": self.packets,
            "switches": self.switches,
            "syncs": self.syncs,
            "temporalDrops": self.temporal_drops,
            "switchDrops": self.switch_drops,
            "lateDrops": self._seq.late_drops,
        }
