"""Fuzz targets: one function per parser, ``(data: bytes) -> None``.

A target returns normally for every input the parser handles as documented (a result, or the
documented error: ValueError and its subclasses, BadMessage for signalling) and raises anything else:
an undocumented exception escaping the parser, or an AssertionError when a property fails (a round
trip that does not give back what was built, a size out of range...). The same functions run under
atheris (``python -m tests.fuzz.run``, coverage-guided, ``make fuzz``) and in the normal suite, which
replays every corpus and crash file through them (tests/fuzz/test_corpus.py).
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from aioice import stun as aioice_stun

from relayroom.auth import privatemapkey, tc3, usersig
from relayroom.auth.errors import UserBufError, UserSigDecodeError
from relayroom.control.signaling import protocol
from relayroom.media import sdp
from relayroom.media.codecs import vp8
from relayroom.media.ice import stun
from relayroom.media.rtp import header, rtcp, twcc

Target = Callable[[bytes], None]

# Fixed, public values: nothing here is a secret of any deployment.
FUZZ_KEY = "fuzz-corpus-key-not-a-secret"
FUZZ_SDKAPPID = 1400000001
FUZZ_PWD = "fuzzfuzzfuzzfuzzfuzzfuzz"
_LOCAL = sdp.LocalTransport(
    ice_ufrag="fzuf",
    ice_pwd=FUZZ_PWD,
    fingerprint=":".join(["AB"] * 32),
    ip="127.0.0.1",
    port=40000,
)
# A publisher-id -> subscriber-id map that moves, keeps and drops ids (as a producer's table does).
_EXT_TABLE = header.extension_table(
    [
        (1, "urn:ietf:params:rtp-hdrext:sdes:mid"),
        (2, header.EXT_URI_AUDIO_LEVEL),
        (5, header.EXT_URI_ABS_SEND_TIME),
    ]
)


def text_of(data: bytes) -> str:
    """Bytes as the str a JSON/WebSocket frame could carry (lone surrogates included)."""
    return data.decode("utf-8", "surrogateescape")


# ----------------------------------------------------------------------------------------- RTP


def rtp(data: bytes) -> None:
    """RTP header, CSRCs and extensions: parse, length, one-byte extension remap, TWCC lookup, RTX."""
    try:
        pt, seq, ts, ssrc, _marker = header.parse_header(data)
    except ValueError:
        assert len(data) < header.RTP_HEADER_LEN or data[0] >> 6 != 2
        return
    assert 0 <= pt < 128 and 0 <= seq < 1 << 16 and 0 <= ts < 1 << 32 and 0 <= ssrc < 1 << 32
    try:
        hlen = header.header_length(data)
    except ValueError:
        return
    assert header.RTP_HEADER_LEN <= hlen <= len(data), (hlen, len(data))
    for ext_id in range(1, 15):
        pos = twcc.find_extension(data, ext_id)
        assert pos == -1 or header.RTP_HEADER_LEN < pos < hlen, (ext_id, pos, hlen)
    buf = bytearray(data)
    assert _EXT_TABLE is not None
    try:
        header.remap_extensions(buf, _EXT_TABLE)
    except ValueError:
        pass
    else:
        assert len(buf) == len(data) and header.header_length(buf) == hlen
    # RTX round trip (RFC 4588): what a consumer retransmits unwraps to the packet it stored.
    rtx = header.build_rtx(data, 97, (seq + 1) & 0xFFFF, 0x5EED, seq)
    assert header.header_length(rtx) == hlen, "rtx header differs from the original's"
    padded = bool(data[0] & 0x20)
    padding = data[-1] if padded else 0
    if padding <= len(data) - hlen:  # padding inside the payload (RFC 3550 §5.1); RTX drops it
        original = bytearray(data[: len(data) - padding])
        if padded:
            original[0] &= 0xDF
        assert header.unwrap_rtx(rtx, pt, ssrc) == original, "rtx does not unwrap to the original"
    out = header.rewritten(data, 111, 1, 2, 3)
    assert header.parse_header(out)[:4] == (111, 1, 2, 3) and out[12:] == data[12:]


# ---------------------------------------------------------------------------------------- RTCP


def rtcp_compound(data: bytes) -> None:
    """A compound RTCP packet: every item the worker parses (SR, RR, NACK, PLI, FIR, REMB) re-built
    by our builders parses back to the same item; transport-wide feedback decodes or is a ValueError."""
    with contextlib.suppress(ValueError):
        for pt, fmt, pos, length in rtcp.iter_packets(data):
            if pt == rtcp.RTCP_RTPFB and fmt == twcc.FMT_TWCC:  # transport-wide feedback from a subscriber
                try:
                    _base, _count, arrivals = twcc.decode_feedback(data[pos : pos + length])
                except ValueError:
                    continue
                assert 0 < len(arrivals) <= twcc.MAX_DECODED_STATUSES
    try:
        items = rtcp.parse(data)
    except ValueError:
        return
    for item in items:
        if isinstance(item, rtcp.SenderReport):
            assert rtcp.parse(rtcp.build_sr(item)) == [item]
        elif isinstance(item, rtcp.ReceiverReport):
            assert len(item.reports) <= 31
            assert rtcp.parse(rtcp.build_rr(item.ssrc, item.reports)) == [item]
            for block in item.reports:
                assert -(1 << 23) <= block.packets_lost < 1 << 23 and 0 <= block.fraction_lost < 256
        elif isinstance(item, rtcp.Nack):
            assert all(0 <= s < 1 << 16 for s in item.lost)
            if item.lost:
                (again,) = rtcp.parse(rtcp.build_nack(item.sender_ssrc, item.media_ssrc, item.lost))
                assert isinstance(again, rtcp.Nack) and set(again.lost) == set(item.lost)
        elif isinstance(item, rtcp.Pli):
            assert rtcp.parse(rtcp.build_pli(item.sender_ssrc, item.media_ssrc)) == [item]
        elif isinstance(item, rtcp.Fir):
            for ssrc, seq_nr in item.entries:
                assert 0 <= seq_nr < 256
                built = rtcp.build_fir(item.sender_ssrc, ssrc, seq_nr)
                assert rtcp.parse(built) == [rtcp.Fir(item.sender_ssrc, [(ssrc, seq_nr)])]
        elif isinstance(item, rtcp.Remb):
            assert len(item.ssrcs) < 256
            assert rtcp.parse(rtcp.build_remb(item.sender_ssrc, item.bitrate, item.ssrcs)) == [item]


# ---------------------------------------------------------------------------------------- STUN


def stun_message(data: bytes) -> None:
    """What the worker does with a datagram whose first byte is < 4 (RFC 7983): parse a Binding
    request, check MESSAGE-INTEGRITY, answer it; the answer is a valid STUN response to it."""
    try:
        req = stun.parse_binding_request(data)
    except ValueError:
        return
    if req is None:
        return
    assert isinstance(req.local_ufrag, str) and isinstance(req.remote_ufrag, str)
    stun.check_integrity(req, FUZZ_PWD)
    answer = aioice_stun.parse_message(stun.build_binding_success(req, ("127.0.0.1", 40000), FUZZ_PWD))
    assert answer.transaction_id == req.transaction_id
    assert answer.check_message_integrity(FUZZ_PWD.encode())


# ----------------------------------------------------------------------------------------- SDP


def sdp_offer(data: bytes) -> None:
    """A publisher's offer: parse; our answer to whatever parsed is itself a valid answer."""
    try:
        offer = sdp.parse_offer(text_of(data))
    except ValueError:
        return
    assert offer.ice_ufrag and offer.ice_pwd and offer.fingerprints
    accepted = {m.mid for m in offer.media if m.codec is not None and m.port != 0}
    answer = sdp.build_answer(offer, _LOCAL, accepted, session_id=1)
    if accepted:
        parsed = sdp.parse_answer(answer)
        assert parsed.ice_ufrag == _LOCAL.ice_ufrag
        assert len(parsed.mids) == len(offer.media)


def sdp_answer(data: bytes) -> None:
    """A subscriber's answer to our offer: parse only (ValueError for anything unusable)."""
    try:
        answer = sdp.parse_answer(text_of(data))
    except ValueError:
        return
    assert answer.fingerprints


# ---------------------------------------------------------------------------------- signalling


def signalling(data: bytes) -> None:
    """A WebSocket text frame: a Request, or BadMessage whose error response serialises."""
    try:
        request = protocol.parse_request(text_of(data))
    except protocol.BadMessage as exc:
        json.loads(protocol.response_error(exc.request_id, exc))
        return
    assert request.type in protocol.REQUEST_TYPES
    assert isinstance(request.data, protocol.REQUEST_TYPES[request.type])
    json.loads(protocol.response_ok(request.id, {}))


# ----------------------------------------------------------------------------------------- TC3


def tc3_request(data: bytes) -> None:
    """The cloud API's request parsing: Authorization header, X-TC-Timestamp, canonical request."""
    text = data.decode("latin-1")  # HTTP header values as Starlette hands them over
    head, _, rest = text.partition("\n")
    try:
        tc3.parse_timestamp(head)
    except tc3.Tc3FormatError:
        pass
    try:
        auth = tc3.parse_authorization(rest)
    except tc3.Tc3FormatError:
        return
    assert auth.signed_headers and len(auth.signature) == 64
    headers = {name: text for name in auth.signed_headers}
    tc3.expected_signature(
        FUZZ_KEY, auth, method="POST", query="", headers=headers, payload=data, timestamp=1700000000
    )
    # what the SDK signs for these credentials parses back to them
    signed = tc3.sign_request(
        secret_id=auth.secret_id, secret_key=FUZZ_KEY, host="127.0.0.1:1", payload=data, timestamp=1700000000
    )
    again = tc3.parse_authorization(signed)
    assert again.secret_id == auth.secret_id and again.service == "trtc"


# ------------------------------------------------------------------------- UserSig, PrivateMapKey


def _token_of(data: bytes) -> str | bytes:
    """First byte chooses: 0 = the rest is a token as sent; 1 = the rest is the token's JSON document
    (so mutations reach the JSON checks behind zlib and base64); else the bytes themselves."""
    if not data:
        return ""
    if data[0] == 0:
        return text_of(data[1:])
    if data[0] == 1:
        return usersig.urlish_b64encode(zlib.compress(data[1:]))
    return data[1:]


def usersig_token(data: bytes) -> None:
    """decode_usersig raises only UserSigDecodeError; verify never raises; whatever decodes
    re-issues (gen_usersig) to a token that decodes to the same fields."""
    token = _token_of(data)
    result = usersig.verify_usersig(token, sdkappid=FUZZ_SDKAPPID, userid="u", keys=[FUZZ_KEY], now=0)
    assert not result.ok or result.decoded is not None
    try:
        decoded = usersig.decode_usersig(token)
    except UserSigDecodeError:
        assert not result.ok
        return
    try:
        again = usersig.gen_usersig(
            decoded.sdkappid,
            FUZZ_KEY,
            decoded.identifier,
            decoded.expire,
            now=decoded.time,
            userbuf=decoded.userbuf,
        )
    except ValueError:  # too long once re-encoded, or a key/identifier that cannot be signed
        return
    other = usersig.decode_usersig(again)
    assert (other.identifier, other.sdkappid, other.expire, other.time, other.userbuf) == (
        decoded.identifier,
        decoded.sdkappid,
        decoded.expire,
        decoded.time,
        decoded.userbuf,
    )


def privatemapkey_userbuf(data: bytes) -> None:
    """The PrivateMapKey userbuf: parse (UserBufError only), canonical round trip, and the same
    bytes inside a validly signed token verify without raising."""
    try:
        buf = privatemapkey.parse_userbuf(data)
    except UserBufError:
        buf = None
    if buf is not None and buf.account_type == 0:
        rebuilt = privatemapkey.build_userbuf(
            buf.userid,
            buf.sdkappid,
            room_id=buf.room_id if buf.str_room_id is None else None,
            str_room_id=buf.str_room_id,
            expire_at=buf.expire_at,
            privilege=int(buf.privilege),
        )
        assert rebuilt == data, "userbuf does not round-trip"
    userid = buf.userid if buf is not None and "\n" not in buf.userid else "u"
    try:
        token = usersig.gen_usersig(FUZZ_SDKAPPID, FUZZ_KEY, userid, 3600, now=0, userbuf=data)
    except ValueError:
        return
    room_id: int | None = None
    str_room_id: str | None = "r"
    if buf is not None:
        room_id, str_room_id = (buf.room_id, None) if buf.str_room_id is None else (None, buf.str_room_id)
    result = privatemapkey.verify_privatemapkey(
        token,
        sdkappid=FUZZ_SDKAPPID,
        userid=userid,
        keys=[FUZZ_KEY],
        now=0,
        room_id=room_id,
        str_room_id=str_room_id,
    )
    if buf is None:
        assert not result.ok
    elif result.ok:
        assert buf.sdkappid == FUZZ_SDKAPPID and buf.userid == userid


# ----------------------------------------------------------------------------- payload probes


def _payload_offset(data: bytes) -> int:
    try:
        return header.header_length(data)
    except ValueError:
        return 0  # not RTP: probe the bytes as a bare payload


def vp8_payload(data: bytes) -> None:
    """VP8 key-frame detection and picture size (RFC 7741 descriptor, RFC 6386 frame header)."""
    hlen = _payload_offset(data)
    key = header.is_vp8_keyframe(data, hlen)
    size = header.vp8_picture_size(data, hlen)
    if size is not None:
        assert key, "a picture size from a packet that is not a key frame start"
        assert all(0 < v < 1 << 14 for v in size), size
    try:
        desc = vp8.parse_descriptor(data, hlen)
    except ValueError:
        return
    # two readings of RFC 7741 in the tree (the probe and the layer rewriter's parser) agree
    assert desc.keyframe == key, (desc.keyframe, key)
    assert hlen + desc.length <= len(data)
    if desc.picture_id_bits:
        buf = bytearray(data)
        value = (desc.picture_id + 1) & ((1 << desc.picture_id_bits) - 1)
        vp8.write_picture_id(buf, desc.picture_id_pos, desc.picture_id_bits, value)
        again = vp8.parse_descriptor(buf, hlen)
        assert (again.picture_id, again.length, again.keyframe) == (value, desc.length, desc.keyframe)


def h264_payload(data: bytes) -> None:
    """H.264 key-frame detection (IDR/SPS, STAP-A, FU-A) and picture size from the SPS."""
    hlen = _payload_offset(data)
    key = header.is_h264_keyframe(data, hlen)
    size = header.h264_picture_size(data, hlen)
    if size is not None:
        assert key, "a picture size from a packet without an SPS"
        assert all(0 < v <= 16384 for v in size), size


@dataclass(frozen=True)
class Spec:
    fn: Target
    max_len: int  # libFuzzer -max_len: what the real input can be at most (plus some)


TARGETS: dict[str, Spec] = {
    "rtp": Spec(rtp, 1600),
    "rtcp": Spec(rtcp_compound, 1600),
    "stun": Spec(stun_message, 1600),
    "sdp_offer": Spec(sdp_offer, 16384),
    "sdp_answer": Spec(sdp_answer, 16384),
    "signalling": Spec(signalling, 16384),
    "tc3": Spec(tc3_request, 2048),
    "usersig": Spec(usersig_token, 4096),
    "privatemapkey": Spec(privatemapkey_userbuf, 1024),
    "vp8": Spec(vp8_payload, 1600),
    "h264": Spec(h264_payload, 1600),
}
