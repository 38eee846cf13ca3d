"""Offer parsing and server SDP building (captured aiortc 1.16 and Chromium 156 offers in tests/data/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from relayroom.media import sdp
from relayroom.media.types import UnsupportedError
from tests.media.peers import client_config

DATA = Path(__file__).parent.parent / "data"
LOCAL = sdp.LocalTransport("srvufrag", "srvpassword0123456789abcdef", "AB:" * 31 + "CD", "127.0.0.1", 40000)


def _offer(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize(
    ("name", "audio_ssrc", "video", "ext_ids"),
    [
        ("chromium156_offer.sdp", 19558256, ("video/VP8", 96, 97, 2187697942, 3264535372), {1, 2, 3, 4}),
        ("aiortc116_offer.sdp", 3858130451, ("video/VP8", 97, 98, 1187322836, 1562938187), {1, 2}),
    ],
)
def test_parse_offer_extracts_what_producers_need(
    name: str, audio_ssrc: int, video: tuple[str, int, int, int, int], ext_ids: set[int]
) -> None:
    offer = sdp.parse_offer(_offer(name))
    audio, vid = offer.media
    assert offer.setup_role == "auto" and offer.fingerprints[0][0] == "sha-256"
    assert (audio.mid, audio.kind, audio.sending, audio.ssrc, audio.rtx_ssrc) == (
        "0",
        "audio",
        True,
        audio_ssrc,
        None,
    )
    assert audio.codec is not None and audio.codec.mime_type == "audio/opus" and audio.codec.channels == 2
    assert {i for i, _ in audio.extensions} == ext_ids
    assert vid.codec is not None
    assert (
        vid.codec.mime_type,
        vid.codec.payload_type,
        vid.codec.rtx_payload_type,
        vid.ssrc,
        vid.rtx_ssrc,
    ) == video
    assert "nack pli" in vid.codec.rtcp_feedback
    assert audio.source == "main" and vid.source == "main"


def test_source_sub_comes_from_the_track_label() -> None:
    text = _offer("aiortc116_offer.sdp").replace(
        "a=msid:8ca394ef-d436-43c8-99eb-c58ade18de9e 0a032b95", "a=msid:screen 0a032b95"
    )
    offer = sdp.parse_offer(text)
    assert offer.media[1].source == "sub"


def test_h264_only_offer_chooses_packetization_mode_1_baseline() -> None:
    text = _offer("aiortc116_offer.sdp")
    text = text.replace("a=rtpmap:97 VP8/90000", "a=rtpmap:97 VP9/90000")
    offer = sdp.parse_offer(text)
    codec = offer.media[1].codec
    assert codec is not None and codec.mime_type == "video/H264" and codec.payload_type == 101
    assert codec.rtx_payload_type == 102 and "profile-level-id=42e01f" in codec.fmtp


def test_offer_without_ice_or_fingerprint_is_rejected() -> None:
    with pytest.raises(ValueError):
        sdp.parse_offer("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
    with pytest.raises(ValueError):
        sdp.parse_offer("garbage")


@pytest.mark.parametrize("name", ["chromium156_offer.sdp", "aiortc116_offer.sdp"])
def test_answer_is_ice_lite_passive_recvonly_bundled(name: str) -> None:
    offer = sdp.parse_offer(_offer(name))
    answer = sdp.build_answer(offer, LOCAL, {m.mid for m in offer.media}, session_id=7, version=1)
    assert "a=ice-lite" in answer and "a=group:BUNDLE 0 1" in answer
    assert answer.count("a=setup:passive") == 2 and answer.count("a=recvonly") == 2
    assert answer.count("a=rtcp-mux") == 2
    assert "a=candidate:udpcandidate 1 udp 1076302079 127.0.0.1 40000 typ host" in answer
    assert "a=ice-ufrag:srvufrag" in answer and "a=fingerprint:sha-256 " + LOCAL.fingerprint in answer
    video = answer.split("m=video")[1]
    assert "VP8/90000" in video and "apt=" in video and "H264" not in video


async def test_aiortc_accepts_the_answer_and_the_subscriber_offers() -> None:
    pub = RTCPeerConnection(client_config())
    sub = RTCPeerConnection(client_config())
    try:
        from tests.media.peers import ColourVideoTrack, SineAudioTrack

        pub.addTransceiver(SineAudioTrack(), direction="sendonly")
        pub.addTransceiver(ColourVideoTrack("red"), direction="sendonly")
        await pub.setLocalDescription(await pub.createOffer())
        offer = sdp.parse_offer(pub.localDescription.sdp)
        answer = sdp.build_answer(offer, LOCAL, {"0", "1"}, session_id=7, version=1)
        await pub.setRemoteDescription(RTCSessionDescription(answer, "answer"))

        mlines: list[sdp.SubscriberMLine] = []
        taken: set[int] = set()
        for m in offer.media:
            assert m.codec is not None
            pt, rtx_pt = sdp.allocate_payload_types(mlines, m.codec, m.rtx_ssrc is not None)
            mlines.append(
                sdp.SubscriberMLine(
                    mid=str(len(mlines)),
                    kind="audio" if m.kind == "audio" else "video",
                    codec=m.codec,
                    payload_type=pt,
                    rtx_payload_type=rtx_pt,
                    ssrc=sdp.new_ssrc(taken),
                    rtx_ssrc=sdp.new_ssrc(taken) if rtx_pt else None,
                    stream_id="alice",
                    track_id=f"p{m.mid}",
                )
            )
        text = sdp.build_subscriber_offer(mlines, LOCAL, 9, 1)
        await sub.setRemoteDescription(RTCSessionDescription(text, "offer"))
        await sub.setLocalDescription(await sub.createAnswer())
        parsed = sdp.parse_answer(sub.localDescription.sdp)
        assert parsed.setup_role == "client" and parsed.mids == ["0", "1"]
        assert [t.receiver.track.id for t in sub.getTransceivers()] == ["p0", "p1"]
        # re-offer: first m-line inactive, a third one added; aiortc accepts it
        mlines[0].active = False
        pt, rtx_pt = sdp.allocate_payload_types(mlines, mlines[1].codec, True)
        assert pt not in (mlines[0].payload_type, mlines[1].payload_type, mlines[1].rtx_payload_type)
        mlines.append(
            sdp.SubscriberMLine(
                "2",
                "video",
                mlines[1].codec,
                pt,
                rtx_pt,
                sdp.new_ssrc(taken),
                sdp.new_ssrc(taken),
                "carol",
                "p2",
            )
        )
        reoffer = sdp.build_subscriber_offer(mlines, LOCAL, 9, 2)
        assert "a=inactive" in reoffer and reoffer.count("m=") == 3
        assert "cname:carol" in reoffer and "cname:alice" in reoffer  # CNAME = publisher (lip sync)
        await sub.setRemoteDescription(RTCSessionDescription(reoffer, "offer"))
        await sub.setLocalDescription(await sub.createAnswer())
        assert sdp.parse_answer(sub.localDescription.sdp).mids == ["0", "1", "2"]
    finally:
        await pub.close()
        await sub.close()


def test_payload_types_run_out_then_reuse_same_codec() -> None:
    codec = sdp.CodecInfo("video/VP8", 90000, None, 96, 97)
    mlines: list[sdp.SubscriberMLine] = []
    for i in range(40):
        pt, rtx = sdp.allocate_payload_types(mlines, codec, True)
        mlines.append(sdp.SubscriberMLine(str(i), "video", codec, pt, rtx, i, 1000 + i, "u", f"t{i}"))
    pts = [m.payload_type for m in mlines]
    assert len(set(pts[:30])) == 30  # 61 dynamic PTs / 2 per m-line
    assert set(pts[30:]) <= set(pts[:30])
    with pytest.raises(UnsupportedError):
        sdp.allocate_payload_types(mlines, sdp.CodecInfo("video/VP9", 90000, None, 98, None), False)


def test_oversized_sdp_is_rejected() -> None:
    text = _offer("aiortc116_offer.sdp")
    with pytest.raises(ValueError, match="too large"):
        sdp.parse_offer(text + "a=x-padding:" + "x" * sdp.MAX_SDP_BYTES + "\r\n")
    media = text[text.index("m=audio") :]
    with pytest.raises(ValueError, match="too large"):
        sdp.parse_offer(text + media * 70)


def test_transport_cc_is_answered_when_offered_and_replaces_remb() -> None:
    chrome = sdp.parse_offer(_offer("chromium156_offer.sdp"))
    answer = sdp.build_answer(chrome, LOCAL, {"0", "1"}, session_id=1)
    assert answer.count("a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc") == 2
    assert "a=rtcp-fb:111 transport-cc" in answer and "a=rtcp-fb:96 transport-cc" in answer
    assert "goog-remb" not in answer
    aio = sdp.parse_offer(_offer("aiortc116_offer.sdp"))
    answer = sdp.build_answer(aio, LOCAL, {"0", "1"}, session_id=1)
    assert "transport-cc" not in answer and "goog-remb" in answer


def _edit(old: str, new: str, name: str = "aiortc116_offer.sdp") -> str:
    text = _offer(name)
    assert old in text, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("a=ssrc-group:FID 1187322836 1562938187", "a=ssrc-group:FID 1187322836 4294967296", "out of range"),
        ("a=ssrc:3858130451 cname", "a=ssrc:0 cname", "ssrc 0 out of range"),
        ("a=rtpmap:97 VP8/90000", "a=rtpmap:97 VP8/0", "clock rate must be 90000"),
        ("a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus/8000/2", "clock rate must be 48000"),
        ("UDP/TLS/RTP/SAVPF 97 98 99", "UDP/TLS/RTP/SAVPF 97 98 200 99", "payload type 200 out of range"),
        ("a=fmtp:98 apt=97", "a=fmtp:98 apt=999", "rtx apt 999 out of range"),
        ("a=extmap:3 http", "a=extmap:256 http", "header extension id 256 out of range"),
        ("a=mid:1", "a=mid:a b", "a=mid"),
        ("a=mid:1", "a=mid:" + "x" * 33, "a=mid"),
        ("a=ice-ufrag:NleL", "a=ice-ufrag:N", "ice-ufrag"),
        ("a=ice-pwd:K1DEmvqVoPo3BpJ1H3wNNP", "a=ice-pwd:short", "ice-pwd"),
        ("a=fingerprint:sha-256 7F:59", "a=fingerprint:md5 7F:59", "dtls fingerprint"),
        ("a=fmtp:101 level-asymmetry-allowed=1", 'a=fmtp:101 x="<b>";level-asymmetry-allowed=1', "a=fmtp"),
        ("a=ssrc-group:FID 1187322836 1562938187", "a=ssrc-group:FID 3858130451 1562938187", "used twice"),
    ],
)
def test_offer_values_out_of_range_are_refused_with_a_reason(old: str, new: str, reason: str) -> None:
    text = _edit(old, new)
    if "fmtp:101" in old:  # H.264 is chosen only without VP8
        text = text.replace("a=rtpmap:97 VP8/90000", "a=rtpmap:97 VP9/90000")
    if "ssrc-group" in old and "4294967296" not in new and "used twice" in reason:
        text = text.replace("a=ssrc:1187322836 cname", "a=ssrc:3858130451 cname")
    with pytest.raises(ValueError, match=reason):
        sdp.parse_offer(text)


def test_a_sending_m_line_without_a_ssrc_is_refused_with_a_reason() -> None:
    text = "\r\n".join(line for line in _offer("aiortc116_offer.sdp").splitlines() if "a=ssrc" not in line)
    with pytest.raises(ValueError, match="m-line 0: audio is sent without a=ssrc"):
        sdp.parse_offer(text)


def test_extension_ids_beyond_the_one_byte_form_are_not_accepted_but_not_an_error() -> None:
    offer = sdp.parse_offer(_edit("a=extmap:3 http", "a=extmap:200 http"))
    uris = [uri for _, uri in offer.media[1].extensions]  # abs-send-time at id 200: not forwarded
    assert uris == ["urn:ietf:params:rtp-hdrext:sdes:mid"]


@pytest.mark.parametrize("newline", ["\n", "\r"])
def test_offers_with_lf_or_cr_line_endings_parse_like_crlf(newline: str) -> None:
    crlf = sdp.parse_offer(_offer("chromium156_offer.sdp"))
    other = sdp.parse_offer(_offer("chromium156_offer.sdp").replace("\r\n", newline))
    assert other == crlf


def test_answer_values_are_checked_too() -> None:
    with pytest.raises(ValueError, match="dtls fingerprint"):
        sdp.parse_answer("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=fingerprint:sha-256 zz\r\n")


def test_the_tcp_candidate_follows_udp_with_tcptype_passive_and_parses_back() -> None:
    from aiortc.sdp import candidate_from_sdp

    from relayroom.media.webrtc_transport import TCP_CANDIDATE_PRIORITY, UDP_CANDIDATE_PRIORITY

    local = sdp.LocalTransport.from_worker(
        {
            "iceParameters": {"usernameFragment": "u", "password": "p" * 22},
            "iceCandidates": [
                {"protocol": "udp", "ip": "127.0.0.1", "port": 40000, "priority": UDP_CANDIDATE_PRIORITY},
                {"protocol": "tcp", "ip": "127.0.0.1", "port": 40000, "priority": TCP_CANDIDATE_PRIORITY},
            ],
            "dtlsParameters": {"fingerprints": [{"algorithm": "sha-256", "value": "AB:CD"}]},
        }
    )
    assert (local.port, local.tcp_port, local.tcp_priority) == (40000, 40000, TCP_CANDIDATE_PRIORITY)
    offer = sdp.parse_offer(_offer("chromium156_offer.sdp"))
    answer = sdp.build_answer(offer, local, {m.mid for m in offer.media}, session_id=7, version=1)
    lines = [line for line in answer.split("\r\n") if line.startswith("a=candidate:")]
    assert len(lines) == 4  # udp then tcp, in each of the two m-lines
    udp, tcp = (candidate_from_sdp(line.split(":", 1)[1]) for line in lines[:2])
    assert (udp.protocol, udp.priority) == ("udp", UDP_CANDIDATE_PRIORITY)
    assert (tcp.protocol, tcp.tcpType, tcp.port) == ("tcp", "passive", 40000)
    assert tcp.priority == TCP_CANDIDATE_PRIORITY
    assert tcp.priority < udp.priority
    # without ICE-TCP (no tcp candidate from the worker) the SDP has the UDP candidate only
    assert "tcptype" not in sdp.build_answer(offer, LOCAL, {"0"}, session_id=7, version=1)
