"""Client-side SDP for the synthetic peers: a browser-like publisher offer, a subscriber answer, and a
small parser for what RelayRoom and Janus send back. Only what the benchmark needs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from bench.media import AUDIO_PT, EXT_ABS_SEND_TIME, EXT_MID, VIDEO_PT

ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


@dataclass
class RemoteMedia:
    mid: str
    kind: str
    port: int
    direction: str
    payload_types: list[int]
    rtpmap: dict[int, str]


@dataclass
class RemoteDescription:
    ice_ufrag: str = ""
    ice_pwd: str = ""
    ice_lite: bool = False
    fingerprint: tuple[str, str] = ("", "")
    setup: str = ""
    candidates: list[tuple[str, int]] = field(default_factory=list)
    media: list[RemoteMedia] = field(default_factory=list)


def parse(sdp: str) -> RemoteDescription:
    d = RemoteDescription()
    current: RemoteMedia | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            pts = [int(p) for p in parts[3:] if p.isdigit()]
            current = RemoteMedia("", parts[0], int(parts[1]), "sendrecv", pts, {})
            d.media.append(current)
            continue
        if not line.startswith("a="):
            continue
        key, _, value = line[2:].partition(":")
        if key == "ice-ufrag" and not d.ice_ufrag:
            d.ice_ufrag = value
        elif key == "ice-pwd" and not d.ice_pwd:
            d.ice_pwd = value
        elif key == "ice-lite":
            d.ice_lite = True
        elif key == "fingerprint" and not d.fingerprint[0]:
            alg, _, fp = value.partition(" ")
            d.fingerprint = (alg.lower(), fp.strip())
        elif key == "setup" and not d.setup:
            d.setup = value
        elif key == "candidate":
            f = value.split()
            # loopback only: the benchmark never sends anywhere but 127.0.0.0/8
            if len(f) >= 8 and f[2].lower() == "udp" and f[1] == "1" and f[4].startswith("127."):
                cand = (f[4], int(f[5]))
                if cand not in d.candidates:
                    d.candidates.append(cand)
        elif current is not None:
            if key == "mid":
                current.mid = value
            elif key in ("sendrecv", "sendonly", "recvonly", "inactive"):
                current.direction = key
            elif key == "rtpmap":
                pt, _, name = value.partition(" ")
                current.rtpmap[int(pt)] = name
    return d


def _session(ufrag: str, pwd: str, fingerprint: str, mids: list[str]) -> list[str]:
    sid = secrets.randbelow(2**62)
    return [
        "v=0",
        f"o=- {sid} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE " + " ".join(mids),
        "a=msid-semantic: WMS",
    ]


def _transport(ufrag: str, pwd: str, fingerprint: str, setup: str) -> list[str]:
    return [
        "c=IN IP4 127.0.0.1",
        "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {fingerprint}",
        f"a=setup:{setup}",
        "a=rtcp-mux",
    ]


def publisher_offer(
    *,
    ufrag: str,
    pwd: str,
    fingerprint: str,
    port: int,
    audio_ssrc: int | None,
    video_ssrc: int | None,
    stream: str,
    video_ssrcs: list[int] | None = None,
) -> str:
    """A browser-like sendonly offer: Opus and/or VP8, BUNDLE, rtcp-mux, a=ssrc, one host candidate.
    ``video_ssrcs``: a simulcast camera, one SSRC per encoding, lowest first (``a=ssrc-group:SIM``, as
    Chrome's SDP-munged simulcast; both RelayRoom and Janus read it)."""
    mids: list[str] = []
    body: list[str] = []
    cand = [f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host", "a=end-of-candidates"]
    if audio_ssrc is not None:
        mid = str(len(mids))
        mids.append(mid)
        body += [f"m=audio 9 UDP/TLS/RTP/SAVPF {AUDIO_PT}"]
        body += _transport(ufrag, pwd, fingerprint, "actpass")
        body += [
            f"a=mid:{mid}",
            f"a=extmap:{EXT_MID} {MID_URI}",
            f"a=extmap:{EXT_ABS_SEND_TIME} {ABS_SEND_TIME_URI}",
            "a=sendonly",
            f"a=msid:{stream} {stream}-audio",
            f"a=rtpmap:{AUDIO_PT} opus/48000/2",
            f"a=fmtp:{AUDIO_PT} minptime=10;useinbandfec=1",
            f"a=ssrc:{audio_ssrc} cname:{stream}",
            f"a=ssrc:{audio_ssrc} msid:{stream} {stream}-audio",
            *cand,
        ]
    if video_ssrc is not None:
        mid = str(len(mids))
        mids.append(mid)
        body += [f"m=video 9 UDP/TLS/RTP/SAVPF {VIDEO_PT}"]
        body += _transport(ufrag, pwd, fingerprint, "actpass")
        body += [
            f"a=mid:{mid}",
            f"a=extmap:{EXT_MID} {MID_URI}",
            f"a=extmap:{EXT_ABS_SEND_TIME} {ABS_SEND_TIME_URI}",
            "a=sendonly",
            f"a=msid:{stream} {stream}-video",
            f"a=rtpmap:{VIDEO_PT} VP8/90000",
            f"a=rtcp-fb:{VIDEO_PT} goog-remb",
            f"a=rtcp-fb:{VIDEO_PT} ccm fir",
            f"a=rtcp-fb:{VIDEO_PT} nack",
            f"a=rtcp-fb:{VIDEO_PT} nack pli",
            *_video_ssrc_lines(video_ssrcs or [video_ssrc], stream),
            *cand,
        ]
    return "\r\n".join(_session(ufrag, pwd, fingerprint, mids) + body) + "\r\n"


def _video_ssrc_lines(ssrcs: list[int], stream: str) -> list[str]:
    lines = ["a=ssrc-group:SIM " + " ".join(map(str, ssrcs))] if len(ssrcs) > 1 else []
    for s in ssrcs:
        lines += [f"a=ssrc:{s} cname:{stream}", f"a=ssrc:{s} msid:{stream} {stream}-video"]
    return lines


def subscriber_answer(offer: RemoteDescription, *, ufrag: str, pwd: str, fingerprint: str, port: int) -> str:
    """Answer a server's offer: every audio/video m-line recvonly with its first codec; others rejected."""
    mids = [m.mid for m in offer.media if m.kind in ("audio", "video") and m.port != 0]
    lines = _session(ufrag, pwd, fingerprint, mids)
    first = True
    for m in offer.media:
        if m.kind not in ("audio", "video") or m.port == 0 or not m.payload_types:
            proto = "UDP/DTLS/SCTP webrtc-datachannel" if m.kind == "application" else "UDP/TLS/RTP/SAVPF 0"
            lines += [f"m={m.kind} 0 {proto}", "c=IN IP4 0.0.0.0", f"a=mid:{m.mid}", "a=inactive"]
            continue
        pt = m.payload_types[0]
        lines += [f"m={m.kind} 9 UDP/TLS/RTP/SAVPF {pt}"]
        lines += _transport(ufrag, pwd, fingerprint, "active")
        direction = "inactive" if m.direction in ("inactive", "recvonly") else "recvonly"
        lines += [f"a=mid:{m.mid}", f"a={direction}"]
        if pt in m.rtpmap:
            lines.append(f"a=rtpmap:{pt} {m.rtpmap[pt]}")
        if first:
            lines += [f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host", "a=end-of-candidates"]
            first = False
    return "\r\n".join(lines) + "\r\n"
