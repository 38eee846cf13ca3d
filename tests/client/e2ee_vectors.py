"""Writes tests/data/e2ee/vectors.json: the frame format's interoperability vectors.

Both SDKs' unit tests check them (tests/client/test_sframe.py, tests/web/sdk/lib/sframe.test.js), so a
frame one SDK encrypts is the frame the other decrypts, byte for byte. Regenerate only when the format
changes on purpose (then both SDKs must change with it): ``.venv/bin/python -m tests.client.e2ee_vectors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relayroom.client import e2ee, sframe

PATH = Path(__file__).resolve().parents[1] / "data" / "e2ee" / "vectors.json"

# Frames as an encoder makes them: a VP8 key frame (P bit 0, start code 9d 01 2a, 320x240), a VP8 delta
# frame (P bit 1), an Opus packet (TOC 0x78: CELT FB 20 ms, one frame), and frames that are nothing but
# their clear part.
VP8_KEY = bytes.fromhex("50420 09d012a4001f000".replace(" ", "")) + bytes(range(40))
VP8_DELTA = bytes.fromhex("b10400") + bytes(range(100, 130))
OPUS = bytes.fromhex("78") + bytes(range(200, 240))
VP8_TINY_KEY = bytes.fromhex("5042009d012a4001f000")  # nothing but the clear part
OPUS_TOC_ONLY = bytes.fromhex("f8")


def build() -> dict[str, Any]:
    kdf = []
    for sdk_app_id, room_id, str_room_id, key in (
        (1400000001, 1234, None, "correct horse battery staple"),
        (1400000001, None, "1234", "correct horse battery staple"),
        (1400000001, 1234, None, "pässwörd ✓"),
        (1400000002, 1234, None, bytes(range(32))),
    ):
        salt = e2ee.room_salt(sdk_app_id, room_id, str_room_id)
        entry: dict[str, Any] = {"sdkAppId": sdk_app_id, "salt": salt.hex()}
        if room_id is not None:
            entry["roomId"] = room_id
        else:
            entry["strRoomId"] = str_room_id
        if isinstance(key, str):
            entry["passphrase"] = key
        else:
            entry["rawKey"] = key.hex()
        entry["baseKey"] = e2ee.base_key_from(key, salt).hex()
        kdf.append(entry)

    base = bytes.fromhex(kdf[0]["baseKey"])
    ratchets = [base]
    for _ in range(3):
        ratchets.append(sframe.ratchet(ratchets[-1]))
    keys = [{"baseKey": k.hex(), "tag": e2ee.key_tag(k), "next": sframe.ratchet(k).hex()} for k in ratchets]

    frames = []
    for codec, plain, kid, ctr in (
        ("vp8", VP8_KEY, e2ee.make_kid(0x123456789ABC, e2ee.key_tag(base), 0), 0),
        ("vp8", VP8_DELTA, e2ee.make_kid(0x123456789ABC, e2ee.key_tag(base), 0), 1),
        ("vp8", VP8_DELTA, e2ee.make_kid(0x0000000000FF, e2ee.key_tag(base), 3), 70000),
        ("opus", OPUS, e2ee.make_kid(0xABCDEF012345, e2ee.key_tag(base), 0), 5),
        ("vp8", VP8_TINY_KEY, e2ee.make_kid(1, e2ee.key_tag(base), 0), 2),
        ("opus", OPUS_TOC_ONLY, e2ee.make_kid(1, e2ee.key_tag(base), 0), 3),
        ("other", OPUS, 5, 7),
    ):
        frame_key = sframe.FrameKey(base, kid)
        frames.append(
            {
                "codec": codec,
                "baseKey": base.hex(),
                "kid": str(kid),  # JSON numbers lose precision past 2^53 in JavaScript
                "ctr": ctr,
                "plain": plain.hex(),
                "clear": sframe.clear_length(codec, plain),  # type: ignore[arg-type]
                "encrypted": sframe.protect(codec, plain, frame_key, ctr).hex(),  # type: ignore[arg-type]
            }
        )
    return {
        "format": "RelayRoom E2EE v1: SFrame (RFC 9605) AES_128_GCM_SHA256_128, docs/e2ee.md",
        "pbkdf2Iterations": e2ee.PBKDF2_ITERATIONS,
        "kdf": kdf,
        "keys": keys,
        "frames": frames,
    }


if __name__ == "__main__":
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {PATH}")
