"""Properties of the SDP parser and builders (hypothesis): the server's subscriber offers parse back to the
m-lines they were built from, the answer to any offer we accept parses back, and malformed or mutated
SDP raises only ValueError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.media import sdp

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DATA = Path(__file__).parent.parent / "data"
OFFERS = [(DATA / n).read_text() for n in ("chromium156_offer.sdp", "aiortc116_offer.sdp")]
LOCAL = sdp.LocalTransport("srvufrag", "srvpassword0123456789abcdef", "AB:" * 31 + "CD", "127.0.0.1", 40000)
CODECS = [
    sdp.CodecInfo("audio/opus", 48000, 2, 111, None, "minptime=10;useinbandfec=1"),
    sdp.CodecInfo("video/VP8", 90000, None, 96, 97),
    sdp.CodecInfo("video/H264", 90000, None, 102, 103, "packetization-mode=1;profile-level-id=42e01f"),
]
SSRC = st.integers(1, 0xFFFFFFFF)
LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=24)


@st.composite
def subscriber_mlines(draw: st.DrawFn) -> list[sdp.SubscriberMLine]:
    out: list[sdp.SubscriberMLine] = []
    # SSRCs are unique in a transport (sdp.new_ssrc), and parse_offer refuses one used twice
    ssrcs = iter(draw(st.lists(SSRC, min_size=16, max_size=16, unique=True)))
    for i in range(draw(st.integers(1, 8))):
        codec = draw(st.sampled_from(CODECS))
        rtx = codec.rtx_payload_type is not None and draw(st.booleans())
        pt, rtx_pt = sdp.allocate_payload_types(out, codec, rtx)
        out.append(
            sdp.SubscriberMLine(
                mid=str(i),
                kind="audio" if codec.mime_type.startswith("audio") else "video",
                codec=codec,
                payload_type=pt,
                rtx_payload_type=rtx_pt,
                ssrc=next(ssrcs),
                rtx_ssrc=next(ssrcs) if rtx else None,
                stream_id=draw(LABEL),
                track_id=draw(LABEL),
                active=draw(st.booleans()),
            )
        )
    return out


@PROPS
@given(subscriber_mlines(), st.integers(1, 2**62), st.integers(1, 1000))
def test_a_subscriber_offer_parses_back_to_its_m_lines(
    mlines: list[sdp.SubscriberMLine], session_id: int, version: int
) -> None:
    offer = sdp.parse_offer(sdp.build_subscriber_offer(mlines, LOCAL, session_id, version))
    assert (offer.ice_ufrag, offer.ice_pwd) == (LOCAL.ice_ufrag, LOCAL.ice_pwd)
    assert offer.fingerprints == [("sha-256", LOCAL.fingerprint)]
    assert len(offer.media) == len(mlines)
    for m, got in zip(mlines, offer.media, strict=True):
        assert (got.mid, got.kind) == (m.mid, m.kind)
        assert got.direction == ("sendonly" if m.active else "inactive")
        assert got.codec is not None
        assert (got.codec.mime_type.lower(), got.codec.payload_type) == (
            m.codec.mime_type.lower(),
            m.payload_type,
        )
        assert got.codec.rtx_payload_type == m.rtx_payload_type
        if m.active:
            assert (got.ssrc, got.rtx_ssrc) == (m.ssrc, m.rtx_ssrc)
            assert (got.msid_stream, got.msid_track) == (m.stream_id, m.track_id)
        else:
            assert got.ssrc is None


@PROPS
@given(st.sampled_from(OFFERS), st.data())
def test_the_answer_to_an_accepted_offer_parses_back(text: str, data: st.DataObject) -> None:
    offer = sdp.parse_offer(text)
    mids = [m.mid for m in offer.media]
    accepted = set(data.draw(st.lists(st.sampled_from(mids), min_size=1, unique=True)))
    answer = sdp.parse_answer(
        sdp.build_answer(offer, LOCAL, accepted, session_id=data.draw(st.integers(1, 2**62)))
    )
    assert answer.mids == mids and answer.rejected_mids == []
    assert answer.fingerprints == [("sha-256", LOCAL.fingerprint)] and answer.ice_ufrag == LOCAL.ice_ufrag
    for m in offer.media:
        assert m.codec is not None and m.codec.payload_type in answer.payload_types[m.mid]


@st.composite
def mutated_offers(draw: st.DrawFn) -> str:
    """A real offer with lines dropped, duplicated, swapped or with one token replaced."""
    lines = draw(st.sampled_from(OFFERS)).split("\r\n")
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "token", "truncate"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "token":
            parts = lines[i].split(" ")
            k = draw(st.integers(0, len(parts) - 1))
            parts[k] = draw(st.sampled_from(["", "-1", "0", "99999999999999999999", "x", "a=", ":", "1/2/3"]))
            lines[i] = " ".join(parts)
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        if not lines:
            break
    return "\r\n".join(lines)


@PROPS
@given(mutated_offers())
def test_a_mutated_real_offer_parses_or_raises_valueerror(text: str) -> None:
    try:
        offer = sdp.parse_offer(text)
    except ValueError:
        return
    accepted = {m.mid for m in offer.media if m.codec is not None and m.port != 0}
    sdp.build_answer(offer, LOCAL, accepted, session_id=1)


@PROPS
@given(st.text(max_size=600) | mutated_offers())
def test_any_text_parses_or_raises_valueerror_as_offer_and_as_answer(text: str) -> None:
    for parse in (sdp.parse_offer, sdp.parse_answer):
        try:
            parse(text)
        except ValueError:
            pass
