"""Server-generated SDP: parse a publisher's offer, build its answer, build subscriber (re-)offers.

Parsing uses ``aiortc.sdp.SessionDescription``; building is hand-written so we control exactly what
browsers and aiortc see (ICE-lite, BUNDLE, rtcp-mux, one codec per m-line, fixed router-wide PTs).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiortc import sdp as aiortc_sdp

from relayroom.media.rtp import limits
from relayroom.media.rtp.header import (
    EXT_ABS_SEND_TIME,
    EXT_AUDIO_LEVEL,
    EXT_TRANSPORT_CC,
    EXT_URI_ABS_SEND_TIME,
    EXT_URI_AUDIO_LEVEL,
)
from relayroom.media.rtp.twcc import TWCC_URI
from relayroom.media.types import MediaKind, TrackSource, UnsupportedError

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]

EXT_URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
EXT_URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"  # RFC 8852
EXT_URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MAX_ENCODINGS = 3  # simulcast encodings of one track (RFC 8853), lowest resolution first
_RID = re.compile(r"[A-Za-z0-9_-]{1,16}")  # RFC 8851 rid-id; 16 bytes fit a one-byte header extension

# Header extensions we accept from publishers (answered with the offer's ids).
SUPPORTED_EXTENSIONS = (
    EXT_URI_MID,
    EXT_URI_RID,
    EXT_URI_REPAIRED_RID,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    TWCC_URI,  # we send transport-wide CC feedback to publishers (rtp/twcc.py)
)

# Codecs we can forward, with conventional payload types (used by tests and as documentation).
CONSUMER_PT: dict[str, tuple[int, int | None]] = {
    "audio/opus": (111, None),
    "video/vp8": (96, 97),
    "video/h264": (102, 103),
}


@dataclass(frozen=True)
class CodecInfo:
    mime_type: str  # e.g. "video/VP8"
    clock_rate: int
    channels: int | None
    payload_type: int
    rtx_payload_type: int | None
    fmtp: str = ""  # codec fmtp line value (without "a=fmtp:PT ")
    rtcp_feedback: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "mimeType": self.mime_type,
            "clockRate": self.clock_rate,
            "channels": self.channels,
            "payloadType": self.payload_type,
            "rtxPayloadType": self.rtx_payload_type,
            "fmtp": self.fmtp,
            "rtcpFeedback": list(self.rtcp_feedback),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodecInfo:
        return cls(
            mime_type=d["mimeType"],
            clock_rate=int(d["clockRate"]),
            channels=d.get("channels"),
            payload_type=int(d["payloadType"]),
            rtx_payload_type=d.get("rtxPayloadType"),
            fmtp=d.get("fmtp", ""),
            rtcp_feedback=tuple(d.get("rtcpFeedback", ())),
        )


@dataclass(frozen=True)
class Encoding:
    """One simulcast encoding of an offered m-line: its rid (RFC 8851) and/or its SSRCs (a=ssrc-group:SIM).
    SSRCs of rid-only encodings are learned by the worker from the rid header extension."""

    rid: str | None
    ssrc: int | None = None
    rtx_ssrc: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rid": self.rid, "ssrc": self.ssrc, "rtxSsrc": self.rtx_ssrc}


@dataclass(frozen=True)
class OfferedMedia:
    """One m-line of a publisher's offer."""

    index: int
    mid: str
    kind: str  # audio | video | application | ...
    direction: Direction
    port: int
    fmt: list[Any]
    codec: CodecInfo | None  # chosen codec; None when none is supported
    ssrc: int | None
    rtx_ssrc: int | None
    msid_stream: str | None
    msid_track: str | None
    extensions: list[tuple[int, str]]  # (id, uri) we accept
    # simulcast (two or more encodings, lowest resolution first); empty for one encoding
    encodings: tuple[Encoding, ...] = ()
    rids_in_sdp: bool = False  # the encodings came from a=rid/a=simulcast (the answer echoes them)

    @property
    def sending(self) -> bool:
        return self.port != 0 and self.direction in ("sendrecv", "sendonly")

    @property
    def source(self) -> TrackSource:
        """'sub' when the track/stream label names a secondary stream (screen share), else 'main'."""
        labels = f"{self.msid_stream or ''} {self.msid_track or ''}".lower()
        return (
            "sub" if ("sub" in labels.split() or "screen" in labels or labels.startswith("sub")) else "main"
        )


@dataclass(frozen=True)
class ParsedOffer:
    ice_ufrag: str
    ice_pwd: str
    fingerprints: list[tuple[str, str]]
    setup_role: str | None  # aiortc naming: auto (actpass) | client (active) | server (passive)
    media: list[OfferedMedia]


@dataclass(frozen=True)
class LocalTransport:
    """Our side of a transport, as the worker reported it."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: str  # sha-256
    ip: str
    port: int
    tcp_port: int | None = None  # ICE-TCP passive candidate (RFC 6544), same ip
    tcp_priority: int = 0

    @classmethod
    def from_worker(cls, params: dict[str, Any]) -> LocalTransport:
        ice = params["iceParameters"]
        cand = params["iceCandidates"][0]
        tcp = next((c for c in params["iceCandidates"] if c.get("protocol") == "tcp"), None)
        fp = next(f for f in params["dtlsParameters"]["fingerprints"] if f["algorithm"] == "sha-256")
        return cls(
            ice["usernameFragment"],
            ice["password"],
            fp["value"],
            cand["ip"],
            int(cand["port"]),
            int(tcp["port"]) if tcp else None,
            int(tcp["priority"]) if tcp else 0,
        )


def _rtx_for(media: aiortc_sdp.MediaDescription) -> dict[int, int]:
    """codec payload type -> its RTX payload type (a=fmtp:<rtx> apt=<codec>)."""
    rtx_for: dict[int, int] = {}
    for c in media.rtp.codecs:
        if c.mimeType.lower().endswith("/rtx") and c.payloadType is not None:
            apt = c.parameters.get("apt")
            if isinstance(apt, int):
                rtx_for[apt] = c.payloadType
    return rtx_for


def _codec_info(c: Any, rtx_for: dict[int, int]) -> CodecInfo:
    fmtp = ";".join(f"{k}={v}" if v is not None else str(k) for k, v in c.parameters.items())
    fb = tuple(f"{f.type} {f.parameter}" if f.parameter else f.type for f in c.rtcpFeedback)
    return CodecInfo(c.mimeType, c.clockRate, c.channels, c.payloadType, rtx_for.get(c.payloadType), fmtp, fb)


def _choose_codec(media: aiortc_sdp.MediaDescription) -> CodecInfo | None:
    codecs = media.rtp.codecs
    rtx_for = _rtx_for(media)

    def make(c: Any) -> CodecInfo:
        return _codec_info(c, rtx_for)

    if media.kind == "audio":
        for c in codecs:
            if c.mimeType.lower() == "audio/opus":
                return make(c)
        return None
    # video: VP8 first, then H.264 packetization-mode=1 (constrained baseline preferred)
    for c in codecs:
        if c.mimeType.lower() == "video/vp8":
            return make(c)
    h264 = [
        c
        for c in codecs
        if c.mimeType.lower() == "video/h264" and str(c.parameters.get("packetization-mode", "0")) == "1"
    ]
    h264.sort(
        key=lambda c: 0 if str(c.parameters.get("profile-level-id", "")).lower().startswith("42e0") else 1
    )
    return make(h264[0]) if h264 else None


MAX_SDP_BYTES = 128 * 1024
MAX_MEDIA_SECTIONS = 64

# Every value of an offer that reaches a packet builder (RTP/RTCP/RTX headers, extension remapping,
# timestamp arithmetic) or another member's SDP is checked here, where it enters (ranges: rtp/limits.py).
# The RTP clock of each codec we forward is fixed by its payload format (RFC 7587, 7741, 6184).
CLOCK_RATES = {"audio/opus": 48000, "video/vp8": 90000, "video/h264": 90000}
MAX_FMTP_CHARS = 256
_MID = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]{1,32}")  # RFC 5888 identification-tag (a token)
_FMTP = re.compile(r"[A-Za-z0-9\-_.=;:/+,]*")  # forwarded to every subscriber: no spaces, quotes, controls
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")  # RFC 8839 ice-char
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){15,63}")
FINGERPRINT_ALGORITHMS = ("sha-1", "sha-224", "sha-256", "sha-384", "sha-512")


def normalize_lines(sdp: str) -> list[str]:
    """The SDP's lines exactly as the parser will see them (str.splitlines: CR, LF, CRLF and the other
    Unicode line breaks), so that every limit counts what is parsed."""
    if len(sdp) > MAX_SDP_BYTES or len(sdp.encode("utf-8", "surrogatepass")) > MAX_SDP_BYTES:
        raise ValueError("sdp too large")
    lines = sdp.splitlines()
    if sum(1 for line in lines if line.startswith("m=")) > MAX_MEDIA_SECTIONS:
        raise ValueError(f"sdp has more than {MAX_MEDIA_SECTIONS} media sections")
    return lines


def _bundle_only(lines: list[str]) -> list[str]:
    """RFC 8843 §7.2: an m-line with ``a=bundle-only`` has port 0 but is part of the BUNDLE group
    (GStreamer's webrtcbin offers this way with max-bundle). Give it the bundle's port 9 so that it
    is read as the live m-line it is."""
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")] + [len(lines)]
    out = list(lines)
    for begin, end in itertools.pairwise(starts):
        parts = out[begin].split(" ", 2)
        if len(parts) == 3 and parts[1] == "0" and "a=bundle-only" in (x.strip() for x in lines[begin:end]):
            out[begin] = f"{parts[0]} 9 {parts[2]}"
    return out


def _parse(sdp: str) -> aiortc_sdp.SessionDescription:
    text = "\r\n".join(_bundle_only(normalize_lines(sdp))) + "\r\n"
    try:
        return aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc raises assorted errors on malformed SDP
        raise ValueError(f"invalid sdp: {exc.__class__.__name__}") from None


def _check_ice(ufrag: str, pwd: str | None) -> None:
    if not 4 <= len(ufrag) <= 256 or not _ICE_CHARS.fullmatch(ufrag):
        raise ValueError("ice-ufrag must be 4..256 ice-chars")
    if pwd is not None and (not 22 <= len(pwd) <= 256 or not _ICE_CHARS.fullmatch(pwd)):
        raise ValueError("ice-pwd must be 22..256 ice-chars")


def _check_fingerprints(fingerprints: list[tuple[str, str]]) -> None:
    for algorithm, value in fingerprints:
        if algorithm.lower() not in FINGERPRINT_ALGORITHMS or not _FINGERPRINT.fullmatch(value):
            raise ValueError("invalid dtls fingerprint")


def _check_mid(mid: str) -> None:
    if not _MID.fullmatch(mid):
        raise ValueError("a=mid must be a token of 1..32 characters")


def _check_rtp_media(m: aiortc_sdp.MediaDescription, codec: CodecInfo | None) -> None:
    """Range checks of one audio/video m-line: every payload type, SSRC and extension id it declares
    (used or not), and the chosen codec's clock rate, RTX association and fmtp."""
    for f in m.fmt:
        limits.payload_type(f)
    for c in m.rtp.codecs:
        limits.payload_type(c.payloadType)
        if c.mimeType.lower().endswith("/rtx") and "apt" in c.parameters:
            limits.payload_type(c.parameters["apt"], "rtx apt")
    for e in m.rtp.headerExtensions:
        limits.in_range(e.id, 1, limits.EXTENSION_ID_MAX, "header extension id")
    for info in m.ssrc:
        limits.ssrc(info.ssrc)
    for group in m.ssrc_group:
        for item in group.items:
            limits.ssrc(item, f"ssrc-group {group.semantic} ssrc")
    if codec is None:
        return
    expected = CLOCK_RATES.get(codec.mime_type.lower())
    if expected is not None and codec.clock_rate != expected:
        raise ValueError(f"{codec.mime_type} clock rate must be {expected}, not {codec.clock_rate}")
    if codec.rtx_payload_type == codec.payload_type:
        raise ValueError("rtx payload type equals the codec's")
    if len(codec.fmtp) > MAX_FMTP_CHARS or not _FMTP.fullmatch(codec.fmtp):
        raise ValueError(
            f"a=fmtp of {codec.mime_type} too long or with characters outside [A-Za-z0-9-_.=;:/+,]"
        )


def parse_offer(sdp: str) -> ParsedOffer:
    """Parse a client's offer. Raises ValueError (with a reason for the client) when it is too large,
    malformed, lacks ICE/DTLS parameters, or carries a value out of range (see the checks above)."""
    desc = _parse(sdp)
    sections = _media_attributes(sdp)
    media_out: list[OfferedMedia] = []
    ice = None
    dtls = None
    used_ssrcs: set[int] = set()
    for index, m in enumerate(desc.media):
        try:
            attrs = sections[index] if index < len(sections) else []
            media_out.append(_offered_media(index, m, used_ssrcs, attrs))
        except ValueError as exc:
            raise ValueError(f"m-line {index}: {exc}") from None
        ice = ice or m.ice
        dtls = dtls or m.dtls
    if ice is None or not ice.usernameFragment or not ice.password:
        raise ValueError("offer has no ice credentials")
    if dtls is None or not dtls.fingerprints:
        raise ValueError("offer has no dtls fingerprint")
    fingerprints = [(f.algorithm, f.value) for f in dtls.fingerprints]
    _check_ice(ice.usernameFragment, ice.password)
    _check_fingerprints(fingerprints)
    return ParsedOffer(
        ice_ufrag=ice.usernameFragment,
        ice_pwd=ice.password,
        fingerprints=fingerprints,
        setup_role=dtls.role,
        media=media_out,
    )


def _media_attributes(sdp: str) -> list[list[str]]:
    """The a= lines of each media section, raw (aiortc's parser drops a=rid and a=simulcast)."""
    sections: list[list[str]] = []
    for line in normalize_lines(sdp):
        if line.startswith("m="):
            sections.append([])
        elif sections and line.startswith("a="):
            sections[-1].append(line[2:])
    return sections


def _simulcast_rids(attrs: list[str]) -> list[str]:
    """Send rids of an m-line (RFC 8853 a=simulcast order, else a=rid order), lowest resolution first.
    The first alternative of each stream is taken; a paused stream (~rid) still counts."""
    send_rids: list[str] = []
    for a in attrs:
        if a.startswith("rid:"):
            parts = a[4:].split()
            if len(parts) < 2 or not _RID.fullmatch(parts[0]):
                raise ValueError("a=rid must be '<rid 1..16 of [A-Za-z0-9_-]> send|recv [params]'")
            if parts[1] == "send":
                if parts[0] in send_rids:
                    raise ValueError(f"rid {parts[0]} declared twice")
                send_rids.append(parts[0])
    order: list[str] | None = None
    for a in attrs:
        if a.startswith("simulcast:"):
            words = a[len("simulcast:") :].split()
            for direction, streams in zip(words[::2], words[1::2], strict=False):
                if direction != "send":
                    continue
                order = []
                for stream in streams.split(";"):
                    rid = stream.split(",")[0].lstrip("~")
                    if rid not in send_rids:
                        raise ValueError(f"a=simulcast names rid {rid!r} without an a=rid send line")
                    order.append(rid)
    rids = order if order is not None else send_rids
    if len(rids) > MAX_ENCODINGS:
        raise ValueError(f"at most {MAX_ENCODINGS} simulcast encodings")
    return rids


def _sim_encodings(m: aiortc_sdp.MediaDescription) -> list[Encoding]:
    """Encodings declared by SSRC (a=ssrc-group:SIM, lowest first; RTX from the FID groups)."""
    sim = next((g for g in m.ssrc_group if g.semantic == "SIM"), None)
    if sim is None:
        return []
    if len(sim.items) > MAX_ENCODINGS:
        raise ValueError(f"at most {MAX_ENCODINGS} simulcast encodings")
    fid = {
        int(g.items[0]): int(g.items[1]) for g in m.ssrc_group if g.semantic == "FID" and len(g.items) >= 2
    }
    return [Encoding(None, int(s), fid.get(int(s))) for s in sim.items]


def _offered_media(
    index: int, m: aiortc_sdp.MediaDescription, used_ssrcs: set[int], attrs: list[str] | None = None
) -> OfferedMedia:
    mid = str(m.rtp.muxId if m.rtp.muxId is not None else index)
    _check_mid(mid)
    rtp = m.kind in ("audio", "video")
    codec = _choose_codec(m) if rtp else None
    if rtp:
        _check_rtp_media(m, codec)
    ssrc: int | None = None
    rtx_ssrc: int | None = None
    for group in m.ssrc_group:
        if group.semantic == "FID" and len(group.items) >= 2:
            ssrc, rtx_ssrc = int(group.items[0]), int(group.items[1])
            break
    if ssrc is None and m.ssrc:
        ssrc = m.ssrc[0].ssrc
    msid = m.msid or next((s.msid for s in m.ssrc if s.msid), None)
    stream, track = [*msid.split(" ", 1), None][:2] if msid else (None, None)
    if codec is not None and codec.rtx_payload_type is None:
        rtx_ssrc = None
    direction = m.direction or "sendrecv"
    sending = m.port != 0 and direction in ("sendrecv", "sendonly")
    exts = [
        (e.id, e.uri)
        for e in m.rtp.headerExtensions
        if e.uri in SUPPORTED_EXTENSIONS and e.id <= limits.ONE_BYTE_EXTENSION_MAX
    ]
    encodings: list[Encoding] = []
    rids = _simulcast_rids(attrs or []) if m.kind == "video" else []
    if rids:
        if not any(uri == EXT_URI_RID for _, uri in exts):
            raise ValueError(f"a=rid needs the {EXT_URI_RID} header extension (ids 1..14)")
        encodings = [Encoding(r) for r in rids]
        ssrc = rtx_ssrc = None  # learned per encoding from the rid header extension
    elif m.kind == "video":
        encodings = _sim_encodings(m)
        if encodings:
            ssrc, rtx_ssrc = encodings[-1].ssrc, encodings[-1].rtx_ssrc
    if codec is not None and codec.rtx_payload_type is None:
        rtx_ssrc = None
        encodings = [Encoding(e.rid, e.ssrc, None) for e in encodings]
    if len(encodings) == 1 and encodings[0].rid is None:
        encodings = []  # one SSRC in a SIM group: an ordinary track
    if rtp and sending and codec is not None:
        if ssrc is None and not encodings:
            raise ValueError(f"{m.kind} is sent without a=ssrc or a=rid; declare its SSRC or its rids")
        declared = [(e.ssrc, e.rtx_ssrc) for e in encodings] if encodings else [(ssrc, rtx_ssrc)]
        for s in (x for pair in declared for x in pair):
            if s is not None and s in used_ssrcs:
                raise ValueError(f"ssrc {s} is used twice")
            if s is not None:
                used_ssrcs.add(s)
    return OfferedMedia(
        index=index,
        mid=mid,
        kind=m.kind,
        direction=direction,  # type: ignore[arg-type]
        port=m.port,
        fmt=list(m.fmt),
        codec=codec,
        ssrc=ssrc,
        rtx_ssrc=rtx_ssrc,
        msid_stream=stream,
        msid_track=track,
        extensions=exts,
        encodings=tuple(encodings),
        rids_in_sdp=bool(rids),
    )


def _session_header(session_id: int, version: int, bundle: Sequence[str]) -> list[str]:
    lines = [
        "v=0",
        f"o=- {session_id} {version} IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=ice-lite",
    ]
    if bundle:
        lines.append("a=group:BUNDLE " + " ".join(bundle))
    lines.append("a=msid-semantic: WMS *")
    return lines


def _transport_lines(local: LocalTransport, setup: str) -> list[str]:
    return [
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{local.ice_ufrag}",
        f"a=ice-pwd:{local.ice_pwd}",
        f"a=fingerprint:sha-256 {local.fingerprint}",
        f"a=setup:{setup}",
    ]


def _candidate_lines(local: LocalTransport) -> list[str]:
    lines = [f"a=candidate:udpcandidate 1 udp 1076302079 {local.ip} {local.port} typ host"]
    if local.tcp_port:
        # RFC 6544: the client opens the connection (its candidates are active), we accept (passive)
        lines.append(
            f"a=candidate:tcpcandidate 1 tcp {local.tcp_priority} {local.ip} {local.tcp_port}"
            " typ host tcptype passive"
        )
    lines.append("a=end-of-candidates")
    return lines


def _codec_lines(codec: CodecInfo, pt: int, rtx_pt: int | None, feedback: Sequence[str]) -> list[str]:
    name = codec.mime_type.split("/", 1)[1]
    rate = (
        f"{codec.clock_rate}/{codec.channels}"
        if codec.channels and codec.channels > 1
        else str(codec.clock_rate)
    )
    lines = [f"a=rtpmap:{pt} {name}/{rate}"]
    lines += [f"a=rtcp-fb:{pt} {fb}" for fb in feedback]
    if codec.fmtp:
        lines.append(f"a=fmtp:{pt} {codec.fmtp}")
    if rtx_pt is not None:
        lines.append(f"a=rtpmap:{rtx_pt} rtx/{codec.clock_rate}")
        lines.append(f"a=fmtp:{rtx_pt} apt={pt}")
    return lines


_ANSWER_FEEDBACK = ("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc")


def build_answer(
    offer: ParsedOffer, local: LocalTransport, accepted_mids: set[str], session_id: int, version: int = 1
) -> str:
    """The server's answer for a publisher: recvonly per accepted m-line, others inactive/rejected."""
    bundle = [m.mid for m in offer.media if m.port != 0 and (m.codec is not None)]
    lines = _session_header(session_id, version, bundle)
    for m in offer.media:
        if m.codec is None or m.port == 0:
            # rejected (unsupported codec or application m-line): port 0, echo the formats
            fmt = " ".join(str(f) for f in m.fmt) or "0"
            proto = "UDP/DTLS/SCTP" if m.kind == "application" else "UDP/TLS/RTP/SAVPF"
            lines.append(f"m={m.kind} 0 {proto} {fmt}")
            lines.append("c=IN IP4 0.0.0.0")
            lines.append(f"a=mid:{m.mid}")
            lines.append("a=inactive")
            # GStreamer's webrtcbin refuses an answer whose rejected m-line has no fingerprint
            lines.append(f"a=fingerprint:sha-256 {local.fingerprint}")
            continue
        codec = m.codec
        pts = [codec.payload_type] + ([codec.rtx_payload_type] if codec.rtx_payload_type is not None else [])
        lines.append(f"m={m.kind} 9 UDP/TLS/RTP/SAVPF {' '.join(map(str, pts))}")
        # We are the DTLS server (passive) unless the client insists on being it (offer setup:passive).
        lines += _transport_lines(local, "active" if offer.setup_role == "server" else "passive")
        lines.append(f"a=mid:{m.mid}")
        twcc = any(uri == TWCC_URI for _, uri in m.extensions) and "transport-cc" in codec.rtcp_feedback
        lines += [f"a=extmap:{i} {uri}" for i, uri in m.extensions if uri != TWCC_URI or twcc]
        lines.append("a=recvonly" if m.mid in accepted_mids else "a=inactive")
        if m.rids_in_sdp and m.mid in accepted_mids:  # RFC 8853 §5.3: the answer mirrors the rids
            lines += [f"a=rid:{e.rid} recv" for e in m.encodings]
            lines.append("a=simulcast:recv " + ";".join(str(e.rid) for e in m.encodings))
        lines.append("a=rtcp-mux")
        wanted = _ANSWER_FEEDBACK if m.kind == "video" else ("transport-cc",)
        # With transport-cc the publisher estimates from our feedback; no REMB cap on top of it.
        fb = [f for f in wanted if f in codec.rtcp_feedback and not (twcc and f == "goog-remb")]
        if not twcc:
            fb = [f for f in fb if f != "transport-cc"]
        lines += _codec_lines(codec, codec.payload_type, codec.rtx_payload_type, fb)
        lines += _candidate_lines(local)
    return "\r\n".join(lines) + "\r\n"


@dataclass
class SubscriberMLine:
    """One m-line of a subscriber's recv transport: a consumer while active, kept forever once created."""

    mid: str
    kind: MediaKind
    codec: CodecInfo  # the producer's codec (mime, clock, fmtp)
    payload_type: int
    rtx_payload_type: int | None
    ssrc: int
    rtx_ssrc: int | None
    stream_id: str  # msid stream: the publisher's user id
    track_id: str  # msid track: the first producer id (kept when a replacement producer continues it)
    source: TrackSource = "main"
    active: bool = True
    consumer_id: str | None = None
    producer_id: str | None = None
    rtx_accepted: bool = True  # False once the subscriber's answer dropped our RTX payload type
    answered: bool = False  # the subscriber answered an offer with this consumer (its key frame was asked)


# Dynamic payload types (RFC 3551 §3 allows 35-63 too; browsers use them).
_PT_POOL = (*range(96, 128), *range(35, 64))


def allocate_payload_types(
    mlines: Sequence[SubscriberMLine], codec: CodecInfo, rtx: bool
) -> tuple[int, int | None]:
    """Payload types for a new subscriber m-line: unique per m-line while the pool lasts.

    Unique PTs make every m-line routable by PT alone. aiortc needs this: it registers its receivers
    one by one after DTLS connects and meanwhile learns unknown SSRCs from the PT, which would bind a
    second VP8 stream to the first VP8 receiver for good if both used the same PT. When the pool is
    exhausted we reuse the PTs of an m-line with the same codec (legal in one BUNDLE).
    """
    consumer_payload_types(codec)  # raises UnsupportedError for codecs we cannot forward
    used = {m.payload_type for m in mlines} | {m.rtx_payload_type for m in mlines if m.rtx_payload_type}
    free = [pt for pt in _PT_POOL if pt not in used]
    if len(free) >= (2 if rtx else 1):
        return free[0], (free[1] if rtx else None)
    for m in mlines:
        if m.codec.mime_type.lower() == codec.mime_type.lower() and m.codec.fmtp == codec.fmtp:
            if not rtx or m.rtx_payload_type is not None:
                return m.payload_type, (m.rtx_payload_type if rtx else None)
    raise UnsupportedError("no payload type left for another m-line")


def consumer_payload_types(codec: CodecInfo) -> tuple[int, int | None]:
    pts = CONSUMER_PT.get(codec.mime_type.lower())
    if pts is None:
        raise UnsupportedError(f"unsupported codec {codec.mime_type}")
    return pts


def new_ssrc(taken: set[int]) -> int:
    while True:
        s = random.randint(1, 0xFFFFFFFE)
        if s not in taken:
            taken.add(s)
            return s


# goog-remb stays for subscribers without transport-cc (aiortc): they send REMB instead of feedback.
_OFFER_FEEDBACK_VIDEO = ("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc")
_OFFER_FEEDBACK_AUDIO = ("transport-cc",)


def build_subscriber_offer(
    mlines: Sequence[SubscriberMLine], local: LocalTransport, session_id: int, version: int
) -> str:
    """Server offer for a recv transport: one sendonly m-line per consumer, inactive ones kept.

    Header extensions use fixed ids in every m-line (producers rewrite publisher ids to these once per
    packet): ssrc-audio-level (audio) and abs-send-time. abs-send-time keeps the publisher's send time.
    transport-cc (EXT_TRANSPORT_CC): the transport stamps its own sequence number on every packet when
    the answer keeps it, and estimates the subscriber's downlink from the feedback (media/bwe).
    """
    lines = _session_header(session_id, version, [m.mid for m in mlines])
    for m in mlines:
        pt, rtx_pt = m.payload_type, m.rtx_payload_type
        pts = [pt] + ([rtx_pt] if rtx_pt is not None else [])
        lines.append(f"m={m.kind} 9 UDP/TLS/RTP/SAVPF {' '.join(map(str, pts))}")
        lines += _transport_lines(local, "actpass")
        lines.append(f"a=mid:{m.mid}")
        if m.kind == "audio":
            lines.append(f"a=extmap:{EXT_AUDIO_LEVEL} {EXT_URI_AUDIO_LEVEL}")
        lines.append(f"a=extmap:{EXT_ABS_SEND_TIME} {EXT_URI_ABS_SEND_TIME}")
        lines.append(f"a=extmap:{EXT_TRANSPORT_CC} {TWCC_URI}")
        lines.append("a=sendonly" if m.active else "a=inactive")
        lines.append("a=rtcp-mux")
        lines.append("a=rtcp-rsize")
        fb = _OFFER_FEEDBACK_VIDEO if m.kind == "video" else _OFFER_FEEDBACK_AUDIO
        lines += _codec_lines(m.codec, pt, rtx_pt, fb)
        if m.active:
            lines.append(f"a=msid:{m.stream_id} {m.track_id}")
            if m.rtx_ssrc is not None:
                lines.append(f"a=ssrc-group:FID {m.ssrc} {m.rtx_ssrc}")
            for s in (m.ssrc, m.rtx_ssrc):
                if s is not None:
                    # CNAME = the publisher: the subscriber lip-syncs one publisher's audio and video
                    lines.append(f"a=ssrc:{s} cname:{m.stream_id}")
                    lines.append(f"a=ssrc:{s} msid:{m.stream_id} {m.track_id}")
        lines += _candidate_lines(local)
    return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True)
class ParsedAnswer:
    fingerprints: list[tuple[str, str]]
    setup_role: str | None
    mids: list[str]
    rejected_mids: list[str] = field(default_factory=list)
    ice_ufrag: str | None = None
    payload_types: dict[str, set[int]] = field(default_factory=dict)  # mid -> PTs the answer kept
    transport_cc_ext: int = 0  # the answer kept transport-cc with this extension id (0: it did not)


def _answer_transport_cc(desc: aiortc_sdp.SessionDescription) -> int:
    """The id the answer gives transport-cc, when it keeps it (with our id: an answer may not renumber an
    offered extension, RFC 8285 §6) in an m-line that is not rejected."""
    for m in desc.media:
        if m.port == 0:
            continue
        for ext in m.rtp.headerExtensions:
            if ext.uri == TWCC_URI and ext.id == EXT_TRANSPORT_CC:
                return EXT_TRANSPORT_CC
    return 0


def parse_answer(sdp: str) -> ParsedAnswer:
    """Parse a subscriber's answer; ValueError (with a reason) when it is malformed or out of range."""
    desc = _parse(sdp)
    dtls = next((m.dtls for m in desc.media if m.dtls is not None and m.dtls.fingerprints), None)
    if dtls is None:
        raise ValueError("answer has no dtls fingerprint")
    fingerprints = [(f.algorithm, f.value) for f in dtls.fingerprints]
    _check_fingerprints(fingerprints)
    mids = [str(m.rtp.muxId) for m in desc.media]
    rejected = [str(m.rtp.muxId) for m in desc.media if m.port == 0]
    ice = next((m.ice for m in desc.media if m.ice is not None and m.ice.usernameFragment), None)
    if ice is not None and ice.usernameFragment is not None:
        _check_ice(ice.usernameFragment, None)
    return ParsedAnswer(
        fingerprints,
        dtls.role,
        mids,
        rejected,
        ice.usernameFragment if ice is not None else None,
        {str(m.rtp.muxId): {int(f) for f in m.fmt if str(f).isdigit()} for m in desc.media},
        _answer_transport_cc(desc),
    )


# -- a viewer's offer (WHEP): the client offers recvonly m-lines, we answer with our streams ----------


@dataclass(frozen=True)
class ViewerMedia:
    """One m-line of a viewer's offer: the codecs it can receive that we can forward."""

    index: int
    mid: str
    kind: str
    direction: Direction
    port: int
    fmt: list[Any]
    codecs: list[CodecInfo]  # offered Opus / VP8 / H.264 packetization-mode=1, in offer order

    @property
    def receiving(self) -> bool:
        return self.port != 0 and self.direction in ("sendrecv", "recvonly")


@dataclass(frozen=True)
class ViewerOffer:
    ice_ufrag: str
    ice_pwd: str
    fingerprints: list[tuple[str, str]]
    setup_role: str | None
    media: list[ViewerMedia]


def _forwardable(c: CodecInfo) -> bool:
    mime = c.mime_type.lower()
    if mime == "video/h264":
        return "packetization-mode=1" in c.fmtp.replace(" ", "").split(";")
    return mime in CONSUMER_PT


def parse_viewer_offer(sdp: str) -> ViewerOffer:
    """Parse a receive-only client's offer (WHEP). ValueError (with a reason) as for ``parse_offer``."""
    desc = _parse(sdp)
    media_out: list[ViewerMedia] = []
    ice = None
    dtls = None
    for index, m in enumerate(desc.media):
        try:
            mid = str(m.rtp.muxId if m.rtp.muxId is not None else index)
            _check_mid(mid)
            codecs: list[CodecInfo] = []
            if m.kind in ("audio", "video"):
                _check_rtp_media(m, None)
                rtx_for = _rtx_for(m)
                for c in m.rtp.codecs:
                    info = _codec_info(c, rtx_for)
                    if _forwardable(info) and info.clock_rate == CLOCK_RATES.get(info.mime_type.lower()):
                        if len(info.fmtp) <= MAX_FMTP_CHARS and _FMTP.fullmatch(info.fmtp):
                            codecs.append(info)
        except ValueError as exc:
            raise ValueError(f"m-line {index}: {exc}") from None
        media_out.append(
            ViewerMedia(index, mid, m.kind, m.direction or "sendrecv", m.port, list(m.fmt), codecs)  # type: ignore[arg-type]
        )
        ice = ice or m.ice
        dtls = dtls or m.dtls
    if ice is None or not ice.usernameFragment or not ice.password:
        raise ValueError("offer has no ice credentials")
    if dtls is None or not dtls.fingerprints:
        raise ValueError("offer has no dtls fingerprint")
    fingerprints = [(f.algorithm, f.value) for f in dtls.fingerprints]
    _check_ice(ice.usernameFragment, ice.password)
    _check_fingerprints(fingerprints)
    return ViewerOffer(ice.usernameFragment, ice.password, fingerprints, dtls.role, media_out)


def _fmtp_params(fmtp: str) -> dict[str, str]:
    out = {}
    for item in fmtp.split(";"):
        key, _, value = item.partition("=")
        if key.strip():
            out[key.strip().lower()] = value.strip().lower()
    return out


def match_codec(offered: Sequence[CodecInfo], producer: CodecInfo) -> CodecInfo | None:
    """The viewer's entry for the codec a producer sends (its payload types are the viewer's).

    H.264: the same profile-level-id first, then the same profile (first byte), then any
    packetization-mode=1 entry (decoders take any level; the profile is what matters)."""
    mime = producer.mime_type.lower()
    same = [c for c in offered if c.mime_type.lower() == mime]
    if mime != "video/h264" or not same:
        return same[0] if same else None
    want = _fmtp_params(producer.fmtp).get("profile-level-id", "42e01f")
    levels = [(_fmtp_params(c.fmtp).get("profile-level-id", "42001f"), c) for c in same]
    exact = [c for level, c in levels if level == want]
    same_profile = [c for level, c in levels if level[:2] == want[:2]]
    return (exact or same_profile or same)[0]


_VIEWER_FEEDBACK_VIDEO = ("nack", "nack pli", "ccm fir")


def build_viewer_answer(
    offer: ViewerOffer, local: LocalTransport, lines: dict[str, SubscriberMLine], session_id: int
) -> str:
    """Our answer to a viewer: ``sendonly`` with the viewer's payload types on the m-lines we fill
    (``lines``: mid -> consumer m-line), every other m-line rejected. No header extensions are
    negotiated: forwarded packets keep ids the viewer then ignores."""
    bundle = [m.mid for m in offer.media if m.mid in lines]
    out = _session_header(session_id, 1, bundle)
    setup = "active" if offer.setup_role == "server" else "passive"
    for m in offer.media:
        ml = lines.get(m.mid)
        if ml is None:
            fmt = " ".join(str(f) for f in m.fmt) or "0"
            proto = "UDP/DTLS/SCTP" if m.kind == "application" else "UDP/TLS/RTP/SAVPF"
            out += [f"m={m.kind} 0 {proto} {fmt}", "c=IN IP4 0.0.0.0", f"a=mid:{m.mid}", "a=inactive"]
            out.append(f"a=fingerprint:sha-256 {local.fingerprint}")  # webrtcbin wants one (see above)
            continue
        pts = [ml.payload_type] + ([ml.rtx_payload_type] if ml.rtx_payload_type is not None else [])
        out.append(f"m={m.kind} 9 UDP/TLS/RTP/SAVPF {' '.join(map(str, pts))}")
        out += _transport_lines(local, setup)
        out.append(f"a=mid:{m.mid}")
        out.append("a=sendonly")
        out.append("a=rtcp-mux")
        offered = next((c for c in m.codecs if c.payload_type == ml.payload_type), None)
        wanted = _VIEWER_FEEDBACK_VIDEO if m.kind == "video" else ()
        fb = [f for f in wanted if offered is not None and f in offered.rtcp_feedback]
        out += _codec_lines(ml.codec, ml.payload_type, ml.rtx_payload_type, fb)
        out.append(f"a=msid:{ml.stream_id} {ml.track_id}")
        if ml.rtx_ssrc is not None:
            out.append(f"a=ssrc-group:FID {ml.ssrc} {ml.rtx_ssrc}")
        for s in (ml.ssrc, ml.rtx_ssrc):
            if s is not None:
                out.append(f"a=ssrc:{s} cname:{ml.stream_id}")
                out.append(f"a=ssrc:{s} msid:{ml.stream_id} {ml.track_id}")
        out += _candidate_lines(local)
    return "\r\n".join(out) + "\r\n"
