"""Pure units: sequence math, header rewrite, RTX, keyframe detection, NACK ring."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from aiortc.rtp import RtpPacket

from relayroom.media.rtp import header
from relayroom.media.rtp.nack import RetransmissionBuffer, nack_items_to_seqs, seqs_to_nack_items
from relayroom.media.rtp.seq import SeqUnwrapper, seq_add, seq_diff, seq_newer, ts_add, ts_diff


@pytest.mark.parametrize(
    ("a", "b", "diff"),
    [
        (1, 0, 1),
        (0, 1, -1),
        (0, 65535, 1),
        (65535, 0, -1),
        (10, 65530, 16),
        (32767, 0, 32767),
        (32768, 0, -32768),
        (5, 5, 0),
    ],
)
def test_seq_diff_wraps_around(a: int, b: int, diff: int) -> None:
    assert seq_diff(a, b) == diff
    assert seq_newer(a, b) == (diff > 0)


@pytest.mark.parametrize(
    ("a", "b", "out"), [(65535, 1, 0), (65535, 2, 1), (0, 65535, 65535), (100, -101, 65535)]
)
def test_seq_add_is_modulo_2_16(a: int, b: int, out: int) -> None:
    assert seq_add(a, b) == out


@pytest.mark.parametrize(
    ("a", "b", "diff"), [(0, 0xFFFFFFFF, 1), (0xFFFFFFFF, 0, -1), (90000, 0, 90000), (0, 90000, -90000)]
)
def test_ts_diff_wraps_around(a: int, b: int, diff: int) -> None:
    assert ts_diff(a, b) == diff
    assert ts_add(b, diff) == a


def test_unwrapper_counts_cycles_and_tolerates_reordering() -> None:
    u = SeqUnwrapper()
    seqs = [65533, 65534, 65535, 0, 65535, 1, 2, 3]
    assert [u.unwrap(s) for s in seqs] == [65533, 65534, 65535, 65536, 65535, 65537, 65538, 65539]
    assert u.highest == 65539


def _packet(
    pt: int = 96,
    seq: int = 1000,
    ts: int = 123456,
    ssrc: int = 0x11223344,
    marker: bool = True,
    payload: bytes = b"\x10\x00\x9d\x01\x2a" + bytes(20),
    ext: bool = False,
    padding: int = 0,
) -> bytes:
    p = RtpPacket(
        payload_type=pt, marker=int(marker), sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload
    )
    p.padding_size = padding
    if ext:
        p.extensions.abs_send_time = 0x123456
        from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
        from aiortc.rtp import HeaderExtensionsMap

        m = HeaderExtensionsMap()
        m.configure(
            RTCRtpParameters(
                headerExtensions=[
                    RTCRtpHeaderExtensionParameters(
                        id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                    )
                ]
            )
        )
        return p.serialize(m)
    return p.serialize()


@pytest.mark.parametrize("ext", [False, True])
def test_rewrite_in_place_changes_only_pt_seq_ts_ssrc(ext: bool) -> None:
    data = _packet(ext=ext)
    buf = bytearray(data)
    header.rewrite(buf, 100, 65535, 0xFFFFFFFF, 0xCAFEBABE)
    parsed = RtpPacket.parse(bytes(buf))
    orig = RtpPacket.parse(data)
    assert (parsed.payload_type, parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (
        100,
        65535,
        0xFFFFFFFF,
        0xCAFEBABE,
    )
    assert parsed.marker == orig.marker and parsed.payload == orig.payload
    assert bytes(buf[12:]) == data[12:]
    assert header.rewritten(data, 100, 65535, 0xFFFFFFFF, 0xCAFEBABE) == bytes(buf)


def test_parse_header_and_header_length() -> None:
    data = _packet(ext=True)
    assert header.parse_header(data) == (96, 1000, 123456, 0x11223344, True)
    assert header.header_length(data) == 12 + 4 + 4
    for bad in (
        b"",
        b"\x80\x60",
        b"\x90\x60" + bytes(10),
        b"\x90\x60" + bytes(12) + b"\x00\x05",
        b"\x40" + bytes(11),
    ):
        with pytest.raises(ValueError):
            header.parse_header(bad) if bad[:1] == b"\x40" else header.header_length(bad)


@pytest.mark.parametrize("padding", [0, 4])
def test_rtx_round_trip_restores_the_original_packet(padding: int) -> None:
    data = _packet(seq=4242, padding=padding)
    rtx = header.build_rtx(data, 97, 7, 0xABCDEF01, 4242)
    parsed = RtpPacket.parse(bytes(rtx))
    assert (parsed.payload_type, parsed.sequence_number, parsed.ssrc) == (97, 7, 0xABCDEF01)
    assert parsed.payload[:2] == struct.pack("!H", 4242)
    restored = header.unwrap_rtx(rtx, 96, 0x11223344)
    orig = RtpPacket.parse(data)
    again = RtpPacket.parse(bytes(restored))
    assert (again.sequence_number, again.payload, again.timestamp) == (4242, orig.payload, orig.timestamp)


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (b"\x10\x00\x9d\x01\x2a", True),  # S=1 PID=0, P bit 0 => key frame
        (b"\x10\x01\x9d\x01\x2a", False),  # inter frame
        (b"\x00\x00\x9d\x01\x2a", False),  # not start of partition
        (b"\x90\x80\x92\x34\x00", True),  # X, I with 15-bit picture id (M bit), then key frame byte
        (b"\x90\x80\x92\x34\x01", False),
        (b"\x90\x80\x12\x34", True),  # 7-bit picture id: 0x34 is the VP8 payload header (P=0)
        (b"\x90", False),  # truncated
    ],
)
def test_vp8_keyframe_detection(payload: bytes, key: bool) -> None:
    data = _packet(payload=payload)
    assert header.is_vp8_keyframe(data, 12) is key


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (b"\x65\x88", True),  # IDR
        (b"\x67\x42", True),  # SPS
        (b"\x41\x9a", False),  # non-IDR slice
        (b"\x18\x00\x02\x67\x42\x00\x02\x68\xce", True),  # STAP-A with SPS
        (b"\x7c\x85\x88", True),  # FU-A start of IDR
        (b"\x7c\x05\x88", False),  # FU-A continuation
        (b"\x7c\x81\x9a", False),  # FU-A start of non-IDR
    ],
)
def test_h264_keyframe_detection(payload: bytes, key: bool) -> None:
    assert header.is_h264_keyframe(_packet(payload=payload), 12) is key


def test_retransmission_ring_is_indexed_by_seq_and_bounded_by_age() -> None:
    ring = RetransmissionBuffer(size=8, max_age_ms=1000)
    for seq in range(65530, 65536):
        ring.store(seq, bytes([seq & 0xFF]), now_ms=0)
    for seq in range(0, 4):
        ring.store(seq, bytes([seq]), now_ms=500)
    assert ring.get(65535, 600) == b"\xff"
    assert ring.get(3, 600) == b"\x03"
    assert ring.get(65530, 600) is None  # overwritten by seq 2 (same slot)
    assert ring.get(65535, 1500) is None  # too old
    assert ring.get(3, 1400) == b"\x03"
    assert ring.get(12345, 600) is None
    with pytest.raises(ValueError):
        RetransmissionBuffer(size=100)


@pytest.mark.parametrize(
    "seqs",
    [[1], [1, 2, 3], [65535, 0, 1, 17], [10, 26, 27, 100], list(range(50))],
)
def test_nack_items_round_trip(seqs: list[int]) -> None:
    assert list(nack_items_to_seqs(seqs_to_nack_items(seqs))) == seqs


def _with_extensions(ids: dict[str, int], **values: Any) -> bytes:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    uris = {
        "mid": "urn:ietf:params:rtp-hdrext:sdes:mid",
        "audio_level": header.EXT_URI_AUDIO_LEVEL,
        "abs_send_time": header.EXT_URI_ABS_SEND_TIME,
    }
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uris[name]) for name, i in ids.items()
            ]
        )
    )
    p = RtpPacket(payload_type=111, sequence_number=1, timestamp=2, ssrc=3, payload=b"opus")
    for name, value in values.items():
        setattr(p.extensions, name, value)
    return p.serialize(m)


def _parse_canonical(data: bytes) -> RtpPacket:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=header.EXT_AUDIO_LEVEL, uri=header.EXT_URI_AUDIO_LEVEL),
                RTCRtpHeaderExtensionParameters(
                    id=header.EXT_ABS_SEND_TIME, uri=header.EXT_URI_ABS_SEND_TIME
                ),
                RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            ]
        )
    )
    return RtpPacket.parse(data, m)


@pytest.mark.parametrize(
    "ids",
    [
        {"mid": 1, "audio_level": 2, "abs_send_time": 3},  # aiortc's offer
        {"audio_level": 1, "abs_send_time": 2, "mid": 4},  # Chromium's offer
        {"mid": 9, "audio_level": 14, "abs_send_time": 5},
    ],
)
def test_extension_ids_are_remapped_to_the_subscriber_ids_and_mid_removed(ids: dict[str, int]) -> None:
    uris = {
        "mid": "urn:ietf:params:rtp-hdrext:sdes:mid",
        "audio_level": header.EXT_URI_AUDIO_LEVEL,
        "abs_send_time": header.EXT_URI_ABS_SEND_TIME,
    }
    table = header.extension_table([(i, uris[n]) for n, i in ids.items()])
    assert table is not None
    data = _with_extensions(ids, mid="0", audio_level=(True, 42), abs_send_time=0x123456)
    buf = bytearray(data)
    header.remap_extensions(buf, table)
    assert len(buf) == len(data)
    out = _parse_canonical(bytes(buf))
    assert out.extensions.audio_level == (True, 42)
    assert out.extensions.abs_send_time == 0x123456
    assert out.extensions.mid is None
    assert out.payload == b"opus"


def test_identical_ids_need_no_rewrite_and_truncated_extensions_raise() -> None:
    assert (
        header.extension_table([(1, header.EXT_URI_AUDIO_LEVEL), (3, header.EXT_URI_ABS_SEND_TIME)]) is None
    )
    table = header.extension_table([(2, header.EXT_URI_AUDIO_LEVEL)])
    assert table is not None
    with pytest.raises(ValueError):
        header.remap_extensions(bytearray(b"\x90\x60" + bytes(10) + b"\xbe\xde\x00\x09\x10"), table)


def test_rtx_of_a_packet_whose_padding_count_exceeds_its_payload_keeps_the_whole_header() -> None:
    # found by fuzzing (tests/fuzz/crashes/rtp/): the count deleted header bytes from the RTX packet
    packet = bytearray(_packet(payload=b"\x01\x02\x03"))
    packet[0] |= 0x20  # P bit: the last octet counts the padding octets...
    packet[-1] = 200  # ...and claims far more than the 3-octet payload holds
    rtx = header.build_rtx(bytes(packet), 97, 1, 0x5EED, 1000)
    assert header.header_length(rtx) == 12 and len(rtx) == len(packet) + 2
    assert not rtx[0] & 0x20
