"""Probe: the dev-mode UserSig endpoint (which, with the demo app disabled, signed for the oldest enabled
application of another customer)."""

from __future__ import annotations

import time

import httpx
import pytest

from relayroom.auth.usersig import verify_usersig
from tests.security.conftest import Server

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


async def test_the_dev_endpoint_signs_for_the_demo_app_only_and_dev_mode_says_so(server: Server) -> None:
    assert "WARNING: development mode (--dev)" in server.stdout.read_text()
    admin = server.admin_headers()
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        r = await http.post("/api/dev/usersig", json={"userId": "alice"})
        assert r.status_code == 200 and r.json()["sdkAppId"] == server.sdkappid
        assert r.headers["cache-control"] == "no-store"
        ok = verify_usersig(
            r.json()["userSig"],
            sdkappid=server.sdkappid,
            userid="alice",
            keys=[server.secret_key],
            now=int(time.time()),
        )
        assert ok.ok, ok.message
        # another customer with an enabled application, older apps of its own included
        await http.post(
            "/api/v1/users", headers=admin, json={"username": "tenant", "password": "tenant-password"}
        )
        acc = (
            await http.post(
                "/api/v1/accounts", headers=admin, json={"name": "Tenant", "owner_username": "tenant"}
            )
        ).json()["id"]
        login = await http.post(
            "/api/v1/auth/login", json={"username": "tenant", "password": "tenant-password"}
        )
        tenant = {"Authorization": f"Bearer {login.json()['token']}"}
        other = (
            await http.post(f"/api/v1/accounts/{acc}/applications", headers=tenant, json={"name": "Demo"})
        ).json()["sdkappid"]
        assert (
            await http.post(f"/api/v1/applications/{server.sdkappid}/disable", headers=admin)
        ).status_code == 200
        try:
            r = await http.post("/api/dev/usersig", json={"userId": "alice"})
            assert r.status_code == 409 and str(other) not in r.text
        finally:
            await http.post(f"/api/v1/applications/{server.sdkappid}/enable", headers=admin)
        assert (await http.post("/api/dev/usersig", json={"userId": "alice"})).json()[
            "sdkAppId"
        ] == server.sdkappid
