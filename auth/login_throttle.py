"""Throttles repeated failed logins for one email, in Redis (shared by replicas) or in-process."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class LoginThrottle(Protocol):
    async def retry_after(self, email: str) -> int | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""

    async def record_failure(self, email: str) -> None: ...

    async def reset(self, email: str) -> None: ...


def _email_key(email: str) -> str:
    # Hashed so the keyspace does not hold readable email addresses.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class RedisLoginThrottle:
    def __init__(self, redis: Redis, prefix: str, max_failures: int, window_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}login-failures:"
        self._max_failures = max_failures
        self._window = window_seconds

    # Redis being down must not stop sign-ins (nor turn them into 500s): the throttle fails
    # open and says so in the log, where an outage is visible anyway.

    async def retry_after(self, email: str) -> int | None:
        key = self._prefix + _email_key(email)
        try:
            async with self._redis.pipeline(transaction=True) as pipeline:
                pipeline.get(key)
                pipeline.ttl(key)
                failures, ttl = await pipeline.execute()
        except RedisError:
            log.warning("login throttle unavailable (Redis); allowing the attempt", exc_info=True)
            return None
        if failures is not None and int(failures) >= self._max_failures:
            return max(int(ttl), 1)
        return None

    async def record_failure(self, email: str) -> None:
        key = self._prefix + _email_key(email)
        # The window starts at the first failure and is not extended by later ones (INCR keeps
        # the TTL that SET ... NX gave the key; works on Redis 6 as well as 7).
        try:
            async with self._redis.pipeline(transaction=True) as pipeline:
                pipeline.set(key, 0, ex=self._window, nx=True)
                pipeline.incr(key)
                await pipeline.execute()
        except RedisError:
            log.warning("login throttle unavailable (Redis); failure not counted", exc_info=True)

    async def reset(self, email: str) -> None:
        try:
            await self._redis.delete(self._prefix + _email_key(email))
        except RedisError:
            log.warning("login throttle unavailable (Redis); count not reset", exc_info=True)


class InProcessLoginThrottle:
    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self._max_failures = max_failures
        self._window = window_seconds
        self._failures: dict[str, tuple[int, float]] = {}

    async def retry_after(self, email: str) -> int | None:
        count, window_ends = self._failures.get(_email_key(email), (0, 0.0))
        remaining = window_ends - time.monotonic()
        if count >= self._max_failures and remaining > 0:
            return max(int(remaining), 1)
        return None

    async def record_failure(self, email: str) -> None:
        key = _email_key(email)
        now = time.monotonic()
        count, window_ends = self._failures.get(key, (0, 0.0))
        if window_ends <= now:
            count, window_ends = 0, now + self._window
        self._failures[key] = (count + 1, window_ends)
        if len(self._failures) > 100_000:  # bound memory: forget the expired windows
            self._failures = {k: v for k, v in self._failures.items() if v[1] > now}

    async def reset(self, email: str) -> None:
        self._failures.pop(_email_key(email), None)
