"""Response headers by class: every API answer is no-store, every HTML page refuses framing and
referrers, whatever the route and whatever the status."""

from __future__ import annotations

from pathlib import Path

from relayroom.config import Settings
from tests.control.helpers import running
from tests.control.routes import concrete, http_routes


async def test_every_api_answer_is_no_store_and_every_page_refuses_framing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False}, dev=True)
    async with running(settings) as rt:
        admin = await rt.admin()
        pages = 0
        for method, path in http_routes(rt.app):
            for headers in ({}, admin):
                r = await rt.client.request(method, concrete(path), headers=headers)
                assert r.headers.get("x-content-type-options") == "nosniff", (method, path)
                if path.startswith("/api/") or (method, path) == ("POST", "/"):
                    assert r.headers.get("cache-control") == "no-store", (method, path, r.status_code)
                if r.headers.get("content-type", "").startswith("text/html"):
                    pages += 1
                    assert r.headers.get("x-frame-options") == "DENY", (method, path)
                    assert r.headers.get("referrer-policy") == "no-referrer", (method, path)
        assert pages >= 4  # the demo page, the console, the API docs


async def test_answers_that_carry_keys_or_tokens_are_never_cached(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False}, dev=True)
    async with running(settings) as rt:
        login = await rt.client.post(
            "/api/v1/auth/login", json={"username": rt.first.username, "password": rt.first.password}
        )
        h = {"Authorization": f"Bearer {login.json()['token']}"}
        acc, app = rt.first.account_id, rt.first.sdkappid
        carrying = [
            login,
            await rt.client.post(f"/api/v1/accounts/{acc}/applications", headers=h, json={"name": "K"}),
            await rt.client.get(f"/api/v1/applications/{app}/key", headers=h),
            await rt.client.post(
                f"/api/v1/applications/{app}/key/rotate", headers=h, json={"grace_seconds": 0}
            ),
            await rt.client.post(f"/api/v1/accounts/{acc}/credentials", headers=h),
            await rt.client.post(f"/api/v1/applications/{app}/usersig", headers=h, json={"userid": "a"}),
            await rt.client.post(
                f"/api/v1/applications/{app}/privatemapkey", headers=h, json={"userid": "a", "roomid": 1}
            ),
            await rt.client.post("/api/dev/usersig", json={"userId": "alice"}),
        ]
        for r in carrying:
            assert r.status_code in (200, 201), (r.request.url, r.text)
            assert r.headers["cache-control"] == "no-store", r.request.url


async def test_the_demo_page_refuses_framing_and_referrers(tmp_path: Path) -> None:
    async with running(Settings(data_dir=tmp_path / "data", media={"enabled": False})) as rt:
        r = await rt.client.get("/demo/")
        assert r.status_code == 200
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
