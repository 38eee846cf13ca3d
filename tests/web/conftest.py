"""Real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the whole server.

The server is `create_app(Settings(dev=True, ...))` under uvicorn on 127.0.0.1 (ephemeral port, one
media worker on an OS-chosen UDP port, loopback-only ICE). Every page fails its test on a console error
or an uncaught exception. Screenshots go to test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from tests.serving import served

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # remote audio plays without a click, so inbound audio is decoded and its energy measured
    "--autoplay-policy=no-user-gesture-required",
    # the fake screen for getDisplayMedia
    "--auto-select-desktop-capture-source=Entire screen",
]


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing on CI: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); browser tests skipped")


@dataclass
class Server:
    base_url: str
    ws_url: str
    app: FastAPI
    first: FirstStart


@contextlib.asynccontextmanager
async def running_server(tmp_path: Path, *, dev: bool = True) -> AsyncIterator[Server]:
    settings = Settings(
        dev=dev,
        data_dir=tmp_path / "data",
        media={"workers": 1, "ports": [0], "loopback_only": True},
    )
    first: list[FirstStart] = []
    app = create_app(settings, on_first_start=first.append)
    async with served(app) as port:
        yield Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/signal", app, first[-1])


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    require_chromium()
    async with running_server(tmp_path) as s:
        yield s


@dataclass
class Browser:
    """One Chromium; `page()` opens a page (own context) whose console errors fail the test."""

    browser: Any
    errors: list[str] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)

    async def page(self, name: str, viewport: tuple[int, int] = (1100, 680)) -> Any:
        context = await self.browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        # the browser asks for /favicon.ico on top-level pages the server does not style (healthz)
        await context.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=b""))
        pg = await context.new_page()
        pg.set_default_timeout(30_000)

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                self.errors.append(f"[{name}] console.error: {msg.text}")

        pg.on("console", on_console)
        pg.on("pageerror", lambda exc: self.errors.append(f"[{name}] uncaught: {exc}"))
        self.pages.append(pg)
        return pg


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        b = Browser(browser)
        try:
            yield b
        finally:
            await browser.close()
        assert not b.errors, "console errors:\n" + "\n".join(b.errors)


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
