"""`python -m bench.join`: join to first frame with real Chromium viewers (scenario ``join``).

One Chromium page publishes its (fake) camera and microphone in a room of a real RelayRoom server
(the full app, one media worker, on 127.0.0.1). Then N viewers (default 30) join one after the other,
each in a fresh browser context: from the moment the page calls ``enterRoom`` to the SDK's
``first-video-frame`` of the publisher (the remote ``<video>`` shows its first frame). Each viewer
starts the remote video on ``remote-video-available`` (TRTC v5 style; with ``--auto`` it enters with
``autoReceiveVideo``, so the video is subscribed at entry) and leaves after its first frame,
so every join sees the same room. Also recorded per join, from the same start: ``enterRoom`` resolved,
``remote-video-available``, the remote track's arrival (SDK ``track`` event).

Prints p50/p95/max of each and writes bench/results/<date>-join.json. Run it before and after a
change on the same machine; the distribution, not one number, is the result.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, Browser, running_server
from tests.web.helpers import sdk_page

RESULTS = Path(__file__).resolve().parent / "results"
ROOM = 4242

PUBLISH = """async (roomId) => {
  window.rr = RelayRoom.create();
  const {sdkAppId, userSig} = await window.userSig('pub');
  await rr.enterRoom({sdkAppId, userId: 'pub', userSig, roomId});
  await rr.startLocalAudio();
  await rr.startLocalVideo({view: 'me', option: {profile: '480p'}});
}"""

# Resolves with the times (ms since the enterRoom call) of each step of one viewer's join.
JOIN = """async ([userId, roomId, autoReceiveVideo]) => {
  const {sdkAppId, userSig} = await window.userSig(userId);
  const rr = RelayRoom.create();
  window.rr = rr;
  const t = {};
  const at = () => performance.now() - t0;
  const first = new Promise((resolve) => {
    rr.on('first-video-frame', (e) => { if (e.userId === 'pub') { t.firstFrame = at(); resolve(); } });
  });
  rr.on('remote-video-available', (e) => {
    if (e.userId !== 'pub') return;
    t.available = at();
    rr.startRemoteVideo({userId: 'pub', streamType: e.streamType, view: 'remote'});
  });
  rr.on('track', (e) => {
    if (e.userId === 'pub' && e.track && e.track.kind === 'video' && t.track === undefined) t.track = at();
  });
  const t0 = performance.now();
  await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveVideo});
  t.entered = at();
  await Promise.race([first, new Promise((r) => setTimeout(r, 10000))]);
  return t;
}"""

STEPS = ("entered", "available", "track", "firstFrame")


async def _receiving_transports(server: Any) -> list[dict[str, Any]]:
    from relayroom.control.deps import container_of

    media = container_of(server.app).media
    dump = await media.dump()
    keys = ("id", "state", "estimateBps", "allocation", "trials", "bwe", "txPackets")
    return [
        {
            **{k: t.get(k) for k in keys},
            "consumers": [
                {k: c.get(k) for k in ("kind", "packets", "paused", "keyframeRequests", "bitrate")}
                for c in t["consumers"]
            ],
        }
        for w in dump["workers"]
        for r in w.get("routers", [])
        for t in r["transports"]
        if t["consumerIds"]
    ]


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)
    p95 = values[min(len(values) - 1, max(0, round(0.95 * len(values)) - 1))]
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1),
        "p95": round(p95, 1),
        "max": round(values[-1], 1),
        "min": round(values[0], 1),
    }


async def run(viewers: int, pause_s: float, auto: bool) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        async with running_server(Path(tmp)) as server, async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            b = Browser(browser)
            try:
                pub = await sdk_page(b, server, "pub")
                await pub.evaluate(PUBLISH, ROOM)
                await asyncio.sleep(3)  # the publisher's encoder settles
                joins: list[dict[str, float]] = []
                for i in range(viewers):
                    page = await sdk_page(b, server, f"v{i}")
                    t = await page.evaluate(JOIN, [f"v{i}", ROOM, auto])
                    if "firstFrame" not in t:  # what the worker knows of the viewers' transports
                        t["worker"] = await _receiving_transports(server)
                    await page.evaluate("() => rr.exitRoom()")
                    joins.append(t)
                    print(f"viewer {i:2d}: " + "  ".join(f"{k} {t.get(k, float('nan')):7.1f}" for k in STEPS))
                    if "worker" in t:
                        print("   no first frame; the worker's receive transports:", json.dumps(t["worker"]))
                    await page.context.close()
                    await asyncio.sleep(pause_s)
            finally:
                await browser.close()
    missed = sum(1 for t in joins if "firstFrame" not in t)
    return {
        "scenario": "join",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "viewers": viewers,
        "autoReceiveVideo": auto,
        "noFirstFrameWithin10s": missed,
        "ms": {k: _stats([t[k] for t in joins if k in t]) for k in STEPS},
        "joins": joins,
        "consoleErrors": b.errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.join", description=__doc__)
    ap.add_argument("--viewers", type=int, default=30)
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between two viewers")
    ap.add_argument("--label", default="", help="a name for this run in the results file")
    ap.add_argument(
        "--auto",
        action="store_true",
        help="enterRoom with autoReceiveVideo: the video is subscribed at entry (its consumer exists "
        "before the receive transport connects) instead of on remote-video-available",
    )
    args = ap.parse_args()
    result = asyncio.run(run(args.viewers, args.pause, args.auto))
    result["label"] = args.label
    print()
    for k in STEPS:
        s = result["ms"][k]
        if s:
            print(f"{k:11s} p50 {s['p50']:7.1f}  p95 {s['p95']:7.1f}  max {s['max']:7.1f} ms  (n={s['n']})")
    print(f"no first frame within 10 s: {result['noFirstFrameWithin10s']}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
    out = RESULTS / f"{stamp}-join{('-' + args.label) if args.label else ''}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
