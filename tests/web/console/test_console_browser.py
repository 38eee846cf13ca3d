"""The web console in headless Debian Chromium against a real server with real data.

One walk through every page (the browser suite is kept short): an application created in the UI is
used by Python clients (UserSig from the UI's generator and one signed with the key revealed in the
UI) to enter a room; the Live page shows it; removing a user there really removes them; every action
taken in the UI is on the Operation log page with the signed-in user as actor. Any console error or
failed request fails the test, except the ones it provokes on purpose. Screenshots go to
test-artifacts/console/.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from relayroom.control.usage.meter import MeterParams
from relayroom.control.webhooks.service import WebhookParams
from tests.processes import free_port
from tests.serving import served

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    msg = f"{CHROMIUM} is missing (apt-get install -y chromium): the console browser tests cannot run"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, FirstStart, Path]]:
    seen: list[FirstStart] = []
    settings = Settings(
        data_dir=tmp_path / "data",
        port=free_port(),
        media={"workers": 1, "ports": [0], "loopback_only": True},
    )
    app = create_app(settings, on_first_start=seen.append)
    app.state.meter_params = MeterParams(tick_s=0.5, flush_s=1.0)  # usage shows up within seconds
    app.state.webhook_params = WebhookParams(poll_interval_s=0.2, config_cache_s=0.2)
    async with served(app, settings.port):
        yield f"127.0.0.1:{settings.port}", seen[0], settings.data_dir / "relayroom.db"


class Watch:
    """Collects console errors and failed requests; `allow` marks the ones provoked on purpose."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.allowed: list[tuple[str, int]] = []  # (url regex, status)

    def allow(self, url_pattern: str, status: int) -> None:
        self.allowed.append((url_pattern, status))

    def _is_allowed(self, url: str, status: int | None) -> bool:
        return any(re.search(p, url) and (status is None or status == s) for p, s in self.allowed)

    def attach(self, page: Any) -> None:
        def on_console(msg: Any) -> None:
            if msg.type != "error":
                return
            url = (msg.location or {}).get("url", "")
            m = re.search(r"status of (\d+)", msg.text)
            if m and self._is_allowed(url, int(m.group(1))):
                return
            self.problems.append(f"console error: {msg.text} ({url})")

        def on_response(resp: Any) -> None:
            if resp.status >= 400 and not self._is_allowed(resp.url, resp.status):
                self.problems.append(f"HTTP {resp.status} {resp.request.method} {resp.url}")

        def on_failed(req: Any) -> None:
            failure = req.failure or ""
            if "net::ERR_ABORTED" in failure and req.resource_type == "fetch":
                return  # a poll cut short by navigation
            self.problems.append(f"request failed: {req.method} {req.url} {failure}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("response", on_response)
        page.on("requestfailed", on_failed)


class Hooks:
    """A callback receiver on 127.0.0.1: answers 200 and keeps the event bodies."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.targets: list[str] = []  # the request target of each event (path and query)
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/trtc/callback"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                self.events.append(json.loads(await reader.readexactly(length)))
                self.targets.append(head.split(b" ", 2)[1].decode())
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n"
                )
                writer.write(b'{"code":0}')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("document.getElementById('toasts').replaceChildren()")
    await page.wait_for_timeout(100)  # let transitions settle
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_console_every_page_against_a_real_server(server: tuple[str, FirstStart, Path]) -> None:
    _need_chromium()
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=10_000)
    host, first, db_path = server
    base = f"http://{host}"
    watch = Watch()
    clients: list[RelayRoomClient] = []
    hooks = Hooks()
    await hooks.start()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        ctx = await browser.new_context(
            viewport={"width": 1360, "height": 860}, accept_downloads=True, base_url=base
        )
        await ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = await ctx.new_page()
        watch.attach(page)
        try:
            await _walk(page, expect, base, host, first, db_path, watch, clients, hooks)
        except BaseException:
            print("browser problems so far:", *watch.problems, sep="\n  ")
            await shot(page, "failure")
            raise
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            await hooks.close()
            await ctx.close()
            await browser.close()
    assert watch.problems == []


async def _walk(
    page: Any,
    expect: Any,
    base: str,
    host: str,
    first: FirstStart,
    db_path: Path,
    watch: Watch,
    clients: list[RelayRoomClient],
    hooks: Hooks,
) -> None:
    # ---- sign-in: GET / redirects to the console; a wrong password shows the API's message
    await page.goto(base + "/")
    assert page.url.startswith(base + "/console/")
    await expect(page.get_by_role("heading", name="RelayRoom Console")).to_be_visible()
    await shot(page, "01-sign-in")
    watch.allow(r"/api/v1/auth/login$", 401)
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_label("Password").press("Enter")  # Enter submits
    await expect(page.locator(".login-card .form-error")).to_be_visible()
    assert (await page.locator(".login-card .form-error").inner_text()).strip()
    await page.get_by_label("Password").fill(first.password)
    await page.get_by_label("Password").press("Enter")
    await expect(page.get_by_role("heading", name="Applications", exact=True)).to_be_visible()
    me = await page.evaluate(
        """async () => (await fetch('/api/v1/me', {headers: {Authorization: 'Bearer ' +
        sessionStorage.getItem('relayroom.console.token')}})).json()"""
    )
    actor = f"user:{me['user']['id']}"

    # ---- create an application (Esc closes the dialog; Enter submits it)
    await page.click("#create-app")
    await expect(page.locator("dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog")).to_have_count(0)
    await page.click("#create-app")
    dlg = page.locator("dialog")
    await dlg.get_by_label("Description").fill("Maths lessons")
    await dlg.get_by_label("Tags").fill("env=test, team=web")
    await dlg.get_by_label("Name").fill("Classroom")
    await dlg.get_by_label("Name").press("Enter")
    await expect(page.locator("#app-sdkappid")).to_be_visible()
    sdkappid = int(await page.locator("#app-sdkappid").inner_text())
    assert sdkappid != first.sdkappid

    # ---- key: reveal on click, copy; the secret is in the DOM only after the click
    assert await page.locator("[data-secret=app-key]").count() == 0
    await page.click("#reveal-key")
    key = await page.locator("[data-secret=app-key]").input_value()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    await page.locator("#key-area").get_by_role("button", name="Copy").click()
    await expect(page.locator(".toast").last).to_contain_text("Copied")
    await shot(page, "03-application-overview")

    # ---- UserSig from the UI's generator; PrivateMapKey tool
    await page.get_by_role("tab", name="UserSig & PrivateMapKey").click()
    await expect(page.locator("#usersig-form")).to_be_visible()
    sig_form = page.locator("#usersig-form")
    await sig_form.get_by_label("UserID").fill("alice")
    await sig_form.get_by_role("button", name="Generate UserSig").click()
    alice_sig = await page.locator("[data-secret=usersig]").input_value()
    assert len(alice_sig) > 40
    pmk_form = page.locator("#pmk-form")
    await pmk_form.get_by_label("UserID", exact=True).fill("alice")
    await pmk_form.get_by_label("Room ID", exact=True).fill("42")
    await pmk_form.get_by_role("button", name="Generate PrivateMapKey").click()
    await expect(page.locator("[data-secret=privatemapkey]")).to_be_visible()
    await shot(page, "04-application-tokens")

    # ---- edit name/description/tags
    await page.get_by_role("tab", name="Overview").click()
    await expect(page.locator("#reveal-key")).to_be_visible()
    await page.click("#edit-app")
    dlg = page.locator("dialog")
    await dlg.get_by_label("Description").fill("Maths and physics lessons")
    await dlg.get_by_label("Tags").fill("env=test, team=web, tier=gold")
    await dlg.get_by_role("button", name="Save").click()
    await expect(dlg).to_have_count(0)
    await expect(page.locator(".props")).to_contain_text("Maths and physics lessons")

    # ---- security & consent: permission-key switch, consent policy, attestation, withdraw
    await page.get_by_role("tab", name="Security & consent").click()
    await expect(page.locator("#attestation")).to_be_visible()
    await page.locator("label.switch-row").click()
    await expect(page.locator(".toast").last).to_contain_text("Permission keys required")
    await page.locator("label.switch-row").click()
    await expect(page.locator(".toast").last).to_contain_text("Permission keys not required")
    await page.locator("#consent-policy input[value=attest]").check()
    await expect(page.locator(".toast").last).to_contain_text("Consent policy set to attest")
    await page.click("#attest")
    dlg = page.locator("dialog")
    await dlg.get_by_label("DPA version").fill("2026-01")
    await dlg.get_by_label("Consent mechanism").fill("https://example.com/consent")
    await dlg.get_by_label("Age gate method").fill("self-declared birth date")
    await dlg.get_by_role("button", name="Attest").click()
    await expect(page.locator("#attestation")).to_contain_text("2026-01")
    await page.locator("#consent-policy input[value=off]").check()
    await expect(page.locator(".toast").last).to_contain_text("Consent policy set to off")
    await page.locator("#withdraw-form").get_by_label("UserID").fill("dave")
    await page.locator("#withdraw-form").get_by_label("UserID").press("Enter")
    await expect(page.locator(".toast").last).to_contain_text("Consent withdrawn for dave")
    await shot(page, "05-application-security")

    # ---- callbacks: URL and a generated key (shown once), delivery log
    await page.get_by_role("tab", name="Callbacks").click()
    await expect(page.locator("#callback-form")).to_be_visible()
    cb = page.locator("#callback-form")
    await cb.get_by_label("Callback URL").fill(hooks.url)
    await cb.get_by_label("Generate a new key").check()
    await cb.get_by_role("button", name="Save").click()
    await expect(page.locator("[data-secret=callback-key]")).to_be_visible()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", await page.locator("[data-secret=callback-key]").input_value())
    await expect(page.locator("#deliveries")).to_be_visible()
    # media events to their own URL (the same receiver, told apart by the query)
    assert await cb.get_by_label("Same URL for media events").is_checked()
    await expect(cb.get_by_label("Media events URL")).to_be_hidden()
    await cb.get_by_label("Same URL for media events").uncheck()
    await cb.get_by_label("Media events URL").fill(hooks.url + "?group=media")
    await cb.get_by_role("button", name="Save").click()
    await expect(page.locator(".toast").last).to_contain_text("Callback settings saved")
    await expect(page.locator("#callback-form").get_by_label("Media events URL")).to_have_value(
        hooks.url + "?group=media"
    )
    assert not await page.locator("#callback-form").get_by_label("Same URL for media events").is_checked()
    await shot(page, "06-application-callbacks")

    # ---- Python clients enter a room: alice with the UI's UserSig, bob signed with the revealed key
    for user, sig in (
        ("alice", alice_sig),
        ("bob", gen_usersig(sdkappid, key, "bob", 600, now=int(time.time()))),
    ):
        c = RelayRoomClient(f"ws://{host}/signal")
        clients.append(c)
        await c.enter_room(sdk_app_id=sdkappid, user_id=user, user_sig=sig, room_id=42)
    await clients[0].publish(audio_track=SineAudioTrack(440))

    # ---- applications list: search by name, tag, status
    await page.get_by_role("link", name="Applications").first.click()
    rows = page.locator("#apps-list tbody tr")
    await expect(rows).to_have_count(2)
    await page.get_by_label("Search applications").fill("class")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Classroom")
    await page.get_by_label("Search applications").fill("")
    await page.get_by_label("Filter by tag").fill("tier=gold")
    await expect(rows).to_have_count(1)
    await page.get_by_label("Filter by tag").fill("")
    await page.get_by_label("Filter by status").select_option("disabled")
    await expect(page.locator("#apps-list .empty")).to_contain_text("No applications match")
    await page.get_by_label("Filter by status").select_option("")
    await expect(rows).to_have_count(2)
    await shot(page, "02-applications")

    # ---- live: the room with both clients; remove bob (really removed), dismiss the room
    await page.get_by_role("link", name="Live rooms").click()
    await page.locator("#app-picker").select_option(str(sdkappid))
    room = page.locator(".room-card[data-room='42']")
    await expect(room.locator("tbody tr")).to_have_count(2)
    await expect(room).to_contain_text("alice")
    await expect(room).to_contain_text("anchor")
    await expect(room.locator(".chip")).to_contain_text("audio")
    # live quality from the media workers: alice's audio uplink in kbps with its loss
    await expect(room.locator(".chip[data-track=audio] .quality")).to_contain_text(
        re.compile(r"[1-9]\d* kbps"), timeout=20_000
    )
    await expect(room.locator(".chip[data-track=audio] .quality")).to_contain_text("% loss")
    await expect(room.locator("thead")).to_contain_text("Downlink")
    await expect(room.locator("tbody")).to_contain_text("worker 0")  # the media worker serving each member
    await expect(room).not_to_contain_text("not exposed")
    await shot(page, "07-live-rooms")
    await room.locator("[data-action=remove][data-user=bob]").click()
    await page.locator("dialog").get_by_role("button", name="Remove user").click()
    kicked = await clients[1].wait_for_event("kicked-out", within=10)
    assert kicked.data["reason"] == "banned"
    await expect(room.locator("tbody tr")).to_have_count(1)
    await room.locator("[data-action=dismiss]").click()
    await page.locator("dialog").get_by_role("button", name="Dismiss room").click()
    disband = await clients[0].wait_for_event("kicked-out", within=10)
    assert disband.data["reason"] == "room_disband"
    await expect(page.locator("#rooms .empty")).to_contain_text("No live rooms")

    # ---- the room's events reached the callback URL; the delivery log shows them
    await page.goto(f"{base}/console/#/apps/{sdkappid}/callbacks")
    delivered = page.locator("#deliveries tbody tr", has_text="delivered")
    for _ in range(50):
        if await delivered.count() >= 4:
            break
        await page.wait_for_timeout(200)
        await page.locator("#refresh-deliveries").click()
    await expect(delivered.first).to_be_visible()
    assert hooks.events and all(e.get("EventGroupId") for e in hooks.events)
    groups = {
        (e["EventGroupId"], t.endswith("?group=media"))
        for e, t in zip(hooks.events, hooks.targets, strict=True)
    }
    assert groups == {(1, False), (2, True)}, groups  # room events and media events, each to its URL
    await shot(page, "06b-callback-deliveries")

    # ---- usage: chart (or empty state), day / 5-minute, CSV export
    await page.get_by_role("link", name="Usage").click()
    await page.locator("#app-picker").select_option(str(sdkappid))
    await expect(page.locator("#usage-totals .stat")).to_have_count(7)
    await expect(page.locator("#usage-chart svg.chart rect").first).to_be_visible()  # real minutes
    assert await page.locator("#usage-totals .stat-audio .stat-value").inner_text() != "0"
    await page.locator("[data-granularity='5min']").click()
    await expect(page.locator("[data-granularity='5min']")).to_have_attribute("aria-pressed", "true")
    async with page.expect_download() as dl_info:
        await page.click("#export-csv")
    dl = await dl_info.value
    assert dl.suggested_filename == f"usage-{sdkappid}-5min.csv"
    assert Path(await dl.path()).read_text().startswith("bucket_start,sdkappid,room_id")
    await shot(page, "08-usage")

    # ---- cloud API credentials: create (SecretKey shown once), disable, enable, delete
    await page.get_by_role("link", name="Cloud API keys").click()
    await expect(page.locator("#credentials .empty")).to_be_visible()
    await page.click("#create-credential")
    created = page.locator("#credential-created")
    await expect(created).to_contain_text("shown only this once")
    assert len(await created.locator("[data-secret=cloud-secret-key]").input_value()) >= 32
    await shot(page, "09-credential-created")
    await created.get_by_role("button", name="I have saved it").click()
    cred_rows = page.locator("#credentials tbody tr")
    await expect(cred_rows).to_have_count(1)
    await cred_rows.locator("[data-action=disable]").click()
    await expect(cred_rows.first).to_contain_text("disabled")
    await cred_rows.locator("[data-action=enable]").click()
    await expect(cred_rows.first).to_contain_text("enabled")
    await page.click("#create-credential")
    await page.locator("#credential-created").get_by_role("button", name="I have saved it").click()
    await expect(cred_rows).to_have_count(2)
    await shot(page, "10-credentials")
    await cred_rows.first.locator("[data-action=delete]").click()
    await page.locator("dialog").get_by_role("button", name="Delete credential").click()
    await expect(cred_rows).to_have_count(1)

    # ---- users: add a member (created with a password), owners and members listed
    await page.get_by_role("link", name="Users").click()
    await page.click("#add-member")
    dlg = page.locator("dialog")
    await dlg.get_by_label("Username").fill("carol")
    await dlg.get_by_label("Password").fill("carol-password-1")
    await dlg.get_by_role("button", name="Add user").click()
    carol = page.locator("#members tr[data-username=carol]")
    await expect(carol.get_by_label("Role of carol")).to_have_value("member")
    await carol.get_by_label("Role of carol").select_option("owner")
    await expect(page.locator(".toast").last).to_contain_text("carol is now owner")
    await carol.get_by_label("Role of carol").select_option("member")
    await expect(page.locator(".toast").last).to_contain_text("carol is now member")
    await shot(page, "11-users")

    # ---- privacy: access request (process, download export), deletion request (process, receipt)
    await page.get_by_role("link", name="Privacy").click()
    form = page.locator("#request-form")
    await form.locator("select[name=sdkappid]").select_option(str(sdkappid))
    await form.get_by_label("UserID").fill("alice")
    await form.get_by_role("button", name="File request").click()
    req_rows = page.locator("#requests tbody tr")
    await expect(req_rows).to_have_count(1)
    await req_rows.first.locator("[data-action=process]").click()
    export = req_rows.first.locator("[data-action=export]")
    await expect(export).to_be_visible()
    async with page.expect_download() as dl_info:
        await export.click()
    doc = json.loads(Path(await (await dl_info.value).path()).read_text())
    assert "alice" in json.dumps(doc)
    await form.get_by_label("Request").select_option("deletion")
    await form.get_by_label("UserID").fill("bob")
    await form.get_by_role("button", name="File request").click()
    await expect(req_rows).to_have_count(2)
    deletion = page.locator("#requests tr[data-kind=deletion]")
    await deletion.locator("[data-action=process]").click()
    receipt = deletion.locator("[data-action=receipt]")
    await expect(receipt).to_be_visible()
    async with page.expect_download() as dl_info:
        await receipt.click()
    assert (await dl_info.value).suggested_filename.startswith("deletion-receipt-")
    await expect(page.locator("#records")).to_contain_text("Purge target")
    await shot(page, "12-privacy")

    # ---- disable / enable; rotate the key with a grace period; terminate (what is purged and when)
    await page.get_by_role("link", name="Applications").first.click()
    await page.locator(f"#apps-list tr[data-sdkappid='{sdkappid}']").click()
    await page.click("#disable-app")
    await page.locator("dialog").get_by_role("button", name="Disable").click()
    await expect(page.locator(".page-head .badge")).to_have_text("disabled")
    await page.click("#enable-app")
    await expect(page.locator(".page-head .badge")).to_have_text("enabled")
    await page.click("#rotate-key")
    await page.locator("dialog").get_by_role("button", name="Rotate key").click()
    new_key = await page.locator("[data-secret=app-key]").input_value()
    assert new_key != key and re.fullmatch(r"[0-9a-f]{64}", new_key)
    await page.click("#terminate-app")
    summary = page.locator("#purge-summary")
    await expect(summary).to_contain_text("24 hours")
    await expect(summary).to_contain_text("7 days")
    await shot(page, "13-terminate-confirmation")
    dlg = page.locator("#terminate-dialog")
    await dlg.get_by_label(re.compile("Type the SDKAppID")).fill("123")
    await dlg.get_by_role("button", name="Terminate application").click()
    await expect(dlg.locator(".form-error")).to_contain_text("does not match")
    await dlg.get_by_label(re.compile("Type the SDKAppID")).fill(str(sdkappid))
    await dlg.get_by_role("button", name="Terminate application").click()
    await expect(page.locator(".page-head .badge")).to_have_text("terminated")
    await expect(page.locator(".card", has_text="Data purge")).to_contain_text("scheduled")

    # ---- operation log: chain verified, every UI action with the signed-in user as actor
    await page.get_by_role("link", name="Operation log").click()
    await expect(page.locator("#chain-text")).to_contain_text("Chain verified")
    await page.locator("#oplog-filters").get_by_label("Actor").fill(actor)
    await page.locator("#oplog-filters").get_by_label("Actor").press("Enter")
    await expect(page.locator("#oplog-table")).to_have_attribute("data-query", re.compile("actor="))
    got = await page.locator("#oplog-table tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.action, r.dataset.actor])"
    )
    assert {a for _, a in got} == {actor}
    done = {a for a, _ in got}
    expected = {
        "app.create",
        "app.key.reveal",
        "app.usersig.issue",
        "app.privatemapkey.issue",
        "app.update",
        "app.consent.attest",
        "app.callback.update",
        "room.remove_users",
        "room.dismiss",
        "credential.create",
        "credential.disable",
        "credential.enable",
        "credential.delete",
        "member.add",
        "member.update",
        "consent.withdraw",
        "privacy.request.access",
        "privacy.request.deletion",
        "app.disable",
        "app.enable",
        "app.key.rotate",
        "app.terminate",
    }
    assert expected <= done, expected - done
    await page.locator("#oplog-filters").get_by_label("Action").fill("room.")
    await page.locator("#oplog-filters").get_by_label("Action").press("Enter")
    await expect(page.locator("#oplog-table")).to_have_attribute("data-query", re.compile("action=room"))
    await expect(page.locator("#oplog-table tbody tr")).to_have_count(2)
    async with page.expect_download() as dl_info:
        await page.click("#download-checkpoint")
    cp = json.loads(Path(await (await dl_info.value).path()).read_text())
    assert cp["type"] == "relayroom.oplog.checkpoint" and cp["signature"]["alg"] == "Ed25519"
    await page.locator("#oplog-filters").get_by_role("button", name="Reset").click()
    await shot(page, "14-operation-log")
    # someone edits an entry of this account behind the server's back: the page names the entry
    seq = await page.locator("#oplog-table tbody tr").last.get_attribute("data-seq")
    assert seq is not None
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE oplog_entries SET action = 'app.nothing_to_see' WHERE seq = ?", (int(seq),))
    await page.locator("#chain-status").get_by_role("button", name="Verify again").click()
    await expect(page.locator("#chain-status")).to_have_class(re.compile("broken"))
    await expect(page.locator("#chain-text")).to_contain_text(f"Chain broken at entry {seq}")
    await expect(page.locator("#oplog-table tr.row-broken")).to_have_attribute("data-seq", seq)
    await shot(page, "14b-operation-log-broken-chain")

    # ---- account switcher: a new account, then back
    await page.locator("#account-switcher").select_option("__new__")
    dlg = page.locator("dialog")
    await dlg.get_by_label("Account name").fill("Staging")
    await dlg.get_by_label("Account name").press("Enter")
    await expect(page.locator("#account-switcher option:checked")).to_have_text("Staging")
    await expect(page.locator("#apps-list .empty")).to_contain_text("No applications yet")
    await shot(page, "15-account-switcher")
    # close the new account from the Privacy page: typed confirmation, purge scheduled
    await page.get_by_role("link", name="Privacy").click()
    await page.click("#close-account")
    dlg = page.locator("#close-account-dialog")
    await dlg.get_by_label("Type the account name").fill("Stagin")
    await dlg.get_by_role("button", name="Close account").click()
    await expect(dlg.locator(".form-error")).to_contain_text("does not match")
    await dlg.get_by_label("Type the account name").fill("Staging")
    await dlg.get_by_role("button", name="Close account").click()
    await expect(page.locator("#account-switcher option", has_text="Staging")).to_have_count(0)
    await page.locator("#account-switcher").select_option(first.account_id)
    await page.get_by_role("link", name="Applications").first.click()
    await expect(page.locator("#apps-list tbody tr")).to_have_count(2)

    # ---- sign out: the token is revoked and the sign-in page is back
    await page.click("#sign-out")
    await expect(page.get_by_role("heading", name="RelayRoom Console")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('relayroom.console.token')") is None

    # ---- a member sees the account but cannot change it
    await page.get_by_label("Username").fill("carol")
    await page.get_by_label("Password").fill("carol-password-1")
    await page.get_by_label("Password").press("Enter")
    await expect(page.locator("#role-badge")).to_have_text("member")
    await expect(page.locator("#create-app")).to_be_disabled()
    await page.locator(f"#apps-list tr[data-sdkappid='{first.sdkappid}']").click()
    await expect(page.locator("#reveal-key")).to_be_disabled()
    await expect(page.locator("#edit-app")).to_have_count(0)
    await shot(page, "16-member-view")
    await page.click("#sign-out")
    await expect(page.get_by_role("heading", name="RelayRoom Console")).to_be_visible()
