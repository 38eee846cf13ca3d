"""Two SDK pages: screen share (sub stream), camera off and on, remote audio muting, volume and quality."""

from __future__ import annotations

import pytest

from tests.serving import eventually
from tests.web.conftest import Browser, Server
from tests.web.helpers import enter_and_publish, events, inbound, sdk_page, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


async def test_screen_share_camera_toggle_and_remote_audio(server: Server, chromium: Browser) -> None:
    room = 2024
    alice = await sdk_page(chromium, server, "alice")
    bob = await sdk_page(chromium, server, "bob")
    await enter_and_publish(alice, "alice", room)
    await enter_and_publish(bob, "bob", room, video=False)
    await bob.evaluate("() => rr.enableAudioVolumeEvaluation(200)")
    await bob.evaluate(
        "() => { window.__volumes = []; window.__quality = [];"
        " rr.on('audio-volume', (e) => __volumes.push(...e.result));"
        " rr.on('network-quality', (q) => __quality.push(q));"
        " rr.on('statistics', (st) => { window.__stats = st; }); }"
    )
    await wait_media_from(bob, ["alice"], rr_expr="rr")
    await wait_media_from(alice, ["bob"], rr_expr="rr", video=False)

    # screen share: getDisplayMedia needs a user gesture, so a click starts it
    await alice.evaluate(
        """() => {
          const b = document.createElement('button');
          b.id = 'share';
          b.textContent = 'share';
          b.onclick = () => rr.startScreenShare({option: {profile: '480p'}}).then(
            () => { window.__shared = true; }, (e) => { window.__shared = String(e); });
          document.body.appendChild(b);
        }"""
    )
    await alice.click("#share")
    assert await eventually(lambda: alice.evaluate("window.__shared"), what="screen share started") is True
    await eventually(
        lambda: bob.evaluate(
            "() => __events.some(([n, d]) => n === 'remote-video-available' && d.streamType === 'sub')"
        ),
        what="sub stream available at bob",
    )
    await wait_media_from(bob, ["alice"], rr_expr="rr", audio=False, stream_type="sub")
    await alice.evaluate("() => rr.stopScreenShare()")
    await eventually(
        lambda: bob.evaluate(
            "() => __events.some(([n, d]) => n === 'remote-video-unavailable' && d.streamType === 'sub')"
        ),
        what="sub stream gone at bob",
    )

    # camera off (the track is unpublished) and on again (the same m-line carries the new producer)
    await alice.evaluate("() => rr.stopLocalVideo()")
    await eventually(
        lambda: bob.evaluate(
            "() => __events.some(([n, d]) => n === 'remote-video-unavailable' && d.streamType === 'main'"
            " && !d.reason)"
        ),
        what="camera off seen by bob",
    )
    await alice.evaluate("() => rr.startLocalVideo({view: 'me', option: {profile: '240p'}})")
    await eventually(
        lambda: bob.evaluate(
            "() => { const last = (name) => __events.findLastIndex(([n, d]) => n === name && d.streamType"
            " === 'main'); return last('remote-video-available') > last('remote-video-unavailable'); }"
        ),
        what="camera on again seen by bob",
    )
    await wait_media_from(bob, ["alice"], rr_expr="rr")

    # bob stops receiving alice's audio, then takes it back
    await bob.evaluate("() => rr.muteRemoteAudio('alice', true)")
    await eventually(lambda: _no_audio_from(bob, "alice"), what="alice's audio no longer received by bob")
    await bob.evaluate("() => rr.muteRemoteAudio('alice', false)")
    await wait_media_from(bob, ["alice"], rr_expr="rr", video=False)

    volumes = await bob.evaluate("window.__volumes")
    assert any(v["userId"] == "alice" and v["volume"] > 0 for v in volumes), volumes[-5:]
    assert any(v["userId"] == "" for v in volumes)
    quality = await eventually(
        lambda: bob.evaluate("window.__quality.filter((q) => q.downlinkNetworkQuality > 0)"),
        what="network quality",
    )
    assert quality[-1]["downlinkNetworkQuality"] in (1, 2), quality[-1]
    assert quality[-1]["uplinkNetworkQuality"] in (1, 2), quality[-1]
    stats = await eventually(
        lambda: bob.evaluate(
            "() => { const r = __stats && __stats.remoteStatistics.find((x) => x.userId === 'alice');"
            " return r && r.audio.bitrate > 0 && r.video.length && r.video[0].bitrate > 0 ? __stats : null; }"
        ),
        what="statistics with bitrates",
    )
    [from_alice] = [r for r in stats["remoteStatistics"] if r["userId"] == "alice"]
    assert from_alice["audio"]["bitrate"] > 0
    assert [(v["width"], v["height"], v["videoType"]) for v in from_alice["video"]] == [(320, 240, "big")]
    assert from_alice["video"][0]["bitrate"] > 0 and from_alice["video"][0]["frameRate"] > 0, stats
    assert stats["localStatistics"]["audio"]["bitrate"] > 0 and stats["localStatistics"]["video"] == []
    assert stats["bytesReceived"] > 0 and stats["bytesSent"] > 0
    assert not await events(bob, "error") and not await events(alice, "error")


async def _no_audio_from(page: object, user_id: str) -> bool:
    return (user_id, "audio", "main") not in await inbound(page, "rr")
