"""The console's files: served from package data with a strict CSP, GET / redirects, nothing external."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.web_console import console_root


@pytest.fixture
async def http(tmp_path: Path) -> httpx.AsyncClient:
    app = create_app(Settings(data_dir=tmp_path / "data", media={"enabled": False}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")


async def test_root_redirects_and_files_are_served_with_csp(http: httpx.AsyncClient) -> None:
    async with http:
        r = await http.get("/")
        assert r.status_code == 307 and r.headers["location"] == "/console/"
        r = await http.get("/console")
        assert r.status_code == 307 and r.headers["location"] == "/console/"
        index = await http.get("/console/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        csp = index.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        modules = [f"{d}/{p.name}" for d in ("lib", "pages") for p in console_root().joinpath(d).iterdir()]
        assert "lib/router.js" in modules and "pages/live.js" in modules
        for name, kind in [("console.js", "text/javascript"), ("console.css", "text/css")] + [
            (m, "text/javascript") for m in modules
        ]:
            r = await http.get(f"/console/{name}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind), name
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["content-security-policy"] == csp, name
        for bad in (
            "/console/../app.py",
            "/console/web_console.py",
            "/console/nope.js",
            "/console/lib/nope.js",
            "/console/lib/Router.js",
            "/console/lib/router.py",
            "/console/other/router.js",
            "/console/lib/..%2F..%2F..%2Fcontrol%2Fapp.py",
        ):
            assert (await http.get(bad)).status_code == 404, bad


def _console_files() -> list[str]:
    """Every text file of the console: the top level and the modules under lib/ and pages/."""
    root = console_root()
    names = [p.name for p in root.iterdir() if p.is_file() and p.name.endswith((".html", ".js", ".css"))]
    return names + [f"{d}/{p.name}" for d in ("lib", "pages") for p in root.joinpath(d).iterdir()]


def test_files_are_package_data_and_reference_nothing_external() -> None:
    root = console_root()
    names = {p.name for p in root.iterdir()}
    assert {"index.html", "console.js", "console.css", "favicon.svg", "lib", "pages"} <= names
    files = _console_files()
    assert len([f for f in files if f.endswith(".js")]) > 10
    for name in files:
        text = root.joinpath(*name.split("/")).read_text(encoding="utf-8")
        # only same-origin URLs: no CDN, no external fonts or scripts (the SVG namespace is not fetched)
        urls = {
            u for u in re.findall(r"https?://[^\s\"'`)]+", text) if "example.com" not in u
        }  # placeholders
        assert urls <= {"http://www.w3.org/2000/svg"}, urls
        assert "@import" not in text and "fonts.googleapis" not in text
        # modules import only same-origin modules by relative path (no CDN, no bare specifiers)
        for spec in re.findall(r"^import .* from \"([^\"]+)\";$", text, re.M):
            assert spec.startswith(("./", "../")) and spec.endswith(".js"), (name, spec)
        if name.endswith(".js"):
            # secrets are never written to the browser console or to persistent storage
            assert not re.search(r"console\.(log|info|debug|warn|error)\(", text), name
            assert "localStorage" not in text, name
