"""Redis implementations of the state that must be one across a cluster's nodes.

Each matches the in-process implementation it replaces, method for method, so a node picks one or the
other at start: ``RedisRateLimiter`` (cloud-API request limits), ``RedisReplayCache`` (accepted
cloud-API signatures), ``RedisThrottleStore`` (sign-in throttling), ``RedisPresence`` (TRTC's one room
per user at a time) and ``RedisBlocks`` (SetUserBlocked, app-wide). Every call raises
:class:`~relayroom.cluster.redis.ClusterUnavailable` when Redis cannot be reached: the caller refuses the
request with a retryable error rather than letting it through unchecked.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Callable
from dataclasses import asdict

import redis.asyncio as aioredis

from relayroom import jsonlimits
from relayroom.cluster.redis import ClusterUnavailable, unavailable_as_error
from relayroom.control.accounts.throttle import ThrottleState

# KEYS[1] window zset, ARGV[1] limit, ARGV[2] window ms, ARGV[3] member suffix -> 1 allowed, 0 refused.
# Time is Redis's own (TIME), so nodes with skewed clocks still share one window.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisRateLimiter:
    """Sliding window per (credential, limit class), one for the whole cluster."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "relayroom:", window_s: float = 1.0) -> None:
        self._r = redis
        self._prefix = prefix
        self._window_ms = max(1, int(window_s * 1000))
        self._script = redis.register_script(_SLIDING_WINDOW)

    async def allow(self, secret_id: str, cls: str, limit: int) -> bool:
        key = f"{self._prefix}ratelimit:{cls}:{secret_id}"
        async with unavailable_as_error("rate limit"):
            allowed = await self._script(keys=[key], args=[limit, self._window_ms, secrets.token_hex(6)])
        return bool(allowed)


class RedisReplayCache:
    """Signatures remembered with ``SET NX PX``: of two nodes adding one key at once, one gets True.

    Never :class:`ReplayCacheFull`: Redis's own memory limit bounds it (configure ``maxmemory`` with a
    ``volatile-*`` policy: every key here expires)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "relayroom:") -> None:
        self._r = redis
        self._prefix = prefix

    async def add(self, key: str, ttl_s: float) -> bool:
        async with unavailable_as_error("replay check"):
            done = await self._r.set(
                f"{self._prefix}replay:{key}", "1", nx=True, px=max(1, int(ttl_s * 1000))
            )
        return bool(done)


class RedisThrottleStore:
    """Sign-in throttle state. ``change`` is Python, so the read-change-write runs under a short
    per-key Redis lock (``SET NX PX``, released by compare-and-delete): concurrent attempts on one
    username from every node are counted one after the other, none lost."""

    def __init__(
        self, redis: aioredis.Redis, *, prefix: str = "relayroom:", lock_ms: int = 5000, wait_s: float = 10.0
    ) -> None:
        self._r = redis
        self._prefix = prefix
        self._lock_ms = lock_ms
        self._wait_s = wait_s
        self._unlock = redis.register_script(_LEAVE)

    async def update(
        self, key: str, change: Callable[[ThrottleState | None], ThrottleState | None], ttl_s: float
    ) -> ThrottleState | None:
        rkey = f"{self._prefix}throttle:{key}"
        lock, token = f"{rkey}:lock", secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        async with unavailable_as_error("sign-in throttle"):
            while not await self._r.set(lock, token, nx=True, px=self._lock_ms):
                if loop.time() > deadline:
                    raise ClusterUnavailable("sign-in throttle: the key stays locked; retry shortly")
                await asyncio.sleep(random.uniform(0.002, 0.01))
            try:
                raw = await self._r.get(rkey)
                new = change(ThrottleState(**jsonlimits.loads(raw)) if raw else None)
                if new is None:
                    await self._r.delete(rkey)
                else:
                    await self._r.set(rkey, json.dumps(asdict(new)), px=max(1, int(ttl_s * 1000)))
                return new
            finally:
                await self._unlock(keys=[lock], args=[token])


# KEYS[1] presence key, ARGV[1] who (room/session), ARGV[2] ttl ms -> the previous holder or false
_CLAIM = """
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if old == ARGV[1] then return false end
return old
"""
# KEYS[1] presence key, ARGV[1] who -> 1 released, 0 another session holds it now
_LEAVE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisPresence:
    """TRTC's one room per user at a time, across nodes: which session (room and node) a UserId of an
    application is in. Entering claims the user; the claim returns the session it replaced, which the
    caller kicks (on its own node, or over the command bus on the node that holds it)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "relayroom:", ttl_s: float = 120.0) -> None:
        self._r = redis
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._claim = redis.register_script(_CLAIM)
        self._leave = redis.register_script(_LEAVE)

    def _key(self, sdkappid: int, user_id: str) -> str:
        return f"{self._prefix}presence:{sdkappid}:{user_id}"

    async def claim(self, sdkappid: int, user_id: str, where: str) -> str | None:
        """Record the user at ``where``; return where they were before (None: nowhere, or there)."""
        async with unavailable_as_error("presence"):
            old = await self._claim(keys=[self._key(sdkappid, user_id)], args=[where, self._ttl_ms])
        return str(old) if old else None

    async def touch(self, sdkappid: int, user_id: str, where: str) -> bool:
        """Keep a present user's record alive; False when another session has claimed the user."""
        key = self._key(sdkappid, user_id)
        async with unavailable_as_error("presence"):
            if await self._r.get(key) != where:
                return False
            await self._r.pexpire(key, self._ttl_ms)
        return True

    async def release(self, sdkappid: int, user_id: str, where: str) -> bool:
        """The user left ``where``; a newer session elsewhere is left alone."""
        async with unavailable_as_error("presence"):
            return bool(await self._leave(keys=[self._key(sdkappid, user_id)], args=[where]))

    async def where(self, sdkappid: int, user_id: str) -> str | None:
        async with unavailable_as_error("presence"):
            found = await self._r.get(self._key(sdkappid, user_id))
        return str(found) if found is not None else None


class RedisBlocks:
    """UserIds an application's server blocked (SetUserBlocked), one set per application."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "relayroom:") -> None:
        self._r = redis
        self._prefix = prefix

    def _key(self, sdkappid: int) -> str:
        return f"{self._prefix}blocked:{sdkappid}"

    async def set_user_blocked(self, sdkappid: int, user_id: str, blocked: bool) -> None:
        async with unavailable_as_error("user block"):
            if blocked:
                await self._r.sadd(self._key(sdkappid), user_id)
            else:
                await self._r.srem(self._key(sdkappid), user_id)

    async def is_blocked(self, sdkappid: int, user_id: str) -> bool:
        async with unavailable_as_error("user block"):
            return bool(await self._r.sismember(self._key(sdkappid), user_id))

    async def forget_app(self, sdkappid: int) -> None:
        """The application was purged: its blocks go too."""
        async with unavailable_as_error("user block"):
            await self._r.delete(self._key(sdkappid))
