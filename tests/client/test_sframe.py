"""The frame format (relayroom.client.sframe): RFC 9605's header and AES-GCM suite, the clear codec
bytes, and the vectors the browser SDK's unit tests check too (tests/data/e2ee/vectors.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relayroom.client import e2ee, sframe
from relayroom.client.sframe import Codec

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "e2ee" / "vectors.json").read_text()
)

# RFC 9605 Appendix C.1 (a few of the header vectors) and C.4 (the AES_128_GCM_SHA256_128 one).
RFC_HEADERS = [
    (0, 0, "00"),
    (0, 255, "08ff"),
    (1, 65536, "1a010000"),
    (255, 0, "80ff"),
    (255, 256, "89ff0100"),
    (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, "ffffffffffffffffffffffffffffffffff"),
]
RFC_KID, RFC_CTR = 0x123, 0x4567
RFC_SUITE4 = {
    "base_key": "000102030405060708090a0b0c0d0e0f",
    "sframe_key": "d34f547f4ca4f9a7447006fe7fcbf768",
    "sframe_salt": "75234edefe07819026751816",
    "metadata": "4945544620534672616d65205747",
    "pt": "64726166742d696574662d736672616d652d656e63",
    "ct": "9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb",
}


@pytest.mark.parametrize(("kid", "ctr", "encoded"), RFC_HEADERS)
def test_the_header_is_encoded_and_decoded_as_rfc_9605_says(kid: int, ctr: int, encoded: str) -> None:
    assert sframe.encode_header(kid, ctr).hex() == encoded
    assert sframe.decode_header(bytes.fromhex(encoded)) == (kid, ctr, len(encoded) // 2)


def test_every_header_length_round_trips() -> None:
    for kid in (0, 7, 8, 255, 256, 1 << 40, (1 << 64) - 1):
        for ctr in (0, 7, 8, 1 << 16, 1 << 63):
            header = sframe.encode_header(kid, ctr)
            assert sframe.decode_header(b"xx" + header + b"rest", 2) == (kid, ctr, len(header))


def test_a_header_cut_short_is_refused() -> None:
    header = sframe.encode_header(1 << 40, 1 << 20)
    for cut in range(len(header)):
        with pytest.raises(sframe.SFrameError):
            sframe.decode_header(header[:cut])
    with pytest.raises(ValueError):
        sframe.encode_header(-1, 0)
    with pytest.raises(ValueError):
        sframe.encode_header(0, 1 << 64)


def test_key_derivation_and_encryption_match_the_rfc_9605_vector() -> None:
    v = RFC_SUITE4
    base = bytes.fromhex(v["base_key"])
    key, salt = sframe.derive_key_salt(base, RFC_KID)
    assert (key.hex(), salt.hex()) == (v["sframe_key"], v["sframe_salt"])
    fk = sframe.FrameKey(base, RFC_KID)
    sealed = fk.seal(RFC_CTR, bytes.fromhex(v["metadata"]), bytes.fromhex(v["pt"]))
    assert sealed.hex() == v["ct"]
    _kid, ctr, hlen = sframe.decode_header(sealed)
    plain = fk.open(ctr, sealed[:hlen], bytes.fromhex(v["metadata"]), sealed[hlen:])
    assert plain.hex() == v["pt"]


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: f"{v['codec']}-{v['ctr']}")
def test_frames_encrypt_to_the_shared_vectors_and_back(vector: dict[str, Any]) -> None:
    codec: Codec = vector["codec"]
    key = sframe.FrameKey(bytes.fromhex(vector["baseKey"]), int(vector["kid"]))
    plain = bytes.fromhex(vector["plain"])
    encrypted = sframe.protect(codec, plain, key, vector["ctr"])
    assert encrypted.hex() == vector["encrypted"]
    assert sframe.clear_length(codec, plain) == vector["clear"]
    assert encrypted[: vector["clear"]] == plain[: vector["clear"]]  # the codec bytes stay readable
    assert sframe.unprotect(codec, encrypted, key) == plain


@pytest.mark.parametrize("vector", VECTORS["kdf"], ids=lambda v: v.get("passphrase", "raw"))
def test_both_sdks_derive_the_same_base_key_for_a_room(vector: dict[str, Any]) -> None:
    salt = e2ee.room_salt(vector["sdkAppId"], vector.get("roomId"), vector.get("strRoomId"))
    assert salt.hex() == vector["salt"]
    key: e2ee.E2EEKey = vector["passphrase"] if "passphrase" in vector else bytes.fromhex(vector["rawKey"])
    assert e2ee.base_key_from(key, salt).hex() == vector["baseKey"]


def test_key_tags_and_ratchet_steps_match_the_shared_vectors() -> None:
    for v in VECTORS["keys"]:
        base = bytes.fromhex(v["baseKey"])
        assert e2ee.key_tag(base) == v["tag"]
        assert sframe.ratchet(base).hex() == v["next"]


def test_a_vp8_key_frame_keeps_its_payload_header_and_a_delta_frame_its_frame_tag() -> None:
    key_frame = bytes.fromhex("5042009d012a4001f000") + b"\x11" * 50
    delta = bytes.fromhex("b10400") + b"\x22" * 50
    assert sframe.clear_length("vp8", key_frame) == 10
    assert sframe.clear_length("vp8", delta) == 3
    assert sframe.clear_length("opus", b"\x78" + b"\x33" * 20) == 1
    assert sframe.clear_length("other", key_frame) == 0
    key = sframe.FrameKey(b"k" * 32, 9)
    out = sframe.protect("vp8", key_frame, key, 0)
    assert out[0] & 0x01 == 0  # the SFU and the receiver's depacketiser still see a key frame
    assert b"\x11" * 8 not in out  # the picture data is not


def test_a_frame_with_another_key_or_altered_does_not_decrypt() -> None:
    frame = bytes.fromhex("b10400") + bytes(range(60))
    key = sframe.FrameKey(b"a" * 32, 300)
    encrypted = sframe.protect("vp8", frame, key, 12)
    with pytest.raises(sframe.DecryptError):
        sframe.unprotect("vp8", encrypted, sframe.FrameKey(b"b" * 32, 300))
    for i in (0, 3, len(encrypted) - 1):  # a clear byte, the header, the tag
        altered = bytearray(encrypted)
        altered[i] ^= 0x02
        with pytest.raises((sframe.DecryptError, sframe.SFrameError)):
            sframe.unprotect("vp8", bytes(altered), key)
    with pytest.raises(sframe.SFrameError):
        sframe.unprotect("vp8", frame[:3], key)  # a clear frame too short to be an encrypted one
    with pytest.raises(sframe.SFrameError):
        sframe.protect("vp8", bytes.fromhex("5042009d01"), key, 0)  # a key frame cut inside its header
