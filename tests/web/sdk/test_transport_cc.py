"""Transport-cc towards a Chromium subscriber: its answer keeps the extension, it reads our transport-wide
sequence numbers (a browser that could not would send no feedback), its feedback parses, and the
send-side estimate (probes included) puts it on the big layer of a publisher that sends big + small."""

from __future__ import annotations

from typing import Any

import pytest

from relayroom.control.deps import container_of
from tests.serving import eventually
from tests.web.conftest import Browser, Server
from tests.web.helpers import sdk_page
from tests.web.sdk.test_small_stream import enter, width_of

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def _estimating(dump: dict[str, Any]) -> list[dict[str, Any]]:
    """Transports of the node that run a send-side estimator."""
    return [
        t
        for w in dump["workers"]
        for r in w.get("routers", [])
        for t in r["transports"]
        if t.get("bwe") is not None
    ]


async def test_a_chromium_subscriber_is_estimated_from_its_transport_cc_feedback(
    server: Server, chromium: Browser
) -> None:
    room = 3141
    pub = await sdk_page(chromium, server, "pub")
    sub = await sdk_page(chromium, server, "sub")
    await enter(pub, "pub", room)
    await pub.evaluate("() => rr.startLocalVideo({view: 'me', option: {profile: '480p', small: true}})")
    await enter(sub, "sub", room)
    await sub.evaluate("() => rr.startRemoteVideo({userId: 'pub', view: 'remote', option: {small: false}})")
    await eventually(lambda: width_of(sub, "pub"), what="the subscriber plays", within=20)
    media = container_of(server.app).media
    assert media is not None

    async def estimated() -> dict[str, Any] | None:
        found = _estimating(await media.dump())
        if len(found) == 1 and found[0]["bwe"]["feedbackPackets"] >= 20 and found[0]["bwe"]["probeResults"]:
            return found[0]
        return None

    transport = await eventually(estimated, what="transport-cc feedback and a probe result", within=20)
    bwe = transport["bwe"]
    assert bwe["feedbackErrors"] == 0 and bwe["probesSent"] >= 1, bwe
    assert transport["estimateBps"] >= 300_000, bwe  # loopback: room for the big layer
    assert set(transport["allocation"].values()) == {1}, transport["allocation"]  # big, as asked
    # the publisher's send transport has no estimator (it gets our feedback instead)
    assert len(_estimating(await media.dump())) == 1
    stats = await sub.evaluate(
        """async () => {
          const pc = rr._recv.pc;
          let nack = 0;
          (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video')
            nack += s.nackCount; });
          return {nack};
        }"""
    )
    print("estimate", transport["estimateBps"], "bwe", bwe, "subscriber", stats)


async def test_a_chromium_transport_cc_subscriber_of_one_encoding_is_forwarded_natively(
    server: Server, chromium: Browser
) -> None:
    """The native fan-out stamps our transport-wide sequence numbers (decision 0032, point 7): Chromium
    decodes what it forwards and its feedback about those numbers drives the estimate."""
    room = 3142
    pub = await sdk_page(chromium, server, "pub")
    sub = await sdk_page(chromium, server, "sub")
    await enter(pub, "pub", room)
    await pub.evaluate("() => rr.startLocalVideo({view: 'me', option: {profile: '480p'}})")
    await enter(sub, "sub", room)
    await sub.evaluate("() => rr.startRemoteVideo({userId: 'pub', view: 'remote'})")
    await eventually(lambda: width_of(sub, "pub"), what="the subscriber plays", within=20)
    media = container_of(server.app).media
    assert media is not None

    async def estimated() -> dict[str, Any] | None:
        dump = await media.dump()
        native = sum(w.get("nativePackets", 0) for w in dump["workers"])
        found = _estimating(dump)
        if native >= 100 and len(found) == 1 and found[0]["bwe"]["feedbackPackets"] >= 20:
            return found[0]
        return None

    dump = await media.dump()
    if not all(w.get("native") for w in dump["workers"]):
        pytest.skip("the native fan-out is off or not built here")
    transport = await eventually(estimated, what="native forwarding and transport-cc feedback", within=20)
    assert transport["bwe"]["feedbackErrors"] == 0, transport["bwe"]
    assert transport["estimateBps"] >= 300_000, transport["bwe"]  # loopback: the numbers arrive in order
    decoded = "() => rr._recv.pc.getStats().then((r) => { let n = 0; r.forEach((s) => {"
    decoded += " if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded; }); return n; })"
    before = int(await sub.evaluate(decoded))
    await eventually(
        lambda: _more(sub, decoded, before + 30),
        what="frames keep decoding",
        within=10,
    )


async def _more(page: Any, script: str, at_least: int) -> bool:
    return int(await page.evaluate(script)) >= at_least
