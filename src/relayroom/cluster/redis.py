"""The Redis connection of a cluster node, and the one error every Redis-backed piece raises.

Timeouts are short and redis-py's own retries are off: a Redis that is down or unreachable shows as
:class:`ClusterUnavailable` within about a second, never as a hang; callers answer with a retryable
error (or, for a room this node owns, go on without Redis).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 32  # per node: a burst of requests queues for a connection instead of opening hundreds


class ClusterUnavailable(Exception):
    """Shared cluster state (Redis) cannot be reached now. Retryable: the same request may succeed in a
    few seconds. The message names no address or credential."""

    retryable = True


def connect(url: str, **options: Any) -> aioredis.Redis:
    """A client for ``url`` (``redis://host:port/db``) with the node's timeouts; ``options`` override."""
    base: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": COMMAND_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 0),  # fail fast; the callers decide when to try again
        "decode_responses": True,
        "health_check_interval": 0,
    }
    base.update(options)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=COMMAND_TIMEOUT_S, **base
    )
    client: aioredis.Redis = aioredis.Redis.from_pool(pool)
    return client


@contextlib.asynccontextmanager
async def unavailable_as_error(what: str) -> AsyncIterator[None]:
    """Turn Redis connection trouble into :class:`ClusterUnavailable` (``what`` says what failed)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as exc:
        raise ClusterUnavailable(f"{what}: shared cluster state is unreachable; retry shortly") from exc
    except RedisError as exc:  # e.g. a server loading its data after a restart
        if "LOADING" in str(exc) or "BUSY" in str(exc):
            raise ClusterUnavailable(f"{what}: shared cluster state is starting; retry shortly") from exc
        raise


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, ClusterUnavailable)
