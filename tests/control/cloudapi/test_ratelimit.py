"""The cloud API's per-credential rate limit, through its protocol (control/cloudapi/ratelimit.py)."""

from __future__ import annotations

import pytest

from relayroom.control.cloudapi.ratelimit import InMemoryRateLimiter, RateLimiter


@pytest.fixture
def now() -> list[float]:
    return [1000.0]


def limiters(now: list[float]) -> list[RateLimiter]:
    return [InMemoryRateLimiter(clock=lambda: now[0])]


async def test_a_credential_gets_limit_requests_per_window_per_class(now: list[float]) -> None:
    for limiter in limiters(now):
        assert [await limiter.allow("sid", "room", 3) for _ in range(4)] == [True, True, True, False]
        assert await limiter.allow("sid", "usage", 1)  # another class counts on its own
        assert await limiter.allow("other", "room", 3)  # another credential too
        now[0] += 0.5
        assert not await limiter.allow("sid", "room", 3)  # refused requests were not counted...
        now[0] += 0.51
        assert await limiter.allow("sid", "room", 3)  # ...so the window's end frees the credential


async def test_many_idle_credentials_are_forgotten_and_stay_correct(now: list[float]) -> None:
    limiter = InMemoryRateLimiter(clock=lambda: now[0])
    for i in range(10_050):
        assert await limiter.allow(f"sid{i}", "room", 1)
    now[0] += 2
    assert await limiter.allow("sid0", "room", 1)
    assert not await limiter.allow("sid0", "room", 1)
