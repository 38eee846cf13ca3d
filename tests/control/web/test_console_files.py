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
        for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
            r = await http.get(f"/console/{name}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
            assert r.headers["x-content-type-options"] == "nosniff"
        for bad in ("/console/../app.py", "/console/web_console.py", "/console/nope.js"):
            assert (await http.get(bad)).status_code == 404


def test_files_are_package_data_and_reference_nothing_external() -> None:
    root = console_root()
    names = {p.name for p in root.iterdir()}
    assert {"index.html", "console.js", "console.css", "favicon.svg"} <= names
    for name in ("index.html", "console.js", "console.css"):
        text = root.joinpath(name).read_text(encoding="utf-8")
        # only same-origin URLs: no CDN, no external fonts or scripts (the SVG namespace is not fetched)
        urls = {
            u for u in re.findall(r"https?://[^\s\"'`)]+", text) if "example.com" not in u
        }  # placeholders
        assert urls <= {"http://www.w3.org/2000/svg"}, urls
        assert "@import" not in text and "fonts.googleapis" not in text
    js = root.joinpath("console.js").read_text(encoding="utf-8")
    # secrets are never written to the browser console or to persistent storage
    assert not re.search(r"console\.(log|info|debug|warn|error)\(", js)
    assert "localStorage" not in js
