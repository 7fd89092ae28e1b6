"""Throttles of sign-ins (per email, client address and both, with progressive delays and known
addresses) and of registrations (per client address, a plain window), in Redis (shared by
replicas) or in-process.

Sign-in protection follows OWASP's Authentication Cheat Sheet ("Blocking brute force"): no hard
lockout of an account, which would let anyone lock a victim out. Each attempt is counted in up
to three scopes, in this order, stopping at the first that refuses it:

- pair: this email from this client address. LOGIN_MAX_FAILURES free attempts, then each
  attempt must wait a delay that doubles (LOGIN_FIRST_DELAY_SECONDS up to
  LOGIN_MAX_DELAY_SECONDS); an attempt made while waiting doubles it too.
- address: this client address over every email (password spraying), the same way with
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS free attempts.
- email: this email from every client address that is not a known one (distributed guessing),
  with LOGIN_MAX_ATTEMPTS_PER_EMAIL free attempts. Here an attempt made while waiting does not
  lengthen the wait, so whoever waits the announced time gets a try.

A known address is one this email signed in from within LOGIN_KNOWN_ADDRESS_DAYS: an attack on
the email from elsewhere does not slow its owner down there. (An address rather than a device
cookie: the API is used by non-browser clients, and a cookie or token would need every client to
store and send it back; the address needs nothing from them.)

Every count is kept until LOGIN_FAILURE_WINDOW_SECONDS pass without an attempt in its scope, so
a patient attacker stays at the longest delay instead of earning fresh free attempts.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice, takewhile
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from settings import Settings

log = logging.getLogger(__name__)


def _hashed(*parts: str) -> str:
    # Hashed so the keyspace does not hold readable email addresses (or IPs).
    joined = "\n".join(part.strip().lower() for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


# --- registrations (and any plain count per key in a window) ----------------------------


class WindowThrottle(Protocol):
    async def attempt(self, key: str) -> int | None:
        """Count an attempt for `key`, before doing any of its work: the seconds to wait when
        it is over the limit (refuse it), or None when it may go ahead.

        Counting first, in one atomic step, is what stops parallel guesses: a check followed
        later by "record the failure" lets every request that arrives meanwhile through."""


class RedisWindowThrottle:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        max_attempts: int,
        window_seconds: int,
        *,
        name: str,
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}{name}:"
        self._name = name
        self._max_attempts = max_attempts
        self._window = window_seconds

    # Redis being down must not stop registrations or sign-ins (nor turn them into 500s): the
    # throttles fail open and say so in the log, where an outage is visible anyway.

    async def attempt(self, key: str) -> int | None:
        redis_key = self._prefix + _hashed(key)
        # One transaction: the window starts at the first attempt and later ones do not extend
        # it (INCR keeps the TTL that SET ... NX gave the key; works on Redis 6 as well as 7).
        try:
            async with self._redis.pipeline(transaction=True) as pipeline:
                pipeline.set(redis_key, 0, ex=self._window, nx=True)
                pipeline.incr(redis_key)
                pipeline.ttl(redis_key)
                _, count, ttl = await pipeline.execute()
        except RedisError:
            log.warning(
                "%s throttle unavailable (Redis); allowing the attempt", self._name, exc_info=True
            )
            return None
        if int(count) > self._max_attempts:
            return max(int(ttl), 1) if int(ttl) > 0 else self._window
        return None


class InProcessWindowThrottle:
    def __init__(
        self,
        max_attempts: int,
        window_seconds: int,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_attempts = max_attempts
        self._window = window_seconds
        self._max_entries = max_entries
        self._clock = clock
        # key -> (attempts, window end). Insertion order is window-start order (a new window
        # re-inserts its key), so the expired and the oldest entries are always at the front.
        self._windows: dict[str, tuple[int, float]] = {}
        self._next_prune = 0.0

    def __len__(self) -> int:
        """How many keys it remembers (its memory use)."""
        return len(self._windows)

    async def attempt(self, key: str) -> int | None:
        # No await in here: count and decision are one step on the event loop.
        hashed, now = _hashed(key), self._clock()
        count, window_ends = self._windows.get(hashed, (0, 0.0))
        if window_ends <= now:
            self._windows.pop(hashed, None)
            count, window_ends = 0, now + self._window
        count += 1
        self._windows[hashed] = (count, window_ends)
        self._bound_memory(now)
        if count > self._max_attempts:
            return max(int(window_ends - now), 1)
        return None

    def _bound_memory(self, now: float) -> None:
        if now >= self._next_prune:
            # At most once a second: the expired windows are a prefix of the dict.
            self._next_prune = now + 1
            expired = takewhile(lambda item: item[1][1] <= now, self._windows.items())
            for key in [key for key, _ in expired]:
                del self._windows[key]
        if len(self._windows) > self._max_entries:
            # Still over the cap with live windows (a flood of keys): give up the oldest, a
            # tenth at a time, so the cost is not paid again on each of the next attempts.
            excess = len(self._windows) - self._max_entries * 9 // 10
            for key in list(islice(self._windows, excess)):
                del self._windows[key]


def registration_throttle(redis: Redis | None, settings: Settings) -> WindowThrottle:
    """The process's throttle of registrations, keyed by client address (built once, at
    start-up): in Redis when there is one, else in-process."""
    limits = settings.register_max_per_window, settings.register_window_seconds
    if redis is not None:
        return RedisWindowThrottle(redis, settings.redis_key_prefix, *limits, name="register")
    return InProcessWindowThrottle(*limits)


# --- sign-in -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInLimits:
    per_pair: int
    per_address: int
    per_email: int
    # Counts are forgotten after this long without an attempt in their scope.
    window_seconds: int
    first_delay_seconds: int
    max_delay_seconds: int
    known_address_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimits:
        return cls(
            per_pair=settings.login_max_failures,
            per_address=settings.login_max_attempts_per_address,
            per_email=settings.login_max_attempts_per_email,
            window_seconds=settings.login_failure_window_seconds,
            first_delay_seconds=settings.login_first_delay_seconds,
            max_delay_seconds=settings.login_max_delay_seconds,
            known_address_seconds=settings.login_known_address_days * 86_400,
        )

    def delay_seconds(self, attempts: int, free: int) -> float:
        """The wait after the `attempts`-th attempt of a scope that allows `free` of them:
        none before the last free one, then doubling from the first delay up to the longest."""
        if attempts < free:
            return 0.0
        # min() first: 2 ** a big exponent would not fit in a float.
        doublings = min(attempts - free, 32)
        return float(min(self.first_delay_seconds * 2**doublings, self.max_delay_seconds))


class SignInThrottle(Protocol):
    async def attempt(self, email: str, address: str) -> int | None:
        """Count a sign-in attempt for `email` from client `address`, before any password
        work: the seconds to wait when it is refused, or None when it may go ahead.

        Counting first, in one atomic step, is what stops parallel guesses: a check followed
        later by "record the failure" lets every request that arrives meanwhile through."""

    async def succeeded(self, email: str, address: str) -> None:
        """A right password: the pair's counts are forgotten, the address's and the email's
        forget this attempt (not the others: an attacker's own account must not wipe the
        counts of their spraying), and the address becomes a known one for the email."""


# One script, so the decision over all scopes is one atomic step in Redis.
# KEYS: known, then (count, block) for the pair, the address and the email scope.
# ARGV: window ms, first delay ms, longest delay ms, free attempts of the pair, address, email.
_ATTEMPT_SCRIPT = """
local window, first, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local known = redis.call('EXISTS', KEYS[1]) == 1
for scope = 1, 3 do
  if not (scope == 3 and known) then
    local count_key, block_key = KEYS[2 * scope], KEYS[2 * scope + 1]
    local free = tonumber(ARGV[3 + scope])
    local attempts = redis.call('INCR', count_key)
    local waiting = redis.call('PTTL', block_key)
    local refused = waiting > 0
    if attempts >= free and (not refused or scope ~= 3) then
      local delay = math.min(first * 2 ^ math.min(attempts - free, 32), longest)
      if delay > waiting then
        redis.call('SET', block_key, '1', 'PX', math.floor(delay))
        waiting = delay
      end
    end
    redis.call('PEXPIRE', count_key, math.floor(math.max(window, waiting)))
    if refused then
      return math.floor(waiting)
    end
  end
end
return 0
"""

# KEYS: known, then (count, block) for the pair, the address and the email scope.
# ARGV: known address ttl ms, free attempts of the address and the email scope.
_SUCCEEDED_SCRIPT = """
local was_known = redis.call('EXISTS', KEYS[1]) == 1
redis.call('DEL', KEYS[2], KEYS[3])
local function forget_one(count_key, block_key, free)
  local attempts = tonumber(redis.call('GET', count_key) or '0')
  if attempts > 0 then
    redis.call('DECR', count_key)
  end
  if attempts - 1 < free then
    redis.call('DEL', block_key)
  end
end
forget_one(KEYS[4], KEYS[5], tonumber(ARGV[2]))
if not was_known then
  forget_one(KEYS[6], KEYS[7], tonumber(ARGV[3]))
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 0
"""


def _seconds(milliseconds: int) -> int:
    """A wait to announce: whole seconds, rounded up (both stores count in milliseconds)."""
    return max(math.ceil(milliseconds / 1000), 1)


class RedisSignInThrottle:
    def __init__(self, redis: Redis, prefix: str, limits: SignInLimits) -> None:
        self._prefix = f"{prefix}sign-in:"
        self._limits = limits
        self._attempt = redis.register_script(_ATTEMPT_SCRIPT)
        self._succeeded = redis.register_script(_SUCCEEDED_SCRIPT)

    def _keys(self, email: str, address: str) -> list[str]:
        pair, by_address, by_email = _hashed(email, address), _hashed(address), _hashed(email)
        return [
            f"{self._prefix}known:{pair}",
            f"{self._prefix}pair:{pair}",
            f"{self._prefix}pair-wait:{pair}",
            f"{self._prefix}address:{by_address}",
            f"{self._prefix}address-wait:{by_address}",
            f"{self._prefix}email:{by_email}",
            f"{self._prefix}email-wait:{by_email}",
        ]

    async def attempt(self, email: str, address: str) -> int | None:
        limits = self._limits
        try:
            waiting_ms = await self._attempt(
                keys=self._keys(email, address),
                args=[
                    limits.window_seconds * 1000,
                    limits.first_delay_seconds * 1000,
                    limits.max_delay_seconds * 1000,
                    limits.per_pair,
                    limits.per_address,
                    limits.per_email,
                ],
            )
        except RedisError:
            log.warning("login throttle unavailable (Redis); allowing the attempt", exc_info=True)
            return None
        return _seconds(int(waiting_ms)) if int(waiting_ms) > 0 else None

    async def succeeded(self, email: str, address: str) -> None:
        limits = self._limits
        try:
            await self._succeeded(
                keys=self._keys(email, address),
                args=[limits.known_address_seconds * 1000, limits.per_address, limits.per_email],
            )
        except RedisError:
            log.warning("login throttle unavailable (Redis); count not reset", exc_info=True)


@dataclass(slots=True)
class _Scope:
    attempts: int
    waiting_until: float
    forgotten_at: float


class InProcessSignInThrottle:
    """The same rules as the Redis script, for one process (no await inside a decision, so it
    is one step on the event loop)."""

    def __init__(
        self,
        limits: SignInLimits,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._max_entries = max_entries
        self._clock = clock
        # Re-inserted on each change, so roughly in the order they are forgotten.
        self._scopes: dict[str, _Scope] = {}
        self._known: dict[str, float] = {}  # pair -> until when it is known
        self._next_prune = 0.0

    def __len__(self) -> int:
        """How many scopes and known addresses it remembers (its memory use)."""
        return len(self._scopes) + len(self._known)

    def _scope_keys(self, email: str, address: str) -> list[tuple[str, int]]:
        limits = self._limits
        return [
            ("pair:" + _hashed(email, address), limits.per_pair),
            ("address:" + _hashed(address), limits.per_address),
            ("email:" + _hashed(email), limits.per_email),
        ]

    def _is_known(self, email: str, address: str, now: float) -> bool:
        return self._known.get(_hashed(email, address), 0.0) > now

    async def attempt(self, email: str, address: str) -> int | None:
        now, limits = self._clock(), self._limits
        known = self._is_known(email, address, now)
        self._prune(now)
        for index, (key, free) in enumerate(self._scope_keys(email, address)):
            is_email_scope = index == 2
            if is_email_scope and known:
                continue
            scope = self._scopes.pop(key, None)
            if scope is None or scope.forgotten_at <= now:
                scope = _Scope(0, 0.0, 0.0)
            scope.attempts += 1
            refused = scope.waiting_until > now
            if not (refused and is_email_scope):
                delay = limits.delay_seconds(scope.attempts, free)
                scope.waiting_until = max(scope.waiting_until, now + delay)
            scope.forgotten_at = max(now + limits.window_seconds, scope.waiting_until)
            self._scopes[key] = scope
            if refused:
                return _seconds(round((scope.waiting_until - now) * 1000))
        return None

    async def succeeded(self, email: str, address: str) -> None:
        now = self._clock()
        was_known = self._is_known(email, address, now)
        (pair, _), *others = self._scope_keys(email, address)
        self._scopes.pop(pair, None)
        for index, (key, free) in enumerate(others):
            scope = self._scopes.get(key)
            if scope is None or (index == 1 and was_known):
                continue
            scope.attempts = max(scope.attempts - 1, 0)
            if scope.attempts < free:
                scope.waiting_until = 0.0
        known = _hashed(email, address)
        self._known.pop(known, None)
        self._known[known] = now + self._limits.known_address_seconds
        self._prune(now)

    def _prune(self, now: float) -> None:
        if now >= self._next_prune:
            # At most once a second: the forgotten entries are (roughly) a prefix.
            self._next_prune = now + 1
            for key in [
                k for k, _ in takewhile(lambda i: i[1].forgotten_at <= now, self._scopes.items())
            ]:
                del self._scopes[key]
            for key in [k for k, _ in takewhile(lambda i: i[1] <= now, self._known.items())]:
                del self._known[key]
        for store in (self._scopes, self._known):
            if len(store) > self._max_entries:
                # A flood of keys: give up the oldest, a tenth at a time.
                excess = len(store) - self._max_entries * 9 // 10
                for key in list(islice(store, excess)):
                    del store[key]


def sign_in_throttle(redis: Redis | None, settings: Settings) -> SignInThrottle:
    """The process's sign-in throttle: in Redis when there is one, else in-process."""
    limits = SignInLimits.from_settings(settings)
    if redis is not None:
        return RedisSignInThrottle(redis, settings.redis_key_prefix, limits)
    return InProcessSignInThrottle(limits)
