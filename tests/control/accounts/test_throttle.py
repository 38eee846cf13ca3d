"""Sign-in throttling: per username and per client address, backoff, 429 + Retry-After, logged."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from relayroom.clock import FrozenClock
from relayroom.config import LoginSettings, Settings
from relayroom.control.accounts.throttle import (
    InMemoryThrottleStore,
    LoginThrottle,
    ThrottlePolicy,
    ThrottleState,
    TooManyAttempts,
    client_network,
)
from relayroom.storage.models import OplogEntry
from tests.control.helpers import running

pytestmark = pytest.mark.timeout(120)

WRONG = "not-the-password"


def test_the_lock_doubles_after_the_free_attempts_up_to_the_maximum() -> None:
    p = ThrottlePolicy(free_attempts=5, base_delay_s=1, max_delay_s=900, forget_after_s=3600)
    assert [p.delay(n) for n in range(1, 9)] == [0, 0, 0, 0, 0, 1, 2, 4]
    assert p.delay(16) == 900 and p.delay(10_000) == 900


def test_logs_see_the_client_network_never_the_address() -> None:
    assert client_network("203.0.113.77") == "203.0.113.0/24"
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1::/48"
    assert client_network(None) == "?" and client_network("testclient") == "?"


def test_one_ipv6_host_is_throttled_as_its_64() -> None:
    a = LoginThrottle.address_key("2001:db8:1:2::1")
    assert a == LoginThrottle.address_key("2001:db8:1:2:ffff::9")
    assert a != LoginThrottle.address_key("2001:db8:1:3::1")
    assert LoginThrottle.address_key("192.0.2.1") != LoginThrottle.address_key("192.0.2.2")


async def test_the_store_forgets_expired_keys_and_stays_bounded() -> None:
    now = [0.0]
    store = InMemoryThrottleStore(lambda: now[0], max_keys=3)
    one = ThrottleState(attempts=1, last=0)
    for k in "abcd":
        await store.update(k, lambda _s: one, ttl_s=10)
    assert len(store) == 3
    assert await store.update("a", lambda s: s, 10) is None  # the oldest went first
    now[0] = 11
    assert await store.update("d", lambda s: s, 10) is None  # expired


async def test_a_username_is_locked_with_backoff_and_a_success_starts_it_afresh() -> None:
    now = [1000.0]
    t = LoginThrottle(InMemoryThrottleStore(lambda: now[0]), lambda: now[0], LoginSettings())
    for _ in range(6):  # five free attempts, the sixth is checked and starts a 1 s lock
        await t.begin("alice", "192.0.2.1")
    with pytest.raises(TooManyAttempts) as exc:
        await t.begin("alice", "192.0.2.2")  # another address: the username is locked
    assert exc.value.retry_after == 1 and exc.value.headers == {"Retry-After": "1"}
    now[0] += 1
    attempt = await t.begin("alice", "192.0.2.1")  # one attempt per lock period, then 2 s
    with pytest.raises(TooManyAttempts) as exc:
        await t.begin("alice", "192.0.2.1")
    assert exc.value.retry_after == 2
    await t.begin("bob", "192.0.2.1")  # other users are not affected
    await t.succeeded(attempt)  # the password was right after all
    for _ in range(5):
        await t.begin("alice", "192.0.2.1")


async def test_an_address_is_locked_across_usernames() -> None:
    now = [0.0]
    t = LoginThrottle(InMemoryThrottleStore(lambda: now[0]), lambda: now[0], LoginSettings())
    for i in range(21):
        await t.begin(f"user{i}", "198.51.100.9")
    with pytest.raises(TooManyAttempts):
        await t.begin("someone-new", "198.51.100.9")
    await t.begin("someone-new", "198.51.100.10")


async def test_300_concurrent_wrong_passwords_reach_the_password_check_at_most_six_times(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FrozenClock(datetime(2026, 12, 1, tzinfo=UTC))
    async with running(settings, clock=clock) as rt:
        with caplog.at_level(logging.INFO):
            results = await asyncio.gather(
                *(
                    rt.client.post("/api/v1/auth/login", json={"username": "admin", "password": WRONG})
                    for _ in range(300)
                )
            )
        codes = [r.status_code for r in results]
        assert codes.count(401) <= 6 and codes.count(401) + codes.count(429) == 300
        throttled = next(r for r in results if r.status_code == 429)
        assert throttled.headers["retry-after"] == "1"
        assert throttled.json()["error"]["code"] == "too_many_requests"
        # even the right password waits for the lock to pass...
        right = {"username": "admin", "password": rt.first.password}
        assert (await rt.client.post("/api/v1/auth/login", json=right)).status_code == 429
        clock.advance(timedelta(seconds=2))
        assert (await rt.client.post("/api/v1/auth/login", json=right)).status_code == 200  # ...then works
        # failed sign-ins are logged, without the password and with the address cut to its network
        failed = [r for r in caplog.records if r.getMessage() == "sign-in failed"]
        assert len(failed) == codes.count(401)
        assert all(r.__dict__["client"] == "127.0.0.0/24" for r in failed)
        assert WRONG not in caplog.text and rt.first.password not in caplog.text
        assert "127.0.0.1" not in caplog.text
        # the lockout is in the operation log once, naming the user, not the guesses
        async with rt.services.ctx.db.read() as s:
            rows = (
                await s.execute(select(OplogEntry).where(OplogEntry.action == "user.login.lockout"))
            ).scalars().all()
        assert len(rows) == 1 and rows[0].payload is not None and '"type":"user"' in rows[0].payload
        assert WRONG not in rows[0].payload


async def test_guesses_at_a_username_that_does_not_exist_are_throttled_but_not_in_the_oplog(
    settings: Settings,
) -> None:
    async with running(settings) as rt:
        for _ in range(8):
            await rt.client.post("/api/v1/auth/login", json={"username": "nobody", "password": WRONG})
        r = await rt.client.post("/api/v1/auth/login", json={"username": "nobody", "password": WRONG})
        assert r.status_code == 429
        async with rt.services.ctx.db.read() as s:
            actions = list((await s.execute(select(OplogEntry.action))).scalars())
        assert "user.login.lockout" not in actions
