"""Redis at 127.0.0.1:6379 for the cluster tests: a key prefix of its own per test, and only those keys
deleted afterwards (the server is shared: never stopped, never flushed)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from relayroom.cluster.redis import connect
from tests.web.conftest import chromium  # noqa: F401 (the browser fixture, for tests/cluster/test_three_nodes.py)

REDIS_URL = os.environ.get("RELAYROOM_TEST_REDIS", "redis://127.0.0.1:6379/0")
_PROBLEM: list[str | None] = []


def _redis_problem() -> str | None:
    if not _PROBLEM:

        async def probe() -> None:
            r = connect(REDIS_URL)
            try:
                await r.ping()
            finally:
                await r.aclose()

        try:
            asyncio.run(probe())
            _PROBLEM.append(None)
        except Exception as exc:
            _PROBLEM.append(f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}: {exc})")
    return _PROBLEM[0]


@pytest.fixture
def redis_url() -> str:
    problem = _redis_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)  # CI machines have Redis: absence there is a failure
        pytest.skip(problem)
    return REDIS_URL


@pytest.fixture
def prefix() -> str:
    return f"rrtest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
