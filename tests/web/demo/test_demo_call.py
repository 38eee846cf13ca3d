"""Two, then three Chromium pages in one room through the demo page (/demo/)."""

from __future__ import annotations

import pytest

from tests.serving import eventually
from tests.web.conftest import Browser, Server, artifact
from tests.web.helpers import events, join_demo, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


async def test_three_people_call_through_the_demo_page(server: Server, chromium: Browser) -> None:
    room = 4821
    alice = await join_demo(chromium, server, "alice", room, screenshot="demo-join.png")
    bob = await join_demo(chromium, server, "bob", room)
    # two people: each renders the other's video and hears the other's audio
    await wait_media_from(alice, ["bob"])
    await wait_media_from(bob, ["alice"])
    assert await alice.locator("#tile-main-bob[data-video=on] video").count() == 1
    assert await alice.text_content("#room-id") == str(room)

    # screen share from the demo's button: a tile of its own on the other page, then gone again
    await alice.click("#btn-screen")
    await bob.wait_for_selector("#tile-sub-alice[data-video=on] video")
    await wait_media_from(bob, ["alice"], audio=False, stream_type="sub")
    await bob.screenshot(path=str(artifact("screen-share.png")))
    await alice.click("#btn-screen")
    await bob.wait_for_selector("#tile-sub-alice", state="detached")
    await alice.wait_for_selector("#tile-sub-me", state="detached")  # the local preview goes too

    carol = await join_demo(chromium, server, "carol", room)
    await wait_media_from(carol, ["alice", "bob"])
    await wait_media_from(alice, ["bob", "carol"])
    await wait_media_from(bob, ["alice", "carol"])
    await alice.screenshot(path=str(artifact("three-person-call.png")))

    # bob mutes his microphone: the others get remote-audio-unavailable (reason mute) and show it
    await bob.click("#btn-mic")
    for page in (alice, carol):
        await page.wait_for_selector("#tile-main-bob[data-mic=off]")
        unavailable = await events(page, "remote-audio-unavailable")
        assert {"userId": "bob", "reason": "mute"} in unavailable
    await bob.click("#btn-mic")
    for page in (alice, carol):
        await page.wait_for_selector("#tile-main-bob[data-mic=on]")

    # a custom message (the demo's chat, cmdId 1) reaches everyone else
    await carol.fill("#chat-input", "hello from carol")
    await carol.click("#chat-form button")
    for page in (alice, bob):
        await page.wait_for_selector("#messages li:has-text('hello from carol')")
        msgs = await events(page, "custom-message")
        assert {"userId": "carol", "cmdId": 1, "data": "hello from carol"}.items() <= next(
            m for m in msgs if m["userId"] == "carol"
        ).items()

    # carol leaves: her tile disappears on the other pages
    await carol.click("#btn-leave")
    for page in (alice, bob):
        await page.wait_for_selector("#tile-main-carol", state="detached")
        exits = await events(page, "remote-user-exit")
        assert {"userId": "carol", "reason": 0} in exits
    await eventually(lambda: carol.is_visible("#join"), what="carol back on the join screen")

    # the page that left joins again as "alice" (same instance, new entry): the old alice is kicked out,
    # goes back to the join screen and releases her camera
    await carol.fill("#name", "alice")
    await carol.click("#join-btn")
    await carol.wait_for_selector("#state[data-state=CONNECTED]")
    await alice.wait_for_selector("#join", state="visible")
    assert await events(alice, "kicked-out") == [{"reason": "kick"}]
    assert await alice.evaluate(
        "demo.rr.getLocalTrack('video') === null && demo.rr.getLocalTrack('audio') === null"
    )
    await bob.wait_for_selector("#tile-main-alice[data-video=on] video")
    await wait_media_from(bob, ["alice"])
