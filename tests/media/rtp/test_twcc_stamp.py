"""with_transport_sequence: our transport-wide sequence number in a packet to a subscriber, whatever
extension block the publisher's packet had; read back by aiortc's own RTP parser."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given
from hypothesis import strategies as st

from relayroom.media.rtp.header import EXT_ABS_SEND_TIME, EXT_TRANSPORT_CC, EXT_URI_ABS_SEND_TIME
from relayroom.media.rtp.twcc import TWCC_URI, find_extension, with_transport_sequence

PAYLOAD = bytes(range(40))


def _extensions_map() -> HeaderExtensionsMap:
    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=EXT_TRANSPORT_CC, uri=TWCC_URI),
                RTCRtpHeaderExtensionParameters(id=EXT_ABS_SEND_TIME, uri=EXT_URI_ABS_SEND_TIME),
            ]
        )
    )
    return ext_map


def _packet(block: bytes | None, csrcs: int = 0, padding: int = 0) -> bytes:
    b0 = 0x80 | csrcs | (0x10 if block is not None else 0) | (0x20 if padding else 0)
    head = struct.pack("!BBHII", b0, 96, 1234, 5678, 42) + bytes(4 * csrcs)
    pad = bytes(padding - 1) + bytes((padding,)) if padding else b""
    return head + (block or b"") + PAYLOAD + pad


def _one_byte(*elements: bytes) -> bytes:
    body = b"".join(elements)
    body += bytes(-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


ABS = bytes(((EXT_ABS_SEND_TIME << 4) | 2, 1, 2, 3))
TWCC = bytes(((EXT_TRANSPORT_CC << 4) | 1, 0xAA, 0xBB))


def _read(data: bytes) -> RtpPacket:
    packet = RtpPacket.parse(data, _extensions_map())
    assert packet.payload == PAYLOAD and packet.sequence_number == 1234 and packet.ssrc == 42
    return packet


@pytest.mark.parametrize(
    ("name", "packet"),
    [
        ("element in place", _packet(_one_byte(ABS, TWCC))),
        ("one-byte block without it", _packet(_one_byte(ABS))),
        ("one-byte block of padding only", _packet(_one_byte(bytes(3)))),
        ("no extension block", _packet(None)),
        ("no block, CSRCs and RTP padding", _packet(None, csrcs=2, padding=7)),
        ("one-byte block, CSRCs and RTP padding", _packet(_one_byte(ABS), csrcs=1, padding=3)),
    ],
)
def test_the_sequence_number_is_readable_by_a_real_rtp_stack(name: str, packet: bytes) -> None:
    for seq in (0, 1, 0x1234, 0xFFFF):
        out = with_transport_sequence(packet, EXT_TRANSPORT_CC, seq)
        parsed = _read(out)
        assert parsed.extensions.transport_sequence_number == seq, name
        if ABS in packet:
            assert parsed.extensions.abs_send_time == 0x010203
        assert len(out) - len(packet) in (0, 4, 8)
    assert with_transport_sequence(packet, EXT_TRANSPORT_CC, 7) == with_transport_sequence(
        with_transport_sequence(packet, EXT_TRANSPORT_CC, 9), EXT_TRANSPORT_CC, 7
    )  # a second stamp overwrites (a retransmission gets a new number, in place)


def test_an_element_in_place_is_overwritten_without_changing_the_size() -> None:
    packet = _packet(_one_byte(ABS, TWCC))
    out = with_transport_sequence(packet, EXT_TRANSPORT_CC, 0x0102)
    assert len(out) == len(packet)
    pos = find_extension(out, EXT_TRANSPORT_CC)
    assert out[pos : pos + 2] == b"\x01\x02"
    assert out[:pos] == packet[:pos] and out[pos + 2 :] == packet[pos + 2 :]


def test_a_two_byte_block_gets_a_two_byte_element() -> None:
    body = bytes((EXT_ABS_SEND_TIME, 3, 1, 2, 3)) + bytes(3)
    packet = _packet(struct.pack("!HH", 0x1000, len(body) // 4) + body)
    out = with_transport_sequence(packet, EXT_TRANSPORT_CC, 513)
    assert _read(out).extensions.transport_sequence_number == 513


def test_a_truncated_extension_block_is_refused() -> None:
    packet = _packet(_one_byte(ABS))
    bad = packet[:14] + b"\x00\x40" + packet[16:]  # claims 64 words
    with pytest.raises(ValueError):
        with_transport_sequence(bad[:20], EXT_TRANSPORT_CC, 1)
    with pytest.raises(ValueError):
        with_transport_sequence(_packet(struct.pack("!HH", 0x1234, 1) + bytes(4)), EXT_TRANSPORT_CC, 1)


@given(
    elements=st.lists(st.sampled_from([ABS, TWCC, bytes(1), bytes(2), b"\x10\x7f"]), max_size=5),
    seq=st.integers(0, 0xFFFF),
    padding=st.integers(0, 20),
)
def test_any_one_byte_block_keeps_its_other_elements(elements: list[bytes], seq: int, padding: int) -> None:
    if elements.count(TWCC) > 1:
        elements = [e for e in elements if e != TWCC] + [TWCC]
    packet = _packet(_one_byte(*elements) if elements else None, padding=padding)
    out = with_transport_sequence(packet, EXT_TRANSPORT_CC, seq)
    parsed = _read(out)
    assert parsed.extensions.transport_sequence_number == seq
    assert parsed.padding_size == padding
    if ABS in elements:
        assert parsed.extensions.abs_send_time == 0x010203
