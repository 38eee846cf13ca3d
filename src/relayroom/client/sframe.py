"""SFrame (RFC 9605) for media frames, as RelayRoom's two SDKs apply it (docs/e2ee.md).

The frame format, byte for byte the browser SDK's (``web/sdk/lib/sframe.js``; shared test vectors):

```
encrypted frame = clear codec bytes || SFrame header || AES-GCM(plaintext rest) || 16-byte tag
                  (metadata)           (KID, CTR)
AAD             = SFrame header || clear codec bytes      (RFC 9605 §4.4.3: header + metadata)
```

- Cipher suite ``AES_128_GCM_SHA256_128`` (0x0004): ``sframe_key``/``sframe_salt`` from a base key and
  the KID with HKDF-SHA256 (§4.4.2); nonce = salt XOR CTR.
- The clear bytes are the ones a packetiser, a depacketiser and the SFU read: a VP8 frame's payload
  header (10 octets of a key frame: frame tag, start code, size; 3 of a delta frame), an Opus packet's
  TOC octet. Their length follows from the clear bytes themselves, so a receiver finds the SFrame header
  without any side channel. They are authenticated (AAD), not encrypted.
- The ratchet is §5.1's: ``base_key[i+1] = HKDF-Expand(HKDF-Extract("", base_key[i]), "SFrame 1.0
  Ratchet", 32)``.

Hand-written on top of ``cryptography``'s AES-GCM and HKDF: the header and the clear-byte rules are a
few lines, and no Python SFrame library implements RFC 9605's final labels.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

CIPHER_SUITE = 0x0004  # AES_128_GCM_SHA256_128
KEY_BYTES = 16  # AEAD.Nk
NONCE_BYTES = 12  # AEAD.Nn
TAG_BYTES = 16  # AEAD.Nt
HASH_BYTES = 32  # Hash.Nh (SHA-256)
MAX_HEADER_BYTES = 17  # config byte + 8-byte KID + 8-byte CTR

Codec = Literal["vp8", "opus", "other"]

VP8_KEY_FRAME_CLEAR = 10  # frame tag (3) + start code (3) + width/height (4), RFC 6386 §9.1
VP8_DELTA_FRAME_CLEAR = 3  # frame tag
OPUS_CLEAR = 1  # TOC byte, RFC 6716 §3.1


class SFrameError(ValueError):
    """A frame that is not an SFrame ciphertext of this format (too short, bad header)."""


class DecryptError(Exception):
    """Authentication failed: wrong key, or the frame was changed on the way."""


# ---------------------------------------------------------------------------------------- header


def encode_header(kid: int, ctr: int) -> bytes:
    """RFC 9605 §4.3: config byte, then KID and CTR in the fewest big-endian octets (values ≥ 8)."""
    if not 0 <= kid < 1 << 64 or not 0 <= ctr < 1 << 64:
        raise ValueError("kid and ctr are 64-bit unsigned integers")
    out = bytearray(1)
    if kid < 8:
        out[0] = kid << 4
    else:
        kid_bytes = kid.to_bytes((kid.bit_length() + 7) // 8, "big")
        out[0] = 0x80 | (len(kid_bytes) - 1) << 4
        out += kid_bytes
    if ctr < 8:
        out[0] |= ctr
    else:
        ctr_bytes = ctr.to_bytes((ctr.bit_length() + 7) // 8, "big")
        out[0] |= 0x08 | (len(ctr_bytes) - 1)
        out += ctr_bytes
    return bytes(out)


def decode_header(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int, int]:
    """``(kid, ctr, header length)`` of the header at ``offset``; SFrameError when it is cut short."""
    if offset >= len(data):
        raise SFrameError("no SFrame header")
    config = data[offset]
    pos = offset + 1
    if config & 0x80:
        n = ((config >> 4) & 0x07) + 1
        if pos + n > len(data):
            raise SFrameError("SFrame header cut short (KID)")
        kid = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        kid = (config >> 4) & 0x07
    if config & 0x08:
        n = (config & 0x07) + 1
        if pos + n > len(data):
            raise SFrameError("SFrame header cut short (CTR)")
        ctr = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        ctr = config & 0x07
    return kid, ctr, pos - offset


# ---------------------------------------------------------------------------------------- keys


def _hkdf_extract(ikm: bytes) -> bytes:
    """HKDF-Extract with the empty salt (RFC 5869: a hash-length string of zeros)."""
    return hmac.new(b"\x00" * HASH_BYTES, ikm, hashlib.sha256).digest()


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def derive_key_salt(base_key: bytes, kid: int) -> tuple[bytes, bytes]:
    """RFC 9605 §4.4.2: ``(sframe_key, sframe_salt)`` for ``kid`` under ``base_key``."""
    secret = _hkdf_extract(base_key)
    suffix = kid.to_bytes(8, "big") + CIPHER_SUITE.to_bytes(2, "big")
    key = _hkdf_expand(secret, b"SFrame 1.0 Secret key " + suffix, KEY_BYTES)
    salt = _hkdf_expand(secret, b"SFrame 1.0 Secret salt " + suffix, NONCE_BYTES)
    return key, salt


def ratchet(base_key: bytes) -> bytes:
    """RFC 9605 §5.1: the next base key of a ratchet."""
    return _hkdf_expand(_hkdf_extract(base_key), b"SFrame 1.0 Ratchet", HASH_BYTES)


class FrameKey:
    """One KID's derived AES-GCM key and salt (RFC 9605 §4.4.3, §4.4.4)."""

    __slots__ = ("_aead", "_salt", "kid")

    def __init__(self, base_key: bytes, kid: int) -> None:
        key, salt = derive_key_salt(base_key, kid)
        self.kid = kid
        self._aead = AESGCM(key)
        self._salt = int.from_bytes(salt, "big")

    def _nonce(self, ctr: int) -> bytes:
        return (self._salt ^ ctr).to_bytes(NONCE_BYTES, "big")

    def seal(self, ctr: int, metadata: bytes, plaintext: bytes) -> bytes:
        """``header || ciphertext || tag`` (RFC 9605 ``encrypt``)."""
        header = encode_header(self.kid, ctr)
        return header + self._aead.encrypt(self._nonce(ctr), plaintext, header + metadata)

    def open(self, ctr: int, header: bytes, metadata: bytes, ciphertext: bytes) -> bytes:
        """The plaintext, or DecryptError."""
        try:
            return self._aead.decrypt(self._nonce(ctr), ciphertext, header + metadata)
        except InvalidTag:
            raise DecryptError("authentication failed") from None


# ---------------------------------------------------------------------------------------- codecs


def codec_of(mime_type: str) -> Codec:
    """``"vp8"``, ``"opus"`` or ``"other"`` (encrypted whole) from a MIME type such as ``video/VP8``."""
    name = mime_type.lower().rsplit("/", 1)[-1]
    if name == "vp8":
        return "vp8"
    if name == "opus":
        return "opus"
    return "other"


def clear_length(codec: Codec, frame: bytes | bytearray | memoryview) -> int:
    """How many leading octets of ``frame`` stay in the clear. It depends only on those octets, so the
    receiver computes it from the encrypted frame as the sender did from the plain one."""
    if codec == "vp8":
        if not frame:
            return 0
        return VP8_DELTA_FRAME_CLEAR if frame[0] & 0x01 else VP8_KEY_FRAME_CLEAR  # P bit: 0 = key frame
    if codec == "opus":
        return OPUS_CLEAR
    return 0


def protect(codec: Codec, frame: bytes, key: FrameKey, ctr: int) -> bytes:
    """The encrypted frame: ``clear || header || ciphertext || tag``. SFrameError for a frame shorter
    than its clear part (no valid VP8 or Opus frame is)."""
    n = clear_length(codec, frame)
    if len(frame) < n:
        raise SFrameError(f"a {codec} frame of {len(frame)} octets is shorter than its {n} clear octets")
    clear = frame[:n]
    return clear + key.seal(ctr, clear, frame[n:])


def parse(codec: Codec, data: bytes) -> tuple[int, int, int, int]:
    """``(clear length, kid, ctr, header length)`` of an encrypted frame; SFrameError if it is not one."""
    n = clear_length(codec, data)
    kid, ctr, hlen = decode_header(data, n)
    if len(data) < n + hlen + TAG_BYTES:
        raise SFrameError("frame shorter than its SFrame header and tag")
    return n, kid, ctr, hlen


def unprotect(codec: Codec, data: bytes, key: FrameKey) -> bytes:
    """The plain frame; DecryptError (wrong key, altered) or SFrameError (not this format)."""
    n, kid, ctr, hlen = parse(codec, data)
    if kid != key.kid:
        raise DecryptError("frame is for another key id")
    return data[:n] + key.open(ctr, data[n : n + hlen], data[:n], data[n + hlen :])
