"""Page helpers shared by the browser tests."""

from __future__ import annotations

from typing import Any

from tests.serving import eventually
from tests.web.conftest import Browser, Server, artifact

EVENTS = [
    "remote-user-enter",
    "remote-user-exit",
    "remote-audio-available",
    "remote-audio-unavailable",
    "remote-video-available",
    "remote-video-unavailable",
    "custom-message",
    "connection-state-changed",
    "kicked-out",
    "error",
]

RECORD_EVENTS = """(args) => {
  const [rr, names] = args;
  window.__events = window.__events || [];
  for (const name of names) rr.on(name, (d) => {
    const copy = {};
    for (const [k, v] of Object.entries(d || {})) {
      copy[k] = v instanceof ArrayBuffer ? new TextDecoder().decode(v) : (typeof v === 'function' ? 'fn' : v);
    }
    window.__events.push([name, copy]);
  });
}"""


async def record_events(page: Any, rr_expr: str = "demo.rr") -> None:
    await page.evaluate(f"(names) => ({RECORD_EVENTS})([{rr_expr}, names])", EVENTS)


async def events(page: Any, name: str) -> list[dict[str, Any]]:
    rows = await page.evaluate("window.__events || []")
    return [d for n, d in rows if n == name]


async def join_demo(
    b: Browser,
    server: Server,
    name: str,
    room: int,
    *,
    screenshot: str | None = None,
    viewport: tuple[int, int] = (1100, 680),
    profile: str = "240p",
) -> Any:
    """Open /demo/, enter ``name`` and join ``room`` (a camera of ``profile`` + microphone); wait until
    connected."""
    page = await b.page(name, viewport)
    await page.goto(f"{server.base_url}/demo/?room={room}&profile={profile}")
    await page.fill("#name", name)
    if screenshot:
        await page.screenshot(path=str(artifact(screenshot)))
    await record_events(page)
    await page.click("#join-btn")
    await page.wait_for_selector("#state[data-state=CONNECTED]")
    await page.wait_for_selector("#tile-main-me[data-video=on] video")
    return page


async def inbound(page: Any, rr_expr: str = "demo.rr") -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = await page.evaluate(f"{rr_expr}.getRemoteStatistics()")
    return {(r["userId"], r["kind"], r["streamType"]): r for r in rows}


async def wait_media_from(
    page: Any,
    users: list[str],
    *,
    rr_expr: str = "demo.rr",
    video: bool = True,
    audio: bool = True,
    stream_type: str = "main",
    within: float = 40.0,
) -> None:
    """Every listed user's inbound video decodes more frames over time and their audio carries energy."""
    want: list[tuple[str, str, str]] = []
    for u in users:
        if video:
            want.append((u, "video", stream_type))
        if audio:
            want.append((u, "audio", "main"))
    first: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def check() -> bool | dict[str, Any]:
        now = await inbound(page, rr_expr)
        missing = {}
        for key in want:
            row = now.get(key)
            if row is None:
                missing[str(key)] = "no inbound stream"
                continue
            before = first.setdefault(key, row)
            if key[1] == "video":
                if not (row["framesDecoded"] > before["framesDecoded"] and row["framesDecoded"] > 0):
                    missing[str(key)] = f"framesDecoded {before['framesDecoded']} -> {row['framesDecoded']}"
            elif not (row["totalAudioEnergy"] > before["totalAudioEnergy"] or row["audioLevel"] > 0):
                missing[str(key)] = f"audio energy {before['totalAudioEnergy']} -> {row['totalAudioEnergy']}"
        if missing:
            check.last = missing  # type: ignore[attr-defined]
            return False
        return True

    try:
        await eventually(check, within=within, interval=0.5, what=f"media from {users}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; missing: {getattr(check, 'last', None)}") from None


SDK_PAGE = """<head><meta charset="utf-8"></head>
<body><div id="me" style="width:320px;height:240px"></div><div id="remote"></div></body>"""

# Counts WebSockets the page opens (installed before the SDK is used).
COUNT_SOCKETS = """() => {
  window.__sockets = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
}"""


async def sdk_page(b: Browser, server: Server, name: str) -> Any:
    """A blank page on the server's origin with the SDK imported as ``window.RelayRoom`` and a helper
    ``window.userSig(userId)`` that asks the dev endpoint; WebSockets are counted in ``__sockets``."""
    page = await b.page(name)
    # A page the server itself serves (a page Playwright fulfils has no address and Chromium's local
    # network access checks then refuse its connections to 127.0.0.1), rewritten for the test.
    await page.goto(f"{server.base_url}/healthz")
    await page.evaluate("(html) => { document.documentElement.innerHTML = html; }", SDK_PAGE)
    await page.evaluate(COUNT_SOCKETS)
    await page.evaluate(
        """async () => {
          const m = await import('/sdk/relayroom.js');
          window.RelayRoom = m.default;
          window.sdk = m;
          window.userSig = async (userId) => {
            const r = await fetch('/api/dev/usersig', {method: 'POST',
              headers: {'content-type': 'application/json'}, body: JSON.stringify({userId})});
            return r.json();
          };
        }"""
    )
    return page


async def enter_and_publish(
    page: Any, user_id: str, room: int, *, video: bool = True, auto_receive_video: bool = True
) -> None:
    """``window.rr``: enter ``room`` (receiving video automatically unless told not to), publish the
    microphone (and a 240p camera)."""
    await page.evaluate(
        """async ([userId, roomId, video, autoReceiveVideo]) => {
          window.rr = RelayRoom.create();
          const {sdkAppId, userSig} = await window.userSig(userId);
          await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveVideo});
          await rr.startLocalAudio();
          if (video) await rr.startLocalVideo({view: 'me', option: {profile: '240p'}});
        }""",
        [user_id, room, video, auto_receive_video],
    )
    await record_events(page, "rr")
