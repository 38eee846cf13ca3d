"""The service container of a cluster node: with ``redis_url`` it builds the Redis-backed shared state,
heartbeats into the node registry and leaves it on close; without, nothing changes (single node)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from relayroom.cluster.dev import SharedKeys
from relayroom.cluster.registry import NodeRegistry
from relayroom.cluster.shared import RedisRateLimiter, RedisReplayCache, RedisThrottleStore
from relayroom.config import Settings
from relayroom.control.accounts.throttle import InMemoryThrottleStore
from relayroom.control.cloudapi.ratelimit import InMemoryRateLimiter
from relayroom.control.container import build_container
from tests.control.cloudapi.server import live_server, settings_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.postgres]


@pytest.fixture
def shared_keys(tmp_path: Path) -> dict[str, Any]:
    keys = SharedKeys.in_dir(tmp_path / "shared")  # what make cluster gives its nodes
    return {"master_key": keys.master_key_b64, "signing_key_file": keys.signing_key_file}


def _node(tmp_path: Path, name: str, db: str, redis_url: str, prefix: str, keys: dict[str, Any]) -> Settings:
    base = settings_for(tmp_path / name, database_url=db)
    return Settings.model_validate(
        base.model_dump()
        | keys
        | {
            "node_id": f"node-{name}",
            "redis_url": redis_url,
            "public_url": f"http://node-{name}.test:8080",
            "cluster": {"key_prefix": prefix, "node_ttl_s": 1.0, "lease_ttl_s": 1.0},
        }
    )


async def test_cluster_node_heartbeats_shares_state_and_leaves(
    tmp_path: Path,
    pg_database: str,
    redis_url: str,
    prefix: str,
    redis: aioredis.Redis,
    shared_keys: dict[str, Any],
) -> None:
    registry = NodeRegistry(redis, prefix=prefix)
    a_cfg = _node(tmp_path, "a", pg_database, redis_url, prefix, shared_keys)
    b_cfg = _node(tmp_path, "b", pg_database, redis_url, prefix, shared_keys)
    async with live_server(a_cfg) as a:
        assert a.first is not None
        async with live_server(b_cfg, login=(a.first.username, a.first.password)) as b:
            for live in (a, b):
                c = live.container
                assert c.cluster is not None and c.cluster.node_id == live.container.settings.node_id
                assert isinstance(c.rate_limiter, RedisRateLimiter)
                assert isinstance(c.replay_cache, RedisReplayCache)
            nodes = {n.node_id: n for n in await registry.live_nodes()}
            assert set(nodes) == {"node-a", "node-b"}
            assert nodes["node-b"].public_url == "http://node-b.test:8080"
            assert nodes["node-a"].region == "local" and not nodes["node-a"].draining
            # one replay record for the whole cluster: a signature accepted on a is refused on b
            assert await a.container.replay_cache.add("sig-1", 60)
            assert not await b.container.replay_cache.add("sig-1", 60)
            # one rate-limit window for the whole cluster
            rl_a, rl_b = a.container.rate_limiter, b.container.rate_limiter
            assert await rl_a.allow("AKID", "read", 2) and await rl_b.allow("AKID", "read", 2)
            assert not await rl_a.allow("AKID", "read", 2)
        # b closed: it left the registry at once (no waiting for its TTL)
        assert [n.node_id for n in await registry.live_nodes()] == ["node-a"]
    assert await registry.live_nodes() == []


async def test_sign_in_throttle_uses_redis_in_a_cluster(
    tmp_path: Path, pg_database: str, redis_url: str, prefix: str, redis: aioredis.Redis
) -> None:
    cfg = _node(tmp_path, "t", pg_database, redis_url, prefix, {})
    container = build_container(cfg)
    try:
        assert container.cluster is not None
        assert isinstance(container.login_throttle._store, RedisThrottleStore)
    finally:
        await container.close()


def test_single_node_builds_no_cluster(tmp_path: Path) -> None:
    container = build_container(settings_for(tmp_path / "one"))
    assert container.cluster is None and container.placement is None
    assert isinstance(container.rate_limiter, InMemoryRateLimiter)
    assert isinstance(container.login_throttle._store, InMemoryThrottleStore)
