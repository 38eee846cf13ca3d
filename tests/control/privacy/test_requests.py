"""Data-subject requests: an export returns everything held; deletion removes it (canaries)."""

from __future__ import annotations

import uuid

from relayroom.auth.consent_token import gen_consent_token
from relayroom.clock import FrozenClock
from relayroom.config import Settings
from relayroom.crypto.signing import verify_document
from tests.control.helpers import running


async def test_access_export_then_deletion_of_an_end_user(settings: Settings, clock: FrozenClock) -> None:
    canary = f"CANARY-{uuid.uuid4().hex[:10]}"
    async with running(settings, clock) as rt:
        h = await rt.admin()
        sdk, key, acc = rt.first.sdkappid, rt.first.secret_key, rt.first.account_id
        await rt.client.patch(f"/api/v1/applications/{sdk}", headers=h, json={"consent_policy": "enforce"})
        token = gen_consent_token(
            sdk,
            key,
            "alice",
            jurisdiction="DE",
            age=12,
            parental_ref=canary,
            notice="v7",
            time=int(clock.time()),
        )
        assert (await rt.services.consent.check(sdk, "alice", token)).ok

        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/privacy/requests",
            headers=h,
            json={"kind": "access", "sdkappid": sdk, "userid": "alice"},
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert r.json()["state"] == "received" and r.json()["due_at"] > r.json()["received_at"]
        done = (await rt.client.post(f"/api/v1/privacy/requests/{rid}/process", headers=h)).json()
        assert done["state"] == "completed"
        export = (await rt.client.get(f"/api/v1/privacy/requests/{rid}/export", headers=h)).json()
        assert export["subject"] == {"sdkappid": sdk, "userid": "alice"}
        assert [c["parental_evidence_ref"] for c in export["consent_records"]] == [canary]
        assert export["consent_records"][0]["jurisdiction"] == "DE"

        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/privacy/requests",
            headers=h,
            json={"kind": "deletion", "sdkappid": sdk, "userid": "alice"},
        )
        rid2 = r.json()["id"]
        await rt.services.requests.process_pending()  # what the scheduler does
        done = (await rt.client.get(f"/api/v1/privacy/requests/{rid2}", headers=h)).json()
        assert done["state"] == "completed" and done["result"]["consent_records"] == 1
        receipt = (await rt.client.get(f"/api/v1/privacy/receipts/{done['receipt_id']}")).json()
        assert verify_document(receipt) and receipt["scope"] == "end_user"

        # the subject is gone: a new export finds nothing, and the canary is nowhere in the database
        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/privacy/requests",
            headers=h,
            json={"kind": "access", "sdkappid": sdk, "userid": "alice"},
        )
        await rt.client.post(f"/api/v1/privacy/requests/{r.json()['id']}/process", headers=h)
        again = (await rt.client.get(f"/api/v1/privacy/requests/{r.json()['id']}/export", headers=h)).json()
        assert again["consent_records"] == []
        listed = (await rt.client.get(f"/api/v1/accounts/{acc}/privacy/requests", headers=h)).json()
        assert len(listed) == 3 and all("alice" not in str(x) for x in listed)  # kept pseudonymised

        async with rt.services.ctx.db.read() as s:
            from sqlalchemy import text

            dump = ""
            for t in ("consent_records", "privacy_requests", "oplog_entries"):
                dump += str((await s.execute(text(f"SELECT * FROM {t}"))).all())
        assert canary not in dump


async def test_bad_requests_are_refused_clearly(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        for body, code in [
            ({"kind": "erase", "sdkappid": 1, "userid": "a"}, 422),
            ({"kind": "access"}, 422),
            ({"kind": "access", "sdkappid": 1400000000, "userid": "a"}, 404),
            ({"kind": "access", "subject_kind": "account", "userid": "a"}, 422),
        ]:
            r = await rt.client.post(f"/api/v1/accounts/{acc}/privacy/requests", headers=h, json=body)
            assert r.status_code == code, (body, r.text)
            assert r.json()["error"]["message"]


async def test_account_access_export_and_processing_records(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        acc = rt.first.account_id
        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/privacy/requests",
            headers=h,
            json={"kind": "access", "subject_kind": "account"},
        )
        rid = r.json()["id"]
        await rt.client.post(f"/api/v1/privacy/requests/{rid}/process", headers=h)
        export = (await rt.client.get(f"/api/v1/privacy/requests/{rid}/export", headers=h)).json()
        assert [a["sdkappid"] for a in export["applications"]] == [rt.first.sdkappid]
        assert rt.first.secret_key not in str(export)
        assert any(e["action"] == "app.create" for e in export["operation_log"])
        r = await rt.client.put(
            f"/api/v1/applications/{rt.first.sdkappid}/callback",
            headers=h,
            json={"url": "http://127.0.0.1:9/trtc/callback?x=1", "key": "abc123"},
        )
        assert r.status_code == 200, r.text
        rec = (await rt.client.get("/api/v1/privacy/processing-records", headers=h)).json()
        assert rec["recipients"]["webhook_targets"] == ["http://127.0.0.1:9"]
        datas = [c["data"] for c in rec["categories"]]
        assert any("Audio and video" in d for d in datas) and any("temporary key" in d for d in datas)
        assert rec["generated_from"]["node_region"] == settings.region
        assert "hard deadline 7 days" in rec["categories"][1]["retention"]
