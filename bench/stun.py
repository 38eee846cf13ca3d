"""`python -m bench.stun`: µs per ICE consent check, the STUN fast path against the slow path, same run.

A Binding request laid out as Chrome sends it (USERNAME, GOOG-NETWORK-INFO, ICE-CONTROLLING,
USE-CANDIDATE, PRIORITY, MESSAGE-INTEGRITY, FINGERPRINT) is checked and answered both ways, as
``Worker.handle_stun`` does: slow = aioice's parser + integrity check + a response built by aioice;
fast = ``fast_binding`` + ``IntegrityKey.check`` + ``binding_success``. Both give the same bytes
(asserted here too). Several rounds, alternating; the best round of each is reported, and the ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import statistics
import struct
import time
import zlib
from collections.abc import Callable

from relayroom.media.ice import stun

PWD = "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Ng"
ADDR = ("127.0.0.1", 40321)


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) & 3)


def chrome_request() -> bytes:
    body = b"".join(
        (
            _attr(0x0006, b"3f2a9c81b07d4e65:Ab1+"),  # USERNAME
            _attr(0xC057, b"\x00\x01\x03\xe7"),  # GOOG-NETWORK-INFO
            _attr(0x802A, (0x1122334455667788).to_bytes(8, "big")),  # ICE-CONTROLLING
            _attr(0x0025, b""),  # USE-CANDIDATE
            _attr(0x0024, (1853824767).to_bytes(4, "big")),  # PRIORITY
        )
    )
    tid = bytes(range(1, 13))
    head = struct.pack("!HHI12s", 1, len(body) + 24, 0x2112A442, tid)
    body += _attr(0x0008, hmac.new(PWD.encode(), head + body, hashlib.sha1).digest())
    head = struct.pack("!HHI12s", 1, len(body) + 8, 0x2112A442, tid)
    body += _attr(0x8028, struct.pack("!I", zlib.crc32(head + body) ^ 0x5354554E))
    return head + body


def slow(data: bytes) -> bytes:
    req = stun.parse_binding_request(data)
    assert req is not None and stun.check_integrity(req, PWD)
    return stun.build_binding_success(req, ADDR, PWD)


def make_fast() -> Callable[[bytes], bytes]:
    key = stun.IntegrityKey(PWD)  # once per transport (and ICE restart)

    def fast(data: bytes) -> bytes:
        found = stun.fast_binding(data)
        assert found is not None and key.check(data)
        return key.binding_success(data[8:20], ADDR)

    return fast


def per_call_us(fn: Callable[[bytes], bytes], data: bytes, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn(data)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.stun", description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=5000, help="checks per round and path")
    args = ap.parse_args()
    data = chrome_request()
    fast = make_fast()
    assert fast(data) == slow(data), "fast and slow paths disagree"
    slow_us: list[float] = []
    fast_us: list[float] = []
    for _ in range(args.rounds):
        slow_us.append(per_call_us(slow, data, args.n))
        fast_us.append(per_call_us(fast, data, args.n))
    ratios = [f / s for f, s in zip(fast_us, slow_us, strict=True)]
    print(f"STUN Binding check + response, {len(data)}-octet request, {args.rounds} rounds x {args.n}")
    print(f"load average {os.getloadavg()[0]:.1f} (the machine is shared: compare the ratio, not the µs)")
    print(f"slow path (aioice): best {min(slow_us):6.2f} µs, median {statistics.median(slow_us):6.2f} µs")
    print(f"fast path:          best {min(fast_us):6.2f} µs, median {statistics.median(fast_us):6.2f} µs")
    print(
        f"fast / slow: {min(fast_us) / min(slow_us):.3f} (best rounds), "
        f"per-round median {statistics.median(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
