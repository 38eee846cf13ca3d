"""SDP for receive-only clients (WHEP) and RFC 8843 bundle-only m-lines."""

from __future__ import annotations

import pytest

from relayroom.media import sdp

FP = ":".join(["AB"] * 32)
LOCAL = sdp.LocalTransport("srvufrag", "s" * 24, FP, "127.0.0.1", 40000)


def viewer_offer(video: list[tuple[int, str, str]], *, bundle_only: bool = False) -> str:
    """A recvonly offer (audio Opus 111 + video with the given (pt, codec, fmtp)), webrtcbin style."""
    common = [
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:viewerufrag",
        f"a=ice-pwd:{'p' * 24}",
        f"a=fingerprint:sha-256 {FP}",
        "a=setup:actpass",
        "a=rtcp-mux",
        "a=recvonly",
    ]
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE a0 v1"]
    lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", *common, "a=mid:a0", "a=rtpmap:111 opus/48000/2"]
    pts = " ".join(str(pt) for pt, _, _ in video) + " 97"
    lines += [f"m=video {0 if bundle_only else 9} UDP/TLS/RTP/SAVPF {pts}", *common, "a=mid:v1"]
    if bundle_only:
        lines.append("a=bundle-only")
    for pt, codec, fmtp in video:
        lines += [f"a=rtpmap:{pt} {codec}", f"a=rtcp-fb:{pt} nack pli"]
        if fmtp:
            lines.append(f"a=fmtp:{pt} {fmtp}")
    lines += ["a=rtpmap:97 rtx/90000", f"a=fmtp:97 apt={video[0][0]}"]
    return "\r\n".join(lines) + "\r\n"


def test_bundle_only_m_lines_are_read_as_live_ones() -> None:
    offer = sdp.parse_viewer_offer(viewer_offer([(96, "VP8/90000", "")], bundle_only=True))
    assert [(m.kind, m.port, m.receiving) for m in offer.media] == [("audio", 9, True), ("video", 9, True)]
    # and a rejected m-line (port 0 without bundle-only) stays rejected
    rejected = viewer_offer([(96, "VP8/90000", "")]).replace("m=video 9 ", "m=video 0 ")
    assert not sdp.parse_viewer_offer(rejected).media[1].receiving


def test_viewer_codecs_keep_the_viewers_payload_types_and_rtx() -> None:
    offer = sdp.parse_viewer_offer(
        viewer_offer(
            [(100, "VP8/90000", ""), (102, "H264/90000", "packetization-mode=1;profile-level-id=42e01f")]
        )
    )
    video = offer.media[1]
    assert [(c.mime_type.lower(), c.payload_type) for c in video.codecs] == [
        ("video/vp8", 100),
        ("video/h264", 102),
    ]
    assert video.codecs[0].rtx_payload_type == 97
    assert offer.ice_ufrag == "viewerufrag" and offer.setup_role == "auto"


def test_h264_matches_the_same_profile_before_any_other() -> None:
    entries = [
        sdp.CodecInfo("video/H264", 90000, None, 104, None, "packetization-mode=1;profile-level-id=640032"),
        sdp.CodecInfo("video/H264", 90000, None, 106, None, "packetization-mode=1;profile-level-id=42001f"),
        sdp.CodecInfo("video/H264", 90000, None, 108, None, "packetization-mode=1;profile-level-id=42e01f"),
    ]
    producer = sdp.CodecInfo(
        "video/H264", 90000, None, 102, None, "packetization-mode=1;profile-level-id=42e01f"
    )
    assert sdp.match_codec(entries, producer) is entries[2]
    baseline = sdp.CodecInfo(
        "video/H264", 90000, None, 102, None, "packetization-mode=1;profile-level-id=42c00c"
    )
    assert sdp.match_codec(entries, baseline) is entries[1]
    vp8 = sdp.CodecInfo("video/VP8", 90000, None, 96, None)
    assert sdp.match_codec(entries, vp8) is None
    # packetization-mode=0 is not offered as something we can forward
    offer = sdp.parse_viewer_offer(
        viewer_offer([(102, "H264/90000", "packetization-mode=0;profile-level-id=42e01f")])
    )
    assert offer.media[1].codecs == []


def test_viewer_answer_sends_our_ssrcs_with_the_viewers_payload_types() -> None:
    offer = sdp.parse_viewer_offer(viewer_offer([(100, "VP8/90000", "")]))
    vp8 = offer.media[1].codecs[0]
    line = sdp.SubscriberMLine(
        mid="v1",
        kind="video",
        codec=sdp.CodecInfo("video/VP8", 90000, None, 96, 97),
        payload_type=vp8.payload_type,
        rtx_payload_type=vp8.rtx_payload_type,
        ssrc=1234,
        rtx_ssrc=5678,
        stream_id="pub",
        track_id="prod",
    )
    answer = sdp.build_viewer_answer(offer, LOCAL, {"v1": line}, session_id=7)
    sections = answer.split("m=")
    assert "a=group:BUNDLE v1" in sections[0] and "a=ice-lite" in sections[0]
    assert sections[1].startswith("audio 0 ") and "a=inactive" in sections[1]  # nothing to send there
    video = sections[2]
    assert video.startswith("video 9 UDP/TLS/RTP/SAVPF 100 97")
    for expected in (
        "a=sendonly",
        "a=setup:passive",
        "a=rtpmap:100 VP8/90000",
        "a=fmtp:97 apt=100",
        "a=rtcp-fb:100 nack pli",
        "a=ssrc-group:FID 1234 5678",
        "a=ssrc:1234 msid:pub prod",
        "a=candidate:udpcandidate 1 udp 1076302079 127.0.0.1 40000 typ host",
    ):
        assert expected in video, expected
    assert "a=extmap" not in answer  # no header extension is negotiated with viewers


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "v=0\r\n",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:x y\r\n",
        viewer_offer([(96, "VP8/90000", "")]).replace("a=ice-ufrag:viewerufrag\r\n", ""),
    ],
)
def test_unusable_viewer_offers_are_value_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        sdp.parse_viewer_offer(bad)
