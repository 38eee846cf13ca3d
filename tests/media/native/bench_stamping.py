"""CPU per output packet of the forwarding graph with and without transport-cc (not a pytest test).

Run: .venv/bin/python -m tests.media.native.bench_stamping [--rounds 5] [--subs 50] [--packets 600]
One producer, ``--subs`` subscribers of the rig (tests/media/native/rig.py: real transports, SRTP and
loopback sockets), 1,000-byte VP8-shaped packets, ten per event-loop turn; rounds alternate Python /
Python + transport-cc / native / native + transport-cc. With transport-cc the records the native path
leaves are fed to the estimators once per turn, as the ticks do, and counted in the native figure.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.media.native.rig import VIDEO_PT, Rig, rtp

KEY = b"\x10\x00\x9d\x01\x2a"
DELTA = b"\x10\x01\x9d\x01\x2a"
CONFIGS = [
    ("python", False, False),
    ("python+twcc", False, True),
    ("native", True, False),
    ("native+twcc", True, True),
]


def once(native_on: bool, twcc: bool, subs: int, packets: int) -> float:
    """µs of process CPU per output packet."""
    rig = Rig(native_on, gso=True, subscribers=subs, transport_cc=twcc)
    try:
        for s in range(subs):
            rig.consume(s, 0)
        seq = 100
        rig.now = 1000.0
        rig.feed(0, rtp(VIDEO_PT, seq, 0, 1000, KEY + bytes(995), False, 2), rig.now)
        rig.flush()
        t0 = time.process_time()
        for i in range(packets):
            seq += 1
            rig.now = 1000.0 + i * 0.001
            rig.feed(0, rtp(VIDEO_PT, seq, seq * 30, 1000, DELTA + bytes(995), False, 2), rig.now)
            if i % 10 == 9:  # end of the event-loop turn
                rig.sender.flush()
                if rig.native_sender is not None:
                    rig.native_sender.c.flush()
                if twcc:
                    for sub in rig.subs:
                        sub.transport._drain_native_sent()
        return (time.process_time() - t0) / (packets * subs) * 1e6
    finally:
        rig.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--subs", type=int, default=50)
    ap.add_argument("--packets", type=int, default=600)
    args = ap.parse_args()
    res: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGS}
    for _ in range(args.rounds):
        for name, native_on, twcc in CONFIGS:
            res[name].append(once(native_on, twcc, args.subs, args.packets))
    for name, v in res.items():
        print(f"{name:12s} µs/output packet: median {statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})")
    for a, b in (("native+twcc", "python+twcc"), ("native+twcc", "native")):
        print(f"{a} / {b}, same round:", [round(x / y, 2) for x, y in zip(res[a], res[b], strict=True)])


if __name__ == "__main__":
    main()
