"""Transport-wide CC feedback: extension lookup, packet building (round trip), recorder bookkeeping."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtcpPacket, RtcpRtpfbPacket, RtpPacket

from relayroom.media.rtp import twcc


def _packet(ext_id: int, seq: int) -> bytes:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=ext_id, uri=twcc.TWCC_URI),
            ]
        )
    )
    p = RtpPacket(payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"x")
    p.extensions.mid = "0"
    p.extensions.transport_sequence_number = seq
    return p.serialize(m)


@pytest.mark.parametrize(("ext_id", "seq"), [(3, 0), (5, 65535), (14, 1234)])
def test_find_extension_locates_the_transport_sequence_number(ext_id: int, seq: int) -> None:
    data = _packet(ext_id, seq)
    pos = twcc.find_extension(data, ext_id)
    assert pos > 0 and int.from_bytes(data[pos : pos + 2], "big") == seq
    assert twcc.find_extension(data, 9) == -1
    assert twcc.find_extension(data[:14], ext_id) == -1


@pytest.mark.parametrize(
    "arrivals",
    [
        [1_000_000, 1_000_250, 1_001_000, None, 1_002_000],
        [5_000_000 + 3_000 * i for i in range(30)],
        [2_000_000, None, None, 1_990_000, 2_500_000, 2_100_000],  # negative and large deltas
        [None, 7_000_000, 7_000_100],
    ],
)
def test_feedback_round_trip(arrivals: list[int | None]) -> None:
    data = twcc.build_feedback(1, 2, 7, 65530, arrivals)
    assert len(data) % 4 == 0
    assert data[0] & 0xDF == 0x80 | 15 and data[1] == 205  # V=2, FMT=15 (P bit when padded), RTPFB
    assert (int.from_bytes(data[2:4], "big") + 1) * 4 == len(data)
    assert int.from_bytes(data[8:12], "big") == 2
    if not data[0] & 0x20:  # aiortc reads unpadded RTPFB (as a NACK list, it has no TWCC decoder)
        (pkt,) = RtcpPacket.parse(data)
        assert isinstance(pkt, RtcpRtpfbPacket) and pkt.fmt == 15
    base, got = twcc.parse_feedback(data)
    assert base == 65530 and len(got) == len(arrivals)
    first = next(a for a in arrivals if a is not None)
    ref = first // 64000 * 64000
    for a, g in zip(arrivals, got, strict=True):
        assert (a is None) == (g is None)
        if a is not None and g is not None:
            assert abs((a - ref) - (g - ref)) <= 250 * len(arrivals)


def test_recorder_reports_losses_since_the_last_feedback_and_wraps() -> None:
    r = twcc.TwccRecorder()
    for seq, t in [(65534, 100_000), (65535, 101_000), (1, 103_000)]:  # seq 0 lost, wraps
        r.record(seq, t)
    (fb,) = r.feedback(9, 8)
    base, got = twcc.parse_feedback(fb)
    assert base == 65534 and [g is None for g in got] == [False, False, True, False]
    r.record(3, 105_000)  # 2 lost between feedbacks
    (fb,) = r.feedback(9, 8)
    base, got = twcc.parse_feedback(fb)
    assert base == 2 and [g is None for g in got] == [True, False]
    assert r.feedback(9, 8) == []
    r.record(1, 200_000)  # already reported: ignored
    assert r.feedback(9, 8) == []
