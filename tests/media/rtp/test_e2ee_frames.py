"""The SFU reads what it needs from end-to-end encrypted VP8 frames as from clear ones: the key-frame
bit (key-frame gating, PLI handling) and a key frame's picture size stay in the clear (docs/e2ee.md)."""

from __future__ import annotations

import fractions
import struct

import av
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor

from relayroom.client import sframe
from relayroom.client.e2ee import FrameEncryptor, KeyRing
from relayroom.client.e2ee_media import encrypted_payloads
from relayroom.media.codecs.vp8 import Vp8Descriptor
from relayroom.media.rtp.header import is_vp8_keyframe, vp8_picture_size

HLEN = 12


def rtp(payload: bytes, seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, 1234, 0x11223344) + payload


def encoded_frames(count: int) -> list[list[bytes]]:
    """``count`` real VP8 frames from libvpx (the first a key frame), as aiortc's RTP payloads."""
    encoder = Vp8Encoder()
    out = []
    for i in range(count):
        frame = av.VideoFrame(320, 240, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 7 + 16) % 256]) * plane.buffer_size)
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, _ = encoder.encode(frame)
        out.append(payloads)
    return out


def test_encrypted_key_frames_are_seen_as_key_frames_with_their_size_and_delta_frames_are_not() -> None:
    encryptor = FrameEncryptor(KeyRing(b"k" * 32))
    frames = encoded_frames(3)
    for i, payloads in enumerate(frames):
        clear_first = rtp(payloads[0], i)
        encrypted = encrypted_payloads("vp8", encryptor, payloads)
        first = rtp(encrypted[0], i)
        assert is_vp8_keyframe(first, HLEN) == is_vp8_keyframe(clear_first, HLEN) == (i == 0)
        assert vp8_picture_size(first, HLEN) == ((320, 240) if i == 0 else None)
        desc = Vp8Descriptor()
        desc.parse(first, HLEN)
        assert desc.start and desc.keyframe == (i == 0)
        # the PictureID the layer rewriter rewrites is the one aiortc gave the clear frame
        assert desc.picture_id == VpxPayloadDescriptor.parse(payloads[0])[0].picture_id


def test_the_rest_of_an_encrypted_frame_is_not_the_picture() -> None:
    encryptor = FrameEncryptor(KeyRing(b"k" * 32))
    [payloads] = encoded_frames(1)
    frame = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)
    packets = encrypted_payloads("vp8", encryptor, payloads)
    encrypted = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in packets)
    assert encrypted[:10] == frame[:10]
    assert frame[10:26] not in encrypted
    _kid, _ctr, header_length = sframe.decode_header(encrypted, 10)
    assert len(encrypted) == len(frame) + header_length + sframe.TAG_BYTES
