"""Verifications per second for UserSigs and PrivateMapKeys (`python bench/usersig_bench.py`).

Every client join verifies one UserSig (and a PrivateMapKey when enforced), so this bounds how
fast a signaling node can admit users. Invalid tokens are measured too: an attacker chooses them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from relayroom.auth.privatemapkey import gen_privatemapkey, verify_privatemapkey
from relayroom.auth.usersig import gen_usersig, verify_usersig

SDKAPPID = 1400000000
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
OLD_KEY = "0" * 64
USERID = "bench_user-01"
T0 = 1700000000
BATCH = 200


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn`, run in batches until `seconds` have passed."""
    fn()  # warm up
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(BATCH):
            fn()
        calls += BATCH
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def cases() -> dict[str, Callable[[], object]]:
    """Name → one verification (or generation), each asserting the expected outcome once."""
    usersig = gen_usersig(SDKAPPID, KEY, USERID, 86400, now=T0)
    pmk = gen_privatemapkey(SDKAPPID, KEY, USERID, 86400, room_id=1234, privilege=255, now=T0)
    str_pmk = gen_privatemapkey(SDKAPPID, KEY, USERID, 86400, str_room_id="bench-room", now=T0)
    garbage = "eJ" + "A" * 190 + "__"

    def us(token: str, keys: list[str], now: int = T0) -> Callable[[], object]:
        return lambda: verify_usersig(token, sdkappid=SDKAPPID, userid=USERID, keys=keys, now=now)

    def pm(token: str, room_id: int | None = None, str_room_id: str | None = None) -> Callable[[], object]:
        return lambda: verify_privatemapkey(
            token,
            sdkappid=SDKAPPID,
            userid=USERID,
            keys=[KEY],
            now=T0,
            room_id=room_id,
            str_room_id=str_room_id,
        )

    table: dict[str, tuple[Callable[[], object], str]] = {
        "usersig valid": (us(usersig, [KEY]), "ok"),
        "usersig valid, 2nd of 2 keys (rotation)": (us(usersig, [OLD_KEY, KEY]), "ok"),
        "usersig invalid: wrong key": (us(usersig, [OLD_KEY]), "sig_mismatch"),
        "usersig invalid: expired": (us(usersig, [KEY], T0 + 86401), "expired"),
        "usersig invalid: garbage": (us(garbage, [KEY]), "malformed"),
        "privatemapkey valid (numeric room)": (pm(pmk, room_id=1234), "ok"),
        "privatemapkey valid (string room)": (pm(str_pmk, str_room_id="bench-room"), "ok"),
        "privatemapkey invalid: other room": (pm(pmk, room_id=4321), "room_mismatch"),
    }
    out: dict[str, Callable[[], object]] = {}
    for name, (fn, expected) in table.items():
        got = getattr(fn(), "reason", None)
        if got != expected:
            raise SystemExit(f"{name}: expected {expected}, got {got}")
        out[name] = fn
    out["usersig gen"] = lambda: gen_usersig(SDKAPPID, KEY, USERID, 86400, now=T0)
    return out


def run(seconds: float) -> dict[str, float]:
    return {name: rate(fn, seconds) for name, fn in cases().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per case (default 3)")
    parser.add_argument("--quick", action="store_true", help="0.3 s per case, for smoke runs")
    parser.add_argument("--json", action="store_true", help="print {case: ops_per_second} as JSON")
    args = parser.parse_args(argv)
    results = run(0.3 if args.quick else args.seconds)
    if args.json:
        print(json.dumps({name: round(ops) for name, ops in results.items()}, indent=2))
        return 0
    width = max(map(len, results))
    print(f"python {sys.version.split()[0]}, {BATCH}-call batches")
    for name, ops in results.items():
        print(f"{name:<{width}}  {ops:>10,.0f} /s  {1e6 / ops:7.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
