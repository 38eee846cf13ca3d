"""CPU cost of end-to-end encryption in the Python SDK (`python -m bench.e2ee [--rounds 7]`).

Per frame, timed in rounds; the median and the spread (min..max) in µs, and the ratio to a peer
measured in the same run on the same machine:

- VP8 (a real libvpx frame of 640x480, as aiortc packetises it): encrypt and re-packetise
  (``encrypted_payloads``) against libvpx encoding the frame (what the sender does anyway);
  decrypting a key frame against libvpx decoding it;
- Opus (a 20 ms packet of 120 octets): encrypt, decrypt, against aiortc's Opus encoder on 20 ms of audio.

Nothing here is asserted; it is for docs/e2ee.md and for noticing regressions.
"""

from __future__ import annotations

import argparse
import fractions
import statistics
import time
from collections.abc import Callable

import av
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, VpxPayloadDescriptor
from aiortc.jitterbuffer import JitterFrame

from relayroom.client.e2ee import FrameDecryptor, FrameEncryptor, KeyRing
from relayroom.client.e2ee_media import encrypted_payloads


def _rounds(fn: Callable[[], None], rounds: int, per_round: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            fn()
        out.append((time.perf_counter() - start) * 1e6 / per_round)
    return out


def _line(name: str, samples: list[float], peer: list[float] | None = None) -> str:
    med = statistics.median(samples)
    text = f"{name:44s} {med:9.1f} µs  ({min(samples):.1f}..{max(samples):.1f})"
    if peer:
        text += f"  = {med / statistics.median(peer):.3f} x peer"
    return text


def _video_frame(i: int) -> av.VideoFrame:
    frame = av.VideoFrame(640, 480, "yuv420p")
    for n, plane in enumerate(frame.planes):
        plane.update(bytes(((x * 7 + i + n * 50) % 256) for x in range(plane.buffer_size)))
    frame.pts = i * 6000
    frame.time_base = fractions.Fraction(1, 90000)
    return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    keys = KeyRing(b"k" * 32)
    encryptor = FrameEncryptor(keys)
    decryptor = FrameDecryptor(keys, lambda reason, message: None)

    encoder = Vp8Encoder()
    frames = [_video_frame(i) for i in range(4)]
    payloads, _ = encoder.encode(frames[0])
    i = [0]

    def encode() -> None:
        i[0] += 1
        encoder.encode(frames[i[0] % 4])

    encode_us = _rounds(encode, args.rounds, 20)
    payloads, _ = encoder.encode(frames[1])
    frame_bytes = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)
    enc_us = _rounds(lambda: encrypted_payloads("vp8", encryptor, payloads) and None, args.rounds, 500)
    decoder = Vp8Decoder()
    key_payloads, _ = Vp8Encoder().encode(frames[0], force_keyframe=True)
    key_frame = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in key_payloads)
    sealed = encryptor.encrypt("vp8", key_frame)
    dec_us = _rounds(lambda: decryptor.decrypt("vp8", sealed) and None, args.rounds, 200)

    def decode() -> None:
        decoder.decode(JitterFrame(key_frame, 0))

    decode_us = _rounds(decode, args.rounds, 50)

    opus = OpusEncoder()
    audio = av.AudioFrame(format="s16", layout="mono", samples=960)
    audio.planes[0].update(bytes(1920))
    audio.sample_rate = 48000
    audio.pts = 0
    audio.time_base = fractions.Fraction(1, 48000)
    opus_us = _rounds(lambda: opus.encode(audio) and None, args.rounds, 200)
    packet = b"\x78" + bytes(range(119))
    aenc_us = _rounds(lambda: encryptor.encrypt("opus", packet) and None, args.rounds, 2000)
    asealed = encryptor.encrypt("opus", packet)
    adec_us = _rounds(lambda: decryptor.decrypt("opus", asealed) and None, args.rounds, 2000)

    print(f"VP8 frame of {len(frame_bytes)} octets ({len(payloads)} packets), key frame {len(key_frame)}")
    print(_line("peer: libvpx encode 640x480 (delta)", encode_us))
    print(_line("VP8 encrypt + re-packetise", enc_us, encode_us))
    print(_line("peer: libvpx decode 640x480 (key frame)", decode_us))
    print(_line("VP8 decrypt (the same key frame)", dec_us, decode_us))
    print(_line("peer: Opus encode 20 ms", opus_us))
    print(_line("Opus encrypt (120 octets)", aenc_us, opus_us))
    print(_line("Opus decrypt", adec_us, opus_us))


if __name__ == "__main__":
    main()
