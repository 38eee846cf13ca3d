"""Console moderation (remove members, dismiss a room, block a UserId application-wide) is audited: the
console user as actor, end users as pseudonymous references, the reason the operator gave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relayroom.control.privacy.refs import subject_ref
from relayroom.control.rooms.errors import ErrorCode, RoomError
from tests.control.cloudapi.server import live_server, settings_for
from tests.control.cloudapi.test_moderation_audit import enter
from tests.control.oplog.entries import entries

pytestmark = pytest.mark.timeout(120)


async def test_console_moderation_and_app_wide_block_are_in_the_operation_log(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "d", media=True)) as live:
        assert live.first is not None
        app, h, http = live.first.sdkappid, live.admin, live.http
        base = f"/api/v1/applications/{app}"
        await enter(live, "alice", 5)
        _, bob_sink = await enter(live, "bob", 5)
        key = f"{app}:n:5"

        kick = {"user_ids": ["bob"], "reason": "spam"}
        r = await http.post(f"{base}/rooms/{key}/remove-users", headers=h, json=kick)
        assert r.json() == {"removed": ["bob"]}
        assert ("kicked-out", {"reason": "banned"}) in bob_sink.events

        # an app-wide block removes a present member and refuses their entry anywhere in the app
        _, carol_sink = await enter(live, "carol", 6)
        r = await http.put(f"{base}/blocked-users/carol", headers=h, json={"reason": "abuse report 17"})
        assert r.status_code == 200 and r.json() == {"user_id": "carol", "blocked": True}
        assert ("kicked-out", {"reason": "banned"}) in carol_sink.events
        with pytest.raises(RoomError) as refused:
            await enter(live, "carol", 7)
        assert refused.value.code == ErrorCode.USER_BLOCKED
        assert (await http.get(f"{base}/blocked-users", headers=h)).json() == {"user_ids": ["carol"]}
        r = await http.delete(f"{base}/blocked-users/carol", headers=h, params={"reason": "appeal granted"})
        assert r.json() == {"user_id": "carol", "blocked": False}
        await enter(live, "carol", 7)  # admitted again
        bad = await http.put(f"{base}/blocked-users/{'x' * 40}", headers=h)
        assert bad.status_code == 422

        r = await http.post(f"{base}/rooms/{key}/dismiss", headers=h, json={"reason": "end of class"})
        assert r.status_code == 200

        services = live.container.services
        me = (await http.get("/api/v1/me", headers=h)).json()["user"]["id"]

        def ref(user: str) -> dict[str, str]:
            return {"type": "end_user", "ref": subject_ref(services.ctx.pseudonym_secret, app, user)}

        [removed] = await entries(services, "room.remove_users")
        [block] = await entries(services, "app.user.block")
        [unblock] = await entries(services, "app.user.unblock")
        [dismissed] = await entries(services, "room.dismiss")
        for e in (removed, block, unblock, dismissed):
            assert e["actor"] == f"user:{me}" and e["after"]["via"] == "console", e
        assert removed["after"] == {"room": 5, "targets": [ref("bob")], "reason": "spam", "via": "console"}
        assert block["after"] == {"target": ref("carol"), "reason": "abuse report 17", "via": "console"}
        assert unblock["after"] == {"target": ref("carol"), "reason": "appeal granted", "via": "console"}
        assert dismissed["after"]["reason"] == "end of class" and dismissed["after"]["room"] == 5
        text = json.dumps([removed, block, unblock, dismissed])
        assert '"bob"' not in text and '"carol"' not in text
        # the account's own log view shows them too
        oplog = f"/api/v1/accounts/{live.first.account_id}/oplog?action=app.user."
        log = (await http.get(oplog, headers=h)).json()
        assert [e["action"] for e in log] == ["app.user.unblock", "app.user.block"]
