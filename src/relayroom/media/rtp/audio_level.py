"""Client-to-mixer audio level (RFC 6464): the ``ssrc-audio-level`` header extension.

One octet: V (voice activity, when the sender negotiated ``vad=on``) and a 7-bit level in -dBov
(0 = the loudest a signal can be, 127 = silence or quieter), the RMS of the packet's audio. Senders
put it on every audio packet, so the SFU learns who speaks without decoding a single sample.
"""

from __future__ import annotations

from relayroom.media.rtp.twcc import find_extension

SILENCE_DBOV = 127


def parse_audio_level(data: bytes, ext_id: int) -> tuple[int, bool] | None:
    """(level in -dBov 0..127, voice activity) of an RTP packet, or None when it carries none."""
    pos = find_extension(data, ext_id)
    if pos < 0:
        return None
    b = data[pos]
    return b & 0x7F, bool(b & 0x80)


def amplitude(level_dbov: float) -> float:
    """Linear amplitude 0..1 of a level in -dBov (1.0 = 0 dBov), as WebRTC's ``audioLevel`` stat."""
    return 0.0 if level_dbov >= SILENCE_DBOV else 10 ** (-level_dbov / 20)
