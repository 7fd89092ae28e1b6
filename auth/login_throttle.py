"""Throttles attempts per key inside a window (sign-ins per email, registrations per client IP),
in Redis (shared by replicas) or in-process."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from itertools import islice, takewhile
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class LoginThrottle(Protocol):
    async def attempt(self, key: str) -> int | None:
        """Count an attempt for `key`, before doing any of its work: the seconds to wait when
        it is over the limit (refuse it), or None when it may go ahead.

        Counting first, in one atomic step, is what stops parallel guesses: a check followed
        later by "record the failure" lets every request that arrives meanwhile through."""

    async def succeeded(self, key: str) -> None:
        """Forget the key's attempts (a successful sign-in)."""


def _hashed(key: str) -> str:
    # Hashed so the keyspace does not hold readable email addresses (or IPs).
    return hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]


class RedisLoginThrottle:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        max_attempts: int,
        window_seconds: int,
        *,
        name: str = "login-attempts",
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}{name}:"
        self._max_attempts = max_attempts
        self._window = window_seconds

    # Redis being down must not stop sign-ins (nor turn them into 500s): the throttle fails
    # open and says so in the log, where an outage is visible anyway.

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
            log.warning("login throttle unavailable (Redis); allowing the attempt", exc_info=True)
            return None
        if int(count) > self._max_attempts:
            return max(int(ttl), 1) if int(ttl) > 0 else self._window
        return None

    async def succeeded(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + _hashed(key))
        except RedisError:
            log.warning("login throttle unavailable (Redis); count not reset", exc_info=True)


class InProcessLoginThrottle:
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

    async def succeeded(self, key: str) -> None:
        self._windows.pop(_hashed(key), None)

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


# The in-process stores outlive a request: one per purpose and limits, for the process's life.
_in_process_throttles: dict[tuple[str, int, int], InProcessLoginThrottle] = {}


def registration_throttle(
    redis: Redis | None, key_prefix: str, max_per_window: int, window_seconds: int
) -> LoginThrottle:
    """The throttle of registrations, keyed by client IP: in Redis when there is one (cheap to
    build per request, the counts live in Redis), else this process's own store."""
    if redis is not None:
        return RedisLoginThrottle(
            redis, key_prefix, max_per_window, window_seconds, name="register"
        )
    limits = (key_prefix, max_per_window, window_seconds)
    if limits not in _in_process_throttles:
        _in_process_throttles[limits] = InProcessLoginThrottle(max_per_window, window_seconds)
    return _in_process_throttles[limits]
