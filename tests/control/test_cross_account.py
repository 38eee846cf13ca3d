"""One account can never see or touch another's apps, keys, credentials, members or logs.

The test walks every console API route, so a new endpoint without a body here fails the test.
"""

from __future__ import annotations

import re
from typing import Any

from relayroom.config import Settings
from tests.control.helpers import make_account, running

# A valid body per route, so a refusal is the authorization check and not input validation.
BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("POST", "/api/v1/auth/login"): None,  # public
    ("POST", "/api/v1/auth/logout"): None,
    ("GET", "/api/v1/me"): None,
    ("POST", "/api/v1/users"): {"username": "mallory2", "password": "mallory-password"},
    ("GET", "/api/v1/accounts"): None,
    ("POST", "/api/v1/accounts"): {"name": "stolen"},
    ("GET", "/api/v1/accounts/{account_id}"): None,
    ("PATCH", "/api/v1/accounts/{account_id}"): {"name": "pwned"},
    ("GET", "/api/v1/accounts/{account_id}/members"): None,
    ("POST", "/api/v1/accounts/{account_id}/members"): {"username": "mallory", "role": "owner"},
    ("PATCH", "/api/v1/accounts/{account_id}/members/{user_id}"): {"role": "member"},
    ("DELETE", "/api/v1/accounts/{account_id}/members/{user_id}"): None,
    ("GET", "/api/v1/accounts/{account_id}/applications"): None,
    ("POST", "/api/v1/accounts/{account_id}/applications"): {"name": "injected"},
    ("GET", "/api/v1/applications/{sdkappid}"): None,
    ("PATCH", "/api/v1/applications/{sdkappid}"): {"name": "pwned"},
    ("POST", "/api/v1/applications/{sdkappid}/disable"): None,
    ("POST", "/api/v1/applications/{sdkappid}/enable"): None,
    ("POST", "/api/v1/applications/{sdkappid}/terminate"): None,
    ("GET", "/api/v1/applications/{sdkappid}/key"): None,
    ("POST", "/api/v1/applications/{sdkappid}/key/rotate"): {"grace_seconds": 0},
    ("GET", "/api/v1/accounts/{account_id}/credentials"): None,
    ("POST", "/api/v1/accounts/{account_id}/credentials"): None,
    ("POST", "/api/v1/credentials/{secret_id}/disable"): None,
    ("POST", "/api/v1/credentials/{secret_id}/enable"): None,
    ("DELETE", "/api/v1/credentials/{secret_id}"): None,
    ("GET", "/api/v1/accounts/{account_id}/oplog"): None,
    ("GET", "/api/v1/accounts/{account_id}/oplog/verify"): None,
    ("GET", "/api/v1/accounts/{account_id}/oplog/checkpoint"): None,
    ("GET", "/api/v1/applications/{sdkappid}/callback"): None,
    ("PUT", "/api/v1/applications/{sdkappid}/callback"): {"url": "http://127.0.0.1:9/cb", "key": "abc123"},
    ("GET", "/api/v1/applications/{sdkappid}/callback/deliveries"): None,
    ("GET", "/api/v1/applications/{sdkappid}/usage"): None,
    ("GET", "/api/v1/applications/{sdkappid}/usage/export"): None,
    ("DELETE", "/api/v1/accounts/{account_id}"): None,
    ("GET", "/api/v1/accounts/{account_id}/retention"): None,
    ("GET", "/api/v1/privacy/receipts/{receipt_id}"): None,  # public by unguessable id
    ("GET", "/api/v1/privacy/public-key"): None,
    ("POST", "/api/v1/accounts/{account_id}/privacy/requests"): {"kind": "access", "subject_kind": "account"},
    ("GET", "/api/v1/accounts/{account_id}/privacy/requests"): None,
    ("GET", "/api/v1/privacy/requests/{request_id}"): None,
    ("POST", "/api/v1/privacy/requests/{request_id}/process"): None,
    ("GET", "/api/v1/privacy/requests/{request_id}/export"): None,
    ("GET", "/api/v1/applications/{sdkappid}/consent"): None,
    ("PUT", "/api/v1/applications/{sdkappid}/consent/attestation"): {
        "dpa_version": "x",
        "consent_mechanism": "x",
        "age_gate_method": "x",
        "parental_flow": False,
    },
    ("POST", "/api/v1/applications/{sdkappid}/consent/withdraw"): {"userid": "alice"},
    ("GET", "/api/v1/privacy/consent-ages"): None,
    ("GET", "/api/v1/applications/{sdkappid}/rooms"): None,
    ("POST", "/api/v1/applications/{sdkappid}/rooms/{room_key}/remove-users"): {"user_ids": ["alice"]},
    ("POST", "/api/v1/applications/{sdkappid}/rooms/{room_key}/dismiss"): None,
    ("GET", "/api/v1/applications/{sdkappid}/blocked-users"): None,
    ("PUT", "/api/v1/applications/{sdkappid}/blocked-users/{user_id}"): {"reason": "spam"},
    ("DELETE", "/api/v1/applications/{sdkappid}/blocked-users/{user_id}"): None,
    ("POST", "/api/v1/applications/{sdkappid}/usersig"): {"userid": "mallory"},
    ("POST", "/api/v1/applications/{sdkappid}/privatemapkey"): {"userid": "mallory", "roomid": 1},
    ("GET", "/api/v1/privacy/processing-records"): None,
    ("GET", "/api/v1/oplog/status"): None,  # deployment admins only
}
# Routes that only ever act on the caller's own data (no object id to point elsewhere).
SELF_ONLY = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/privacy/receipts/{receipt_id}"),
}


async def test_every_endpoint_refuses_another_accounts_objects(settings: Settings) -> None:
    async with running(settings) as rt:
        admin = await rt.admin()
        a_acc = rt.first.account_id
        a_app = rt.first.sdkappid
        cred = (await rt.client.post(f"/api/v1/accounts/{a_acc}/credentials", headers=admin)).json()
        admin_id = (await rt.client.get("/api/v1/me", headers=admin)).json()["user"]["id"]
        await make_account(rt, admin, "Mallory Inc", "mallory", "mallory-password")
        mallory = await rt.login("mallory", "mallory-password")
        req = await rt.client.post(
            f"/api/v1/accounts/{a_acc}/privacy/requests",
            headers=admin,
            json={"kind": "access", "subject_kind": "end_user", "sdkappid": a_app, "userid": "alice"},
        )
        assert req.status_code == 201, req.text
        ids = {
            "account_id": a_acc,
            "sdkappid": str(a_app),
            "secret_id": cred["secret_id"],
            "user_id": admin_id,
            "request_id": req.json()["id"],
            "room_key": f"{a_app}:n:1",
        }

        paths = rt.app.openapi()["paths"]
        routes = [(m.upper(), p) for p, ops in paths.items() if p.startswith("/api/v1/") for m in ops]
        assert set(routes) == set(BODIES), f"update BODIES for: {set(routes) ^ set(BODIES)}"
        for method, path in routes:
            if (method, path) in SELF_ONLY:
                continue
            url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)
            body = BODIES[(method, path)]
            r = await rt.client.request(method, url, headers=mallory, json=body)
            if "{" in path:
                assert r.status_code == 404, (method, path, r.status_code, r.text)
            elif method == "GET":
                assert a_acc not in r.text, (method, path)
            else:
                assert r.status_code == 403, (method, path, r.status_code, r.text)
            assert r.json()["error"]["code"] if r.status_code >= 400 else True

        # nothing of A changed, and nothing was logged in A's name by mallory
        app = (await rt.client.get(f"/api/v1/applications/{a_app}", headers=admin)).json()
        assert app["status"] == "enabled" and app["name"] == "Demo"
        key = (await rt.client.get(f"/api/v1/applications/{a_app}/key", headers=admin)).json()["key"]
        assert key == rt.first.secret_key
        creds = (await rt.client.get(f"/api/v1/accounts/{a_acc}/credentials", headers=admin)).json()
        assert creds[0]["enabled"] is True
        members = (await rt.client.get(f"/api/v1/accounts/{a_acc}/members", headers=admin)).json()
        assert [m["username"] for m in members] == ["admin"]
        log = (await rt.client.get(f"/api/v1/accounts/{a_acc}/oplog?limit=1000", headers=admin)).json()
        mallory_id = (await rt.client.get("/api/v1/me", headers=mallory)).json()["user"]["id"]
        assert all(e["content"]["actor"] != f"user:{mallory_id}" for e in log)


async def test_members_can_read_but_not_change(settings: Settings) -> None:
    async with running(settings) as rt:
        admin = await rt.admin()
        acc = rt.first.account_id
        await rt.client.post(
            f"/api/v1/accounts/{acc}/members",
            headers=admin,
            json={"username": "viewer", "password": "viewer-password", "role": "member"},
        )
        viewer = await rt.login("viewer", "viewer-password")
        assert (
            await rt.client.get(f"/api/v1/accounts/{acc}/applications", headers=viewer)
        ).status_code == 200
        for method, url, body in [
            ("PATCH", f"/api/v1/applications/{rt.first.sdkappid}", {"name": "x"}),
            ("POST", f"/api/v1/applications/{rt.first.sdkappid}/disable", None),
            ("POST", f"/api/v1/accounts/{acc}/applications", {"name": "x"}),
            ("POST", f"/api/v1/accounts/{acc}/credentials", None),
        ]:
            r = await rt.client.request(method, url, headers=viewer, json=body)
            assert r.status_code == 403, (url, r.text)
