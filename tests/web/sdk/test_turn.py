"""Two pages relaying all their media through a real coturn (started by the test, loopback only,
`allow-loopback-peers`) with TRTC's `proxy: {iceTransportPolicy: 'relay'}`: over UDP and over TCP to
coturn, with the credentials the server hands out at entry or the page's own `proxy.turnServer`; and
forged or expired credentials, which coturn refuses and the page reports."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from relayroom.auth.turn_rest import turn_credential
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from tests.coturn import Coturn, running_coturn, turnserver_or_skip
from tests.serving import eventually, served
from tests.web.conftest import Browser, Server, require_chromium
from tests.web.helpers import record_events, sdk_page, wait_media_from

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SECRET = "relayroom-browser-turn-secret"


@contextlib.asynccontextmanager
async def turn_server(tmp_path: Path, b: Browser, turn_urls: list[str]) -> AsyncIterator[Server]:
    """The whole server (dev mode) handing out `turn_urls` with credentials of SECRET (none: no TURN).
    The browser's pages are closed before the server stops (else they would try to reconnect)."""
    require_chromium()
    settings = Settings(
        dev=True,
        data_dir=tmp_path / "data",
        media={"workers": 1, "ports": [0], "loopback_only": True},
        turn={"urls": turn_urls, "secret": SECRET} if turn_urls else {},
    )
    first: list[FirstStart] = []
    app = create_app(settings, on_first_start=first.append)
    async with served(app) as port:
        try:
            yield Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/signal", app, first[-1])
        finally:
            for page in b.pages:
                await page.close()


ENTER = """async ([userId, roomId, proxy]) => {
  window.rr = RelayRoom.create();
  window.__errors = [];
  rr.on('error', (e) => window.__errors.push({code: e.code, extraCode: e.extraCode, message: e.message}));
  const {sdkAppId, userSig} = await window.userSig(userId);
  await rr.enterRoom({sdkAppId, userId, userSig, roomId, autoReceiveVideo: true, proxy});
  await rr.startLocalAudio();
  await rr.startLocalVideo({view: 'me', option: {profile: '240p'}});
}"""

# The selected candidate pair of a connection: {local: candidateType, relayProtocol, remote: ...}.
SELECTED_PAIR = """async (which) => {
  const pc = which === 'send' ? rr._send.pc : rr._recv.pc;
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  const pair = pairId && stats.get(pairId);
  if (!pair || pair.state !== 'succeeded') return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {local: local.candidateType, relayProtocol: local.relayProtocol || null, localPort: local.port,
    remote: remote.candidateType, remoteAddress: remote.address};
}"""


async def relay_page(b: Browser, server: Server, user: str, room: int, proxy: dict[str, Any]) -> Any:
    page = await sdk_page(b, server, user)
    await page.evaluate(ENTER, [user, room, proxy])
    await record_events(page, "rr")
    return page


async def assert_relayed(page: Any, coturn: Coturn, transport: str) -> None:
    for which in ("send", "recv"):
        pair = await eventually(
            functools.partial(page.evaluate, SELECTED_PAIR, which), within=30, what=f"{which} pair"
        )
        assert pair["local"] == "relay", pair
        # relayProtocol: how the page reaches coturn
        assert pair["relayProtocol"] == transport, pair
        assert pair["remoteAddress"] == "127.0.0.1", pair
    assert await page.evaluate("window.__errors") == []


def proxy_turn_server(coturn: Coturn, transport: str, user: str, expires_at: int) -> dict[str, str]:
    cred = turn_credential(SECRET, user, expires_at)
    return {"url": coturn.url(transport), "username": cred.username, "credential": cred.credential}


@pytest.mark.parametrize(
    ("transport", "credentials"), [("udp", "server"), ("tcp", "server"), ("udp", "proxy")]
)
async def test_two_relay_only_pages_play_each_other_through_coturn(
    tmp_path: Path, chromium: Browser, transport: str, credentials: str
) -> None:
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        urls = [coturn.url(transport)] if credentials == "server" else []
        async with turn_server(tmp_path, chromium, urls) as server:
            expires = int(time.time()) + 600
            pages = {}
            for user in ("alice", "bob"):
                proxy: dict[str, Any] = {"iceTransportPolicy": "relay"}
                if credentials == "proxy":
                    proxy["turnServer"] = proxy_turn_server(coturn, transport, user, expires)
                pages[user] = await relay_page(chromium, server, user, 41, proxy)
            await wait_media_from(pages["alice"], ["bob"], rr_expr="rr")
            await wait_media_from(pages["bob"], ["alice"], rr_expr="rr")
            for page in pages.values():
                await assert_relayed(page, coturn, transport)
            log = coturn.log_text()
            for user in ("alice", "bob"):
                assert f":{user}>: incoming packet CHANNEL_BIND processed, success" in log or (
                    f":{user}>: incoming packet SEND processed, success" in log
                ), log[-2000:]
            if transport == "tcp":
                assert "tcp or tls connected to: 127.0.0.1" in log


async def test_forged_or_expired_turn_credentials_are_refused_and_the_page_says_so(
    tmp_path: Path, chromium: Browser
) -> None:
    turnserver_or_skip()
    with running_coturn(tmp_path / "coturn", SECRET) as coturn:
        async with turn_server(tmp_path, chromium, []) as server:
            now = int(time.time())
            forged = {
                "url": coturn.url("udp"),
                "username": f"{now + 600}:carol",
                "credential": "Zm9yZ2VkIGJ5IGEgdGVzdA==",
            }
            expired = proxy_turn_server(coturn, "tcp", "dave", now - 60)
            cases = {"carol": forged, "dave": expired}
            for user, turn_server_option in cases.items():
                page = await relay_page(
                    chromium,
                    server,
                    user,
                    42,
                    {"turnServer": turn_server_option, "iceTransportPolicy": "relay"},
                )
                errors = await eventually(
                    functools.partial(page.evaluate, "window.__errors"), within=40, what="error"
                )
                assert errors[0]["code"] == 5500 and errors[0]["extraCode"] == 5511, errors
                assert "refused the credentials" in errors[0]["message"], errors
                assert turn_server_option["url"] in errors[0]["message"], errors
                # nothing got through: no relayed pair was selected
                assert await page.evaluate(SELECTED_PAIR, "send") is None
            log = coturn.log_text()
            assert "401" in log, log[-2000:]

            # relay-only with no TURN server anywhere: refused at entry (5000), and the member is gone
            page = await sdk_page(chromium, server, "erin")
            result = await page.evaluate(
                """async () => {
                  const rr = RelayRoom.create();
                  const {sdkAppId, userSig} = await window.userSig('erin');
                  try {
                    const proxy = {iceTransportPolicy: 'relay'};
                    await rr.enterRoom({sdkAppId, userId: 'erin', userSig, roomId: 42, proxy});
                    return 'entered';
                  } catch (e) { return [e.code, e.message, rr.connectionState]; }
                }"""
            )
            assert result[0] == 5000 and "needs a TURN server" in result[1] and result[2] == "DISCONNECTED", (
                result
            )
