"""A Chromium that cannot use UDP at all calls a normal Chromium through the demo page over ICE-TCP.

How UDP is removed, and why this way: ``--force-webrtc-ip-handling-policy=disable_non_proxied_udp``
does not do it here (Debian's Chromium 156, headless, no proxy: the page still gathers UDP host
candidates on 127.0.0.1 — asserted below, so a browser that starts honouring the flag is noticed). So
the no-UDP browser runs in a network namespace of the test's own (tests/netns.py): its only interface is
its own loopback, the server's UDP port does not exist there, and the test forwards exactly two TCP
ports into it (the HTTP port, for the page and signalling, and the worker's ICE-TCP port). Everything
stays on 127.0.0.1 of the two namespaces. The proof, asserted:

1. from inside the namespace the worker's UDP port answers "port unreachable", while from the test's
   namespace it is bound;
2. the worker received no UDP ICE check at all for the no-UDP user's transports, and selected a TCP
   tuple for both of them;
3. the no-UDP page's getStats: the selected candidate pair of each peer connection is tcp (local
   candidate ``tcptype active``, remote ``passive``).

The normal page, which has both, ends up on UDP (its candidate outranks TCP, and the worker keeps a live
UDP path over a TCP nomination).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from relayroom.media.service import MediaService
from tests.netns import isolated_netns, udp_port_bound_here, why_unavailable
from tests.serving import eventually
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Browser,
    Server,
    require_chromium,
    running_server,
)
from tests.web.helpers import record_events, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# Collects every RTCPeerConnection the page creates (installed before the SDK loads).
CAPTURE_PCS = """
window.__pcs = [];
const NativePC = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePC {
  constructor(...args) { super(...args); window.__pcs.push(this); }
};
"""

# For each connected peer connection: the selected pair's candidates, and every local candidate's protocol.
SELECTED_PAIRS = """async () => {
  const out = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== 'connected') continue;
    const stats = await pc.getStats();
    const byId = new Map();
    stats.forEach((r) => byId.set(r.id, r));
    let pair = null;
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = byId.get(r.selectedCandidatePairId);
    });
    const local = pair ? byId.get(pair.localCandidateId) : null;
    const remote = pair ? byId.get(pair.remoteCandidateId) : null;
    const localProtocols = [];
    stats.forEach((r) => { if (r.type === 'local-candidate') localProtocols.push(r.protocol); });
    out.push({
      local: local && {protocol: local.protocol, tcpType: local.tcpType || null, address: local.address},
      remote: remote && {protocol: remote.protocol, tcpType: remote.tcpType || null, port: remote.port},
      localProtocols,
    });
  }
  return out;
}"""


def require_netns() -> None:
    reason = why_unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the ICE-TCP browser test needs its own network namespace on CI: {reason}")
    pytest.skip(f"no network namespace for the no-UDP browser: {reason}")


async def join(b: Browser, server: Server, name: str, room: int) -> Any:
    """/demo/ with the peer-connection catcher installed; join ``room`` as ``name``."""
    page = await b.page(name)
    await page.add_init_script(CAPTURE_PCS)
    await page.goto(f"{server.base_url}/demo/?room={room}&profile=240p")
    await page.fill("#name", name)
    await record_events(page)
    await page.click("#join-btn")
    await page.wait_for_selector("#state[data-state=CONNECTED]")
    await page.wait_for_selector("#tile-main-me[data-video=on] video")
    return page


async def test_a_page_without_udp_calls_a_normal_page_over_ice_tcp(tmp_path: Path) -> None:
    require_chromium()
    require_netns()
    from playwright.async_api import async_playwright

    async with running_server(tmp_path) as server, isolated_netns() as ns, async_playwright() as p:
        media = server.app.state.media
        assert isinstance(media, MediaService)
        worker = (await media.dump())["workers"][0]
        udp_port, tcp_port = int(worker["port"]), int(worker["tcp"]["port"])
        http_port = int(server.base_url.rsplit(":", 1)[1])
        await ns.forward_tcp(http_port)
        await ns.forward_tcp(tcp_port)
        # proof 1: the worker's UDP port is there for the test, and does not exist for the namespace
        assert await udp_port_bound_here(udp_port)
        assert not await ns.udp_port_bound(udp_port)

        normal = Browser(await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
        no_udp = Browser(
            await p.chromium.launch(
                executable_path=str(ns.chromium_wrapper(tmp_path, CHROMIUM)),
                # the flag that should remove UDP but does not (proof 3 shows the UDP candidates)
                args=[*CHROMIUM_ARGS, "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"],
            )
        )
        try:
            room = 6544
            alice = await join(normal, server, "alice", room)
            bob = await join(no_udp, server, "bob", room)
            await wait_media_from(alice, ["bob"], within=60)
            await wait_media_from(bob, ["alice"], within=60)

            # proof 3: bob's browser still has UDP candidates (the flag did not remove them), but
            # both of his peer connections (send, receive) selected a TCP pair
            bob_pairs = await bob.evaluate(SELECTED_PAIRS)
            assert len(bob_pairs) == 2, bob_pairs
            for pair in bob_pairs:
                assert pair["local"]["protocol"] == "tcp" and pair["local"]["tcpType"] == "active", pair
                assert pair["remote"]["protocol"] == "tcp" and pair["remote"]["port"] == tcp_port, pair
                assert "udp" in pair["localProtocols"], pair

            # the normal page ends up on UDP for both (a browser may move to the TCP pair for a moment
            # when its CPU is starved; the worker keeps sending on UDP, so it comes back)
            async def alice_on_udp() -> bool:
                pairs = await alice.evaluate(SELECTED_PAIRS)
                return len(pairs) == 2 and all(
                    p["local"]["protocol"] == p["remote"]["protocol"] == "udp" for p in pairs
                )

            await eventually(alice_on_udp, within=30, what="the normal page's pairs on udp")

            # proof 2: the worker's view, transport by transport
            dump = await media.dump()
            transports = [t for r in dump["workers"][0]["routers"] for t in r["transports"]]
            over_tcp = [t for t in transports if t["tupleProtocol"] == "tcp"]
            over_udp = [t for t in transports if t["tupleProtocol"] == "udp"]
            assert len(over_tcp) == 2 and len(over_udp) == 2, transports
            for t in over_tcp:
                assert t["iceChecks"]["udp"] == 0 and t["iceChecks"]["tcp"] > 0, t
                assert t["state"] == "connected" and t["rxPackets"] > 0, t
            tcp = dump["workers"][0]["tcp"]
            assert tcp["bound"] >= 2 and tcp["errors"] == 0, tcp
            assert not normal.errors and not no_udp.errors, normal.errors + no_udp.errors
        finally:
            await normal.browser.close()
            await no_udp.browser.close()
