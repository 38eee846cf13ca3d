"""RFC 6464 ssrc-audio-level: parse from real (aiortc-serialized) packets, map to amplitude."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from relayroom.media.rtp.audio_level import amplitude, parse_audio_level
from relayroom.media.rtp.header import EXT_URI_AUDIO_LEVEL


def _packet(ext_id: int, level: int | None, voice: bool = False) -> bytes:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=ext_id, uri=EXT_URI_AUDIO_LEVEL),
                RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            ]
        )
    )
    p = RtpPacket(payload_type=111, sequence_number=1, timestamp=960, ssrc=7, payload=b"\xfc" * 20)
    p.extensions.mid = "0"
    if level is not None:
        p.extensions.audio_level = (voice, level)
    return p.serialize(m)


@pytest.mark.parametrize(("level", "voice"), [(0, True), (30, False), (127, False), (64, True)])
def test_level_and_voice_flag_are_read_from_the_extension(level: int, voice: bool) -> None:
    assert parse_audio_level(_packet(1, level, voice), 1) == (level, voice)
    assert parse_audio_level(_packet(9, level, voice), 9) == (level, voice)


def test_a_packet_without_the_extension_has_no_level() -> None:
    assert parse_audio_level(_packet(1, None), 1) is None
    assert parse_audio_level(_packet(1, 20), 2) is None


@pytest.mark.parametrize(("dbov", "amp"), [(0, 1.0), (20, 0.1), (40, 0.01), (127, 0.0)])
def test_amplitude_is_linear_with_one_at_zero_dbov(dbov: int, amp: float) -> None:
    assert amplitude(dbov) == pytest.approx(amp)
