"""Forwarding cost of one worker process: µs CPU per output packet (not a pytest test).

Run: .venv/bin/python -m tests.media.bench_forwarding [--subs 10] [--pps 1000] [--seconds 5] [--tcp]
One synthetic publisher sends VP8-looking RTP at --pps to K synthetic subscribers on 127.0.0.1 (all of
them over ICE-TCP with --tcp);
the worker's CPU (utime+stime from /proc) is divided by the packets the subscribers received.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from relayroom.media.types import MediaParams
from relayroom.media.worker_handle import WorkerHandle
from tests.media.loadgen import build_room, cpu_seconds, vp8_payload


async def run(
    subs: int, pps: int, seconds: float, size: int, burst: int, gso: bool = True, tcp: bool = False
) -> dict[str, float]:
    params = MediaParams(workers=1, loopback_only=True, udp_gso=gso)
    worker = WorkerHandle(0, params, lambda *a: None, lambda w: None)
    await worker.start()
    try:
        pub, sinks = await build_room(worker, subs, tcp=tcp)
        payloads = [vp8_payload(size, key=i == 0) for i in range(64)]
        # warm-up: a key frame so consumers start forwarding
        seq, ts = 0, 0
        pub.send_rtp(96, seq, ts, 1234, payloads[0], marker=True)
        await asyncio.sleep(0.3)
        base = [s.received for s in sinks]
        assert worker.pid is not None
        cpu0, t0 = cpu_seconds(worker.pid), time.monotonic()
        sent = 0
        interval = burst / pps
        next_t = t0
        while time.monotonic() - t0 < seconds:
            ts += 3000
            for i in range(burst):  # one "frame" = burst packets back to back
                seq += 1
                pub.send_rtp(96, seq, ts, 1234, payloads[1 + (seq % 63)], marker=i == burst - 1)
                sent += 1
            next_t += interval
            delay = next_t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(0.3)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(worker.pid) - cpu0
        dump = await worker.request("worker.dump")
        received = sum(s.received - b for s, b in zip(sinks, base, strict=True))
        return {
            "subscribers": subs,
            "in_pps": sent / seconds,
            "out_pps": received / elapsed,
            "delivery": received / (sent * subs) if sent else 0.0,
            "worker_cpu_pct": 100 * cpu / elapsed,
            "us_per_out_packet": 1e6 * cpu / received if received else float("nan"),
            "gso_packets_pct": 100 * dump["gsoPackets"] / received if received else 0.0,
        }
    finally:
        await worker.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subs", type=int, default=10)
    ap.add_argument("--pps", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--burst", type=int, default=5, help="packets per frame sent back to back")
    ap.add_argument("--no-gso", action="store_true")
    ap.add_argument("--tcp", action="store_true", help="publisher and subscribers over ICE-TCP")
    args = ap.parse_args()
    import uvloop

    result = uvloop.run(
        run(args.subs, args.pps, args.seconds, args.size, args.burst, not args.no_gso, args.tcp)
    )
    for k, v in result.items():
        print(f"{k:>20}: {v:.2f}" if isinstance(v, float) else f"{k:>20}: {v}")


if __name__ == "__main__":
    main()
