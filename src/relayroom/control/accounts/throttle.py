"""Sign-in throttling: per username and per client address, with exponential backoff.

Each key (a username, a client network) may make ``free_attempts`` sign-in attempts; after that it is
locked for ``base_delay_s``, doubling with each further attempt up to ``max_delay_s``, and a locked key
is answered 429 with ``Retry-After`` before any password is checked. An attempt is counted when it
*starts* (so 300 concurrent guesses do not all reach the password check) and handed back when it
succeeds; a key forgets after ``forget_after_s`` without attempts. A lockout's start is logged and
written to the operation log; failed sign-ins are logged without the password and with the client
address cut to its network (/24, /48).

Trade-off: a per-username lock also slows the real user down while someone guesses their password; the
delays stay short (seconds, at most 15 minutes by default) so that this is a nuisance, not a denial.

``ThrottleStore`` is the seam for the state: in memory for one node (here), in Redis once nodes share it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from sqlalchemy import select

from relayroom.config import LoginSettings
from relayroom.control.errors import AppError, NotAuthenticated
from relayroom.control.principal import SYSTEM
from relayroom.control.services import Services
from relayroom.storage.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottleState:
    attempts: int  # counted attempts since the key was last forgotten or reset
    last: float  # time of the last counted attempt
    locked_until: float = 0.0


class ThrottleStore(Protocol):
    async def update(
        self, key: str, change: Callable[[ThrottleState | None], ThrottleState | None], ttl_s: float
    ) -> ThrottleState | None:
        """Atomically replace the key's state with ``change(state)`` (None deletes it) and return the
        new state; the key expires ``ttl_s`` after this update."""
        ...


class InMemoryThrottleStore:
    """One node's throttle state. Bounded: past ``max_keys`` the least recently used key goes (an
    attacker must then spread over many addresses, each throttled on its own, to push a lock out)."""

    def __init__(self, clock: Callable[[], float], max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max = max_keys
        self._items: OrderedDict[str, tuple[ThrottleState, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def update(
        self, key: str, change: Callable[[ThrottleState | None], ThrottleState | None], ttl_s: float
    ) -> ThrottleState | None:
        # No await inside: atomic on the event loop.
        now = self._clock()
        found = self._items.pop(key, None)
        current = found[0] if found is not None and found[1] > now else None
        new = change(current)
        if new is not None:
            self._items[key] = (new, now + ttl_s)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return new


@dataclass(frozen=True)
class ThrottlePolicy:
    free_attempts: int
    base_delay_s: float
    max_delay_s: float
    forget_after_s: float

    def delay(self, attempts: int) -> float:
        """Lock time after ``attempts`` counted attempts (0 within the free ones)."""
        over = attempts - self.free_attempts
        if over <= 0:
            return 0.0
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** min(over - 1, 40)))


class TooManyAttempts(AppError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"too many sign-in attempts; try again in {self.retry_after} s",
            details={"retry_after": self.retry_after},
        )
        self.headers = {"Retry-After": str(self.retry_after)}


def client_network(address: str | None) -> str:
    """The client's address cut to its network, for logs: IPv4 /24, IPv6 /48 ("?" when unknown)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "?"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _throttle_network(address: str | None) -> str:
    """What one client is, for throttling: an IPv4 address, an IPv6 /64 (one host's usual share)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class Attempt:
    username: str
    address: str | None
    keys: list[tuple[str, ThrottlePolicy]] = field(default_factory=list)
    locks_started: list[str] = field(default_factory=list)  # "user" / "address"


class LoginThrottle:
    def __init__(self, store: ThrottleStore, clock: Callable[[], float], settings: LoginSettings) -> None:
        self._store = store
        self._clock = clock
        timing = (settings.base_delay_s, settings.max_delay_s, settings.forget_after_s)
        self.user_policy = ThrottlePolicy(settings.user_free_attempts, *timing)
        self.address_policy = ThrottlePolicy(settings.address_free_attempts, *timing)

    @staticmethod
    def user_key(username: str) -> str:
        # hashed: the store (and a shared Redis later) never holds the usernames people typed
        return "login:user:" + hashlib.sha256(username.casefold().encode()).hexdigest()[:32]

    @staticmethod
    def address_key(address: str | None) -> str:
        return "login:addr:" + _throttle_network(address)

    async def _count(self, key: str, policy: ThrottlePolicy) -> tuple[float, bool]:
        """Count one attempt on ``key`` unless it is locked. Returns (seconds still locked, lock started)."""
        now = self._clock()
        outcome: dict[str, float | bool] = {"locked": 0.0, "started": False}

        def change(state: ThrottleState | None) -> ThrottleState:
            if state is None or now - state.last > policy.forget_after_s:
                state = ThrottleState(attempts=0, last=now)
            if state.locked_until > now:
                outcome["locked"] = state.locked_until - now
                return state
            attempts = state.attempts + 1
            delay = policy.delay(attempts)
            outcome["started"] = delay > 0 and policy.delay(attempts - 1) == 0
            return ThrottleState(attempts=attempts, last=now, locked_until=now + delay if delay else 0.0)

        await self._store.update(key, change, policy.forget_after_s + policy.max_delay_s)
        return float(outcome["locked"]), bool(outcome["started"])

    async def begin(self, username: str, address: str | None) -> Attempt:
        """Count an attempt for the address, then the username; raise TooManyAttempts if either is
        locked (a locked address does not count against the username it names)."""
        attempt = Attempt(username, address)
        for kind, key, policy in (
            ("address", self.address_key(address), self.address_policy),
            ("user", self.user_key(username), self.user_policy),
        ):
            locked, started = await self._count(key, policy)
            if locked > 0:
                await self._hand_back(attempt)
                raise TooManyAttempts(locked)
            attempt.keys.append((key, policy))
            if started:
                attempt.locks_started.append(kind)
        return attempt

    async def _hand_back(self, attempt: Attempt) -> None:
        """Un-count an attempt that did not reach the password check, or that succeeded."""
        for key, policy in attempt.keys:

            def change(state: ThrottleState | None, policy: ThrottlePolicy = policy) -> ThrottleState | None:
                if state is None:
                    return None
                attempts = max(0, state.attempts - 1)
                locked = state.locked_until if policy.delay(attempts) > 0 else 0.0
                return replace(state, attempts=attempts, locked_until=locked)

            await self._store.update(key, change, policy.forget_after_s + policy.max_delay_s)
        attempt.keys.clear()

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the username starts afresh; the address gets its attempt back."""
        user_key = self.user_key(attempt.username)
        for key, policy in attempt.keys:
            if key == user_key:
                await self._store.update(key, lambda _s: None, policy.forget_after_s)
        attempt.keys = [(k, p) for k, p in attempt.keys if k != user_key]
        await self._hand_back(attempt)


async def login(
    services: Services, throttle: LoginThrottle, username: str, password: str, address: str | None
) -> tuple[str, str | None, User]:
    """Sign in through the throttle: (token, expiry, user), or NotAuthenticated / TooManyAttempts.

    The attempt runs in its own transaction; a lockout's operation-log entry in another one, after the
    failed attempt rolled back (so that it is kept).
    """
    network = client_network(address)
    try:
        attempt = await throttle.begin(username, address)
    except TooManyAttempts:
        log.warning("sign-in throttled", extra={"client": network})
        raise
    try:
        async with services.ctx.db.write() as session:
            issued = await services.accounts.login(session, username, password)
            user = (await session.execute(select(User).where(User.username == username))).scalar_one()
    except NotAuthenticated as exc:
        await _failed(services, attempt, network, exc.message)
        raise
    await throttle.succeeded(attempt)
    return issued.token, issued.expires_at, user


async def _failed(services: Services, attempt: Attempt, network: str, reason: str) -> None:
    async with services.ctx.db.read() as session:
        user_id = (
            await session.execute(select(User.id).where(User.username == attempt.username))
        ).scalar_one_or_none()
    # Never the password; the username only as the id of an existing user (a typo'd password in the
    # username field must not end up in a log).
    log.warning(
        "sign-in failed",
        extra={"user_id": user_id or "unknown user", "client": network, "reason": reason},
    )
    if not attempt.locks_started:
        return
    log.warning("sign-in lockout started", extra={"locks": attempt.locks_started, "client": network})
    async with services.ctx.db.write() as session:
        for kind in attempt.locks_started:
            if kind == "user" and user_id is None:
                continue  # nobody to tell about guesses at a username that does not exist
            await services.oplog.append(
                session,
                principal=SYSTEM,
                action="user.login.lockout",
                account_id=None,
                obj={"type": "user", "id": user_id} if kind == "user" else {"type": "client", "id": network},
                extra={"lock": kind},
            )
