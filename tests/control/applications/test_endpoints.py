"""Console API: accounts, applications, keys, credentials — over both storage backends."""

from __future__ import annotations

from datetime import timedelta

from relayroom.clock import FrozenClock
from relayroom.config import Settings
from tests.control.helpers import make_account, running


async def test_login_rejects_wrong_password_with_a_clear_error(settings: Settings) -> None:
    async with running(settings) as rt:
        r = await rt.client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": "nope-nope-nope"}
        )
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "not_authenticated"
        r = await rt.client.get("/api/v1/me")
        assert r.status_code == 401
        assert "Bearer" in r.json()["error"]["message"]


async def test_logout_revokes_the_token(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        assert (await rt.client.get("/api/v1/me", headers=h)).status_code == 200
        assert (await rt.client.post("/api/v1/auth/logout", headers=h)).status_code == 204
        assert (await rt.client.get("/api/v1/me", headers=h)).status_code == 401


async def test_session_expires_by_the_clock(settings: Settings, clock: FrozenClock) -> None:
    async with running(settings, clock) as rt:
        h = await rt.admin()
        clock.advance(timedelta(hours=settings.session_ttl_hours, seconds=1))
        assert (await rt.client.get("/api/v1/me", headers=h)).status_code == 401


async def test_first_start_creates_admin_account_and_demo_app(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        me = (await rt.client.get("/api/v1/me", headers=h)).json()
        assert me["user"]["is_admin"] is True
        assert [a["role"] for a in me["accounts"]] == ["owner"]
        apps = (await rt.client.get(f"/api/v1/accounts/{rt.first.account_id}/applications", headers=h)).json()
        assert [a["sdkappid"] for a in apps] == [rt.first.sdkappid]
        assert 1_400_000_000 <= rt.first.sdkappid < 1_500_000_000
        assert len(rt.first.secret_key) == 64 and int(rt.first.secret_key, 16) >= 0


async def test_application_lifecycle(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/applications",
            headers=h,
            json={"name": "Live show", "description": "evening", "tags": {"team": "media", "env": "prod"}},
        )
        assert r.status_code == 201, r.text
        app = r.json()
        sdkappid = app["sdkappid"]
        assert app["status"] == "enabled" and app["region"] == "local" and len(app["secret_key"]) == 64
        assert app["sdkappid"] != rt.first.sdkappid

        r = await rt.client.patch(
            f"/api/v1/applications/{sdkappid}",
            headers=h,
            json={"name": "Live show 2", "tags": {"team": "av"}},
        )
        assert (
            r.status_code == 200 and r.json()["name"] == "Live show 2" and r.json()["tags"] == {"team": "av"}
        )

        by_name = (await rt.client.get(f"/api/v1/accounts/{acc}/applications?q=show", headers=h)).json()
        assert [a["sdkappid"] for a in by_name] == [sdkappid]
        by_tag = (await rt.client.get(f"/api/v1/accounts/{acc}/applications?tag=team=av", headers=h)).json()
        assert [a["sdkappid"] for a in by_tag] == [sdkappid]

        for action, status in (("disable", "disabled"), ("enable", "enabled"), ("terminate", "terminated")):
            r = await rt.client.post(f"/api/v1/applications/{sdkappid}/{action}", headers=h)
            assert r.status_code == 200 and r.json()["status"] == status
        r = await rt.client.post(f"/api/v1/applications/{sdkappid}/enable", headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
        by_status = (
            await rt.client.get(f"/api/v1/accounts/{acc}/applications?status=terminated", headers=h)
        ).json()
        assert [a["sdkappid"] for a in by_status] == [sdkappid]


async def test_disabled_or_terminated_app_yields_no_keys_for_entry(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        sdkappid = rt.first.sdkappid
        async with rt.services.ctx.db.read() as s:
            ctx = await rt.services.apps.entry_context(s, sdkappid)
        assert ctx is not None and ctx.status == "enabled" and ctx.secret_keys == (rt.first.secret_key,)
        await rt.client.post(f"/api/v1/applications/{sdkappid}/disable", headers=h)
        async with rt.services.ctx.db.read() as s:
            ctx = await rt.services.apps.entry_context(s, sdkappid)
        assert ctx is not None and ctx.status == "disabled" and ctx.secret_keys == ()


async def test_bad_input_gets_a_clear_error_and_changes_nothing(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        cases = [
            ({"name": ""}, "name"),
            ({"name": "x", "region": "mars"}, "region"),
            ({"name": "x", "tags": {"": "v"}}, "tag key"),
            ({"name": "x", "tags": {"k": "v" * 300}}, "256"),
            ({"name": 5}, "name"),
        ]
        for body, needle in cases:
            r = await rt.client.post(f"/api/v1/accounts/{acc}/applications", headers=h, json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"]["code"] == "invalid_input"
            assert needle in r.json()["error"]["message"], (needle, r.json())
        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/applications", headers=h, content=b"{not json", params={}
        )
        assert r.status_code == 422
        apps = (await rt.client.get(f"/api/v1/accounts/{acc}/applications", headers=h)).json()
        assert len(apps) == 1
        r = await rt.client.get("/api/v1/applications/notanumber", headers=h)
        assert r.status_code == 422 and "sdkappid" in r.json()["error"]["message"]


async def test_app_limit_per_account(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        for i in range(settings.max_apps_per_account - 1):
            r = await rt.client.post(
                f"/api/v1/accounts/{acc}/applications", headers=h, json={"name": f"a{i}"}
            )
            assert r.status_code == 201
        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/applications", headers=h, json={"name": "one too many"}
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "limit_exceeded"
        assert str(settings.max_apps_per_account) in r.json()["error"]["message"]


async def test_key_reveal_is_for_owners_and_is_logged(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/members",
            headers=h,
            json={"username": "bob", "password": "bob-password-123", "role": "member"},
        )
        assert r.status_code == 201
        bob = await rt.login("bob", "bob-password-123")
        assert (
            await rt.client.get(f"/api/v1/applications/{rt.first.sdkappid}", headers=bob)
        ).status_code == 200
        r = await rt.client.get(f"/api/v1/applications/{rt.first.sdkappid}/key", headers=bob)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await rt.client.get(f"/api/v1/applications/{rt.first.sdkappid}/key", headers=h)
        assert r.status_code == 200 and r.json()["key"] == rt.first.secret_key
        log = (await rt.client.get(f"/api/v1/accounts/{acc}/oplog?action=app.key.reveal", headers=h)).json()
        assert len(log) == 1 and log[0]["content"]["actor"].startswith("user:")
        assert rt.first.secret_key not in str(log)


async def test_key_rotation_with_grace_keeps_old_key_until_the_end(
    settings: Settings, clock: FrozenClock
) -> None:
    async with running(settings, clock) as rt:
        h = await rt.admin()
        sdkappid = rt.first.sdkappid
        old = rt.first.secret_key
        r = await rt.client.post(
            f"/api/v1/applications/{sdkappid}/key/rotate", headers=h, json={"grace_seconds": 3600}
        )
        assert r.status_code == 200
        new = r.json()["key"]
        assert new != old and r.json()["previous_key_valid_until"]

        async def keys() -> tuple[str, ...]:
            async with rt.services.ctx.db.read() as s:
                ctx = await rt.services.apps.entry_context(s, sdkappid)
            assert ctx is not None
            return ctx.secret_keys

        assert await keys() == (new, old)
        clock.advance(timedelta(seconds=3600))
        assert await keys() == (new,)
        r = await rt.client.post(
            f"/api/v1/applications/{sdkappid}/key/rotate", headers=h, json={"grace_seconds": 0}
        )
        assert await keys() == (r.json()["key"],)
        r = await rt.client.post(
            f"/api/v1/applications/{sdkappid}/key/rotate", headers=h, json={"grace_seconds": -1}
        )
        assert r.status_code == 422


async def test_cloud_credentials_secret_shown_once(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        r = await rt.client.post(f"/api/v1/accounts/{acc}/credentials", headers=h)
        assert r.status_code == 201
        cred = r.json()
        assert cred["secret_id"].startswith("AKID") and len(cred["secret_key"]) == 32
        listed = (await rt.client.get(f"/api/v1/accounts/{acc}/credentials", headers=h)).json()
        assert [c["secret_id"] for c in listed] == [cred["secret_id"]]
        assert "secret_key" not in listed[0]
        async with rt.services.ctx.db.read() as s:
            assert await rt.services.keys.credential_secret(s, cred["secret_id"]) == (acc, cred["secret_key"])
        r = await rt.client.post(f"/api/v1/credentials/{cred['secret_id']}/disable", headers=h)
        assert r.json()["enabled"] is False
        async with rt.services.ctx.db.read() as s:
            assert await rt.services.keys.credential_secret(s, cred["secret_id"]) is None
        assert (
            await rt.client.delete(f"/api/v1/credentials/{cred['secret_id']}", headers=h)
        ).status_code == 204
        assert (await rt.client.get(f"/api/v1/accounts/{acc}/credentials", headers=h)).json() == []


async def test_members_need_an_owner(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        me = (await rt.client.get("/api/v1/me", headers=h)).json()
        r = await rt.client.patch(
            f"/api/v1/accounts/{acc}/members/{me['user']['id']}", headers=h, json={"role": "member"}
        )
        assert r.status_code == 409 and "owner" in r.json()["error"]["message"]
        other = await make_account(rt, h, "Other Co", "carol", "carol-password-1")
        assert other["role"] == "owner"


async def test_console_token_tools_sign_with_the_current_key(settings: Settings) -> None:
    from relayroom.auth.privatemapkey import Privilege, verify_privatemapkey
    from relayroom.auth.usersig import verify_usersig

    async with running(settings) as rt:
        h = await rt.admin()
        sdk = rt.first.sdkappid
        r = await rt.client.post(
            f"/api/v1/applications/{sdk}/usersig", headers=h, json={"userid": "alice", "expire": 600}
        )
        assert r.status_code == 200, r.text
        tok = r.json()
        now = tok["expires_at"] - 600
        res = verify_usersig(tok["token"], sdkappid=sdk, userid="alice", keys=[rt.first.secret_key], now=now)
        assert res.ok
        r = await rt.client.post(
            f"/api/v1/applications/{sdk}/privatemapkey",
            headers=h,
            json={"userid": "alice", "roomid": 42, "privilege": 42},
        )
        assert r.status_code == 200, r.text
        pmk = verify_privatemapkey(
            r.json()["token"], sdkappid=sdk, userid="alice", keys=[rt.first.secret_key], now=now, room_id=42
        )
        assert pmk.ok and pmk.privilege == Privilege.ENTER_ROOM | Privilege.RECV_AUDIO | Privilege.RECV_VIDEO
        bad = await rt.client.post(
            f"/api/v1/applications/{sdk}/usersig", headers=h, json={"userid": "bad id!"}
        )
        assert bad.status_code == 422 and "userid" in bad.json()["error"]["message"]
        both = await rt.client.post(
            f"/api/v1/applications/{sdk}/privatemapkey",
            headers=h,
            json={"userid": "a", "roomid": 1, "strroomid": "x"},
        )
        assert both.status_code == 422 and "exactly one" in both.json()["error"]["message"]
        log = (
            await rt.client.get(f"/api/v1/accounts/{rt.first.account_id}/oplog?action=app.usersig", headers=h)
        ).json()
        assert len(log) == 1 and tok["token"] not in str(log)
        await rt.client.post(f"/api/v1/applications/{sdk}/disable", headers=h)
        r = await rt.client.post(f"/api/v1/applications/{sdk}/usersig", headers=h, json={"userid": "alice"})
        assert r.status_code == 409
