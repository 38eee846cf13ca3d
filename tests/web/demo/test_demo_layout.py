"""The demo page at 1280x800 in Chromium: tiles keep the camera's shape, the chat's placeholder fits,
the brand mark is the console's. Screenshots go to test-artifacts/browser/ (demo-*-1280x800.png)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.serving import eventually
from tests.web.conftest import Browser, Server, artifact
from tests.web.helpers import join_demo

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

VIEWPORT = (1280, 800)

# Each tile's box and its camera's decoded size, the video's fit, and whether the tile is in the stage.
TILES = """() => {
  const stage = document.getElementById('grid').getBoundingClientRect();
  return [...document.querySelectorAll('.tile')].map((t) => {
    const r = t.getBoundingClientRect();
    const v = t.querySelector('video');
    return {id: t.id, width: r.width, height: r.height, videoWidth: v ? v.videoWidth : 0,
      videoHeight: v ? v.videoHeight : 0, fit: v ? getComputedStyle(v).objectFit : null,
      inside: r.left >= stage.left - 1 && r.right <= stage.right + 1 && r.top >= stage.top - 1 &&
        r.bottom <= stage.bottom + 1};
  });
}"""

# The placeholder's width in the input's font against the room the input has for text.
PLACEHOLDER = """() => {
  const input = document.getElementById('chat-input');
  const cs = getComputedStyle(input);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  return {text: ctx.measureText(input.placeholder).width,
    room: input.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)};
}"""


async def _tiles(page: Any, count: int) -> list[dict[str, Any]]:
    async def ready() -> list[dict[str, Any]] | None:
        tiles: list[dict[str, Any]] = await page.evaluate(TILES)
        return tiles if len(tiles) == count and all(t["videoWidth"] for t in tiles) else None

    result: list[dict[str, Any]] | None = await eventually(ready, what=f"{count} tiles with video")
    assert result is not None
    return result


async def test_two_people_get_landscape_tiles_that_show_the_whole_camera(
    server: Server, chromium: Browser
) -> None:
    room = 5120
    alice = await join_demo(chromium, server, "alice", room, viewport=VIEWPORT, profile="480p")
    await join_demo(chromium, server, "bob", room, viewport=VIEWPORT, profile="480p")
    tiles = await _tiles(alice, 2)
    for t in tiles:
        # the tile has the camera's shape (640x480 from Chromium's fake camera), so nothing is cropped
        # and no bars are needed; the video would be letterboxed (contain) if a camera had another shape
        assert t["width"] > t["height"], t
        assert t["width"] / t["height"] == pytest.approx(t["videoWidth"] / t["videoHeight"], rel=0.02), t
        assert t["fit"] == "contain", t
        assert t["inside"], t
        assert t["width"] >= 400, t  # as large as the stage allows: side by side, not stacked
    assert tiles[0]["width"] == pytest.approx(tiles[1]["width"], abs=1)
    await alice.screenshot(path=str(artifact("demo-two-1280x800.png")))

    # the chat's placeholder is not cut off, and it names the field
    fit = await alice.evaluate(PLACEHOLDER)
    assert fit["text"] <= fit["room"], fit
    # one brand mark: the demo shows the console's logo, and it loads
    logo = await alice.evaluate(
        "() => { const i = document.querySelector('.brand img');"
        " return i && {src: new URL(i.src).pathname, loaded: i.complete && i.naturalWidth > 0}; }"
    )
    assert logo == {"src": "/console/favicon.svg", "loaded": True}


async def test_a_third_person_is_centred_under_the_first_two(server: Server, chromium: Browser) -> None:
    room = 5121
    alice = await join_demo(chromium, server, "alice", room, viewport=VIEWPORT)
    for name in ("bob", "carol"):
        await join_demo(chromium, server, name, room, viewport=VIEWPORT)
    tiles = {t["id"]: t for t in await _tiles(alice, 3)}
    boxes = await alice.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.tile')].map((t) => {"
        " const r = t.getBoundingClientRect(); return [t.id, [r.left, r.right, r.top]]; }))"
    )
    me, bob, carol = boxes["tile-main-me"], boxes["tile-main-bob"], boxes["tile-main-carol"]
    assert me[2] == pytest.approx(bob[2]) and carol[2] > me[2]  # two on top, one below
    assert (carol[0] + carol[1]) / 2 == pytest.approx((me[0] + bob[1]) / 2, abs=2)  # centred under them
    assert all(t["inside"] and t["width"] > t["height"] for t in tiles.values()), tiles
    await alice.screenshot(path=str(artifact("demo-three-1280x800.png")))
