"""Age gate: every jurisdiction in the table, at and just below its age; token tampering; withdrawal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relayroom.auth.consent_token import gen_consent_token, verify_consent_token
from relayroom.auth.usersig import urlish_b64decode, urlish_b64encode
from relayroom.clock import FrozenClock
from relayroom.config import Settings
from relayroom.control.privacy.consent import (
    ATTESTATION_MISSING,
    CONSENT_INVALID,
    CONSENT_MISSING,
    CONSENT_UNDER_AGE,
    CONSENT_WITHDRAWN,
)
from relayroom.control.privacy.consent_ages import load_table
from tests.control.helpers import Running, running

TABLE = load_table()


async def _enforce(rt: Running, policy: str = "enforce") -> tuple[int, str, dict[str, str]]:
    h = await rt.admin()
    r = await rt.client.patch(
        f"/api/v1/applications/{rt.first.sdkappid}", headers=h, json={"consent_policy": policy}
    )
    assert r.status_code == 200, r.text
    return rt.first.sdkappid, rt.first.secret_key, h


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_each_jurisdiction_refuses_just_below_and_admits_at_the_age(
    settings: Settings, clock: FrozenClock
) -> None:
    async with running(settings, clock) as rt:
        sdk, key, _ = await _enforce(rt)
        now = int(clock.time())
        for code, row in TABLE.rows.items():
            age = int(row["age"])
            below = gen_consent_token(
                sdk, key, f"u{code}", jurisdiction=code, age=age - 1, notice="v1", time=now
            )
            at = gen_consent_token(sdk, key, f"u{code}", jurisdiction=code, age=age, notice="v1", time=now)
            parent = gen_consent_token(
                sdk,
                key,
                f"u{code}",
                jurisdiction=code,
                age=age - 1,
                parental_ref="ev-1",
                notice="v1",
                time=now,
            )
            d = await rt.services.consent.check(sdk, f"u{code}", below)
            assert not d.ok and d.code == CONSENT_UNDER_AGE, (code, d)
            assert str(age) in d.message and code in d.message
            assert (await rt.services.consent.check(sdk, f"u{code}", at)).ok, code
            assert (await rt.services.consent.check(sdk, f"u{code}", parent)).ok, code


def test_defaults_for_unlisted_and_unknown_jurisdictions() -> None:
    assert TABLE.threshold("XK").age == 16  # well-formed code, not in the table
    assert (
        TABLE.threshold("").age == 18 and TABLE.threshold(None).age == 18 and TABLE.threshold("??").age == 18
    )
    assert (
        TABLE.threshold("CA-QC").age == 14 and TABLE.threshold("CA-ON").age == 13
    )  # subdivision, then country
    for row in TABLE.rows.values():
        assert row["source"] and row["status"] and row["last_verified"]


async def test_tampered_expired_and_wrong_app_tokens_are_refused(
    settings: Settings, clock: FrozenClock
) -> None:
    async with running(settings, clock) as rt:
        sdk, key, _ = await _enforce(rt)
        now = int(clock.time())
        good = gen_consent_token(
            sdk, key, "alice", jurisdiction="FR", age=20, notice="v1", time=now, expire=60
        )
        assert (await rt.services.consent.check(sdk, "alice", good)).ok
        raw = bytearray(urlish_b64decode(good))
        raw[-6] ^= 0x01
        tampered = urlish_b64encode(bytes(raw))
        wrong_app = gen_consent_token(sdk + 1, key, "alice", jurisdiction="FR", age=20, notice="v1", time=now)
        wrong_key = gen_consent_token(
            sdk, "0" * 64, "alice", jurisdiction="FR", age=20, notice="v1", time=now
        )
        other_user = gen_consent_token(sdk, key, "mallory", jurisdiction="FR", age=20, notice="v1", time=now)
        for token in (tampered, wrong_app, wrong_key, other_user, "garbage", "eJw*"):
            d = await rt.services.consent.check(sdk, "alice", token)
            assert not d.ok and d.code == CONSENT_INVALID, (token[:10], d)
        d = await rt.services.consent.check(sdk, "alice", None)
        assert not d.ok and d.code == CONSENT_MISSING
        clock.advance(timedelta(seconds=61))
        d = await rt.services.consent.check(sdk, "alice", good)
        assert not d.ok and "expired" in d.message


async def test_withdrawal_is_effective_at_once(settings: Settings, clock: FrozenClock) -> None:
    async with running(settings, clock) as rt:
        sdk, key, h = await _enforce(rt)
        now = int(clock.time())
        token = gen_consent_token(sdk, key, "alice", jurisdiction="GB", age=30, notice="v1", time=now)
        assert (await rt.services.consent.check(sdk, "alice", token)).ok
        clock.advance(timedelta(seconds=1))
        r = await rt.client.post(
            f"/api/v1/applications/{sdk}/consent/withdraw", headers=h, json={"userid": "alice"}
        )
        assert r.status_code == 200 and r.json()["withdrawn"] is True
        d = await rt.services.consent.check(sdk, "alice", token)
        assert not d.ok and d.code == CONSENT_WITHDRAWN
        clock.advance(timedelta(seconds=1))
        fresh = gen_consent_token(
            sdk, key, "alice", jurisdiction="GB", age=30, notice="v2", time=int(clock.time())
        )
        assert (await rt.services.consent.check(sdk, "alice", fresh)).ok  # consent given again


async def test_attest_policy_needs_the_customers_attestation(settings: Settings, clock: FrozenClock) -> None:
    async with running(settings, clock) as rt:
        sdk, _, h = await _enforce(rt, "attest")
        d = await rt.services.consent.check(sdk, "alice", None)
        assert not d.ok and d.code == ATTESTATION_MISSING
        body = {
            "dpa_version": "2026-01",
            "consent_mechanism": "https://example.invalid/consent",
            "age_gate_method": "date of birth + parental email",
            "parental_flow": True,
        }
        r = await rt.client.put(f"/api/v1/applications/{sdk}/consent/attestation", headers=h, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["attested_by"].startswith("user:")
        assert (await rt.services.consent.check(sdk, "alice", None)).ok
        got = (await rt.client.get(f"/api/v1/applications/{sdk}/consent", headers=h)).json()
        assert got["policy"] == "attest" and got["attestation"]["dpa_version"] == "2026-01"


async def test_policy_off_never_blocks(settings: Settings) -> None:
    async with running(settings) as rt:
        assert (await rt.services.consent.check(rt.first.sdkappid, "alice", None)).ok


def test_consent_token_never_raises_on_garbage() -> None:
    for junk in ["", "x" * 5000, "eJyrVkrLz1eyUkpKLFKqBQAm2wUU", "*-_", "\x00\x01"]:
        r = verify_consent_token(junk, sdkappid=1, userid="a", keys=["k"], now=0)
        assert not r.ok
