"""Rate limiting by query cost, in the style of Shopify's Admin API: a leaky bucket per viewer.

Each viewer (the user, or the client IP when anonymous) has a bucket of `capacity` points that
refills at `restore_rate` points a second. A request is charged its requested cost before it
runs and refused (THROTTLED) when the bucket cannot pay it; after it ran, the difference between
the requested and the actual cost goes back into the bucket. The bucket lives in Redis (shared
by every replica; one Lua script reads, refills and charges it atomically on Redis's clock) or,
without Redis, in this process. When Redis fails the limiter lets requests through: an outage
of the limiter must not become an outage of the API.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from graphql import GraphQLError
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """The bucket as it stands: `extensions.cost.throttleStatus` of a response."""

    maximum_available: int
    currently_available: float
    restore_rate: float

    def seconds_until(self, points: int) -> int:
        """Whole seconds until the bucket holds `points` (at least 1: Retry-After)."""
        missing = points - self.currently_available
        return max(1, math.ceil(missing / self.restore_rate))

    def as_extension(self) -> dict[str, float]:
        rate = self.restore_rate
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": math.floor(self.currently_available),
            "restoreRate": int(rate) if rate.is_integer() else rate,
        }


@dataclass(frozen=True, slots=True)
class Charge:
    allowed: bool
    # None when the bucket could not be read (Redis unavailable: the request went through).
    status: ThrottleStatus | None


class RateLimiter(Protocol):
    capacity: int
    restore_rate: float

    async def charge(self, key: str, points: int) -> Charge:
        """Take `points` from the bucket of `key` when it holds that many (0 reads it)."""

    async def refund(self, key: str, points: int) -> ThrottleStatus | None:
        """Give back `points` taken by `charge` and not used (never above capacity)."""


def bucket_key(viewer: Any, request: Any) -> str:
    """Whose bucket a request drains: the signed-in user's, else its client address's (behind a
    proxy that is the address uvicorn's proxy_headers takes from X-Forwarded-For, when the proxy
    is in FORWARDED_ALLOW_IPS)."""
    user_id = getattr(viewer, "user_id", None)
    if user_id is not None:
        return f"user:{user_id}"
    client = getattr(request, "client", None)
    return f"ip:{client.host if client is not None else 'unknown'}"


def _hashed(key: str) -> str:
    # Hashed so the keyspace does not hold readable IP addresses.
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# KEYS[1]: the bucket, a hash of `points` (available) and `at` (Redis time of that reading, µs).
# ARGV: capacity, restore rate (points a second), points to take (negative: a refund).
# A charge is taken only when the bucket holds it; a refund always is, up to capacity. A full
# bucket is the same as no bucket: it is deleted, and a partial one expires when it would be
# full again, so idle viewers take no memory. Returns {taken (1/0), available (a string: Lua
# numbers would come back truncated to integers)}.
LEAKY_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local take = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local bucket = redis.call('HMGET', KEYS[1], 'points', 'at')
local available = capacity
if bucket[1] and bucket[2] then
  local elapsed = math.max(0, now - tonumber(bucket[2]))
  available = math.min(capacity, tonumber(bucket[1]) + elapsed * rate / 1000000)
end
local taken = 0
if take <= 0 or take <= available then
  available = math.min(capacity, available - take)
  taken = 1
end
if available >= capacity then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'points', string.format('%.17g', available),
             'at', string.format('%d', now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - available) * 1000 / rate) + 1)
end
return {taken, string.format('%.17g', available)}
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every process using the same Redis and key prefix."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        capacity: int,
        restore_rate: float,
        *,
        warn_every_seconds: float = 60.0,
        pause_after_failure_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.restore_rate = float(restore_rate)
        self._prefix = f"{prefix}cost-bucket:"
        # EVALSHA, loading the script again when Redis answers NOSCRIPT (a restart, a flush).
        self._script = redis.register_script(LEAKY_BUCKET_LUA)
        self._warn_every = warn_every_seconds
        self._pause = pause_after_failure_seconds
        self._clock = clock
        self._next_warning = 0.0
        # After a failure, Redis is left alone for a moment: when it hangs rather than refuses,
        # every request would otherwise wait out the socket timeout (twice, with the refund).
        self._paused_until = 0.0

    async def charge(self, key: str, points: int) -> Charge:
        status, taken = await self._take(key, points)
        return Charge(allowed=taken, status=status)

    async def refund(self, key: str, points: int) -> ThrottleStatus | None:
        status, _ = await self._take(key, -points)
        return status

    async def _take(self, key: str, points: int) -> tuple[ThrottleStatus | None, bool]:
        if self._clock() < self._paused_until:
            return None, True
        try:
            taken, available = await self._script(
                keys=[self._prefix + _hashed(key)],
                args=[self.capacity, repr(self.restore_rate), points],
            )
        except (RedisError, OSError, TimeoutError):
            self._fail_open()
            return None, True
        status = ThrottleStatus(self.capacity, float(available), self.restore_rate)
        return status, int(taken) == 1

    def _fail_open(self) -> None:
        now = self._clock()
        self._paused_until = now + self._pause
        if now >= self._next_warning:
            self._next_warning = now + self._warn_every
            log.warning(
                "rate limiting unavailable (Redis); letting requests through "
                "(logged at most every %.0f s)",
                self._warn_every,
                exc_info=True,
            )


class InProcessRateLimiter:
    """Buckets in this process (no REDIS_URL: one worker). The same rules as the Lua script."""

    def __init__(
        self,
        capacity: int,
        restore_rate: float,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.restore_rate = float(restore_rate)
        self._max_entries = max_entries
        self._clock = clock
        # key -> (available, reading time); a full bucket is no entry. Every change re-inserts
        # its key, so the least recently used buckets are at the front.
        self._buckets: dict[str, tuple[float, float]] = {}
        self._next_prune = 0.0

    def __len__(self) -> int:
        """How many buckets it remembers (its memory use)."""
        return len(self._buckets)

    async def charge(self, key: str, points: int) -> Charge:
        status, taken = self._take(key, points)
        return Charge(allowed=taken, status=status)

    async def refund(self, key: str, points: int) -> ThrottleStatus | None:
        status, _ = self._take(key, -points)
        return status

    def _available(self, entry: tuple[float, float] | None, now: float) -> float:
        if entry is None:
            return float(self.capacity)
        points, at = entry
        return min(float(self.capacity), points + max(0.0, now - at) * self.restore_rate)

    def _take(self, key: str, points: int) -> tuple[ThrottleStatus, bool]:
        # No await in here: the reading and the charge are one step on the event loop.
        now = self._clock()
        available = self._available(self._buckets.pop(key, None), now)
        taken = points <= 0 or points <= available
        if taken:
            available = min(float(self.capacity), available - points)
        if available < self.capacity:
            self._buckets[key] = (available, now)
        self._bound_memory(now)
        return ThrottleStatus(self.capacity, available, self.restore_rate), taken

    def _bound_memory(self, now: float) -> None:
        if now >= self._next_prune and len(self._buckets) > 1_000:
            # Full again means forgotten; at most once every ten seconds.
            self._next_prune = now + 10
            full = [k for k, e in self._buckets.items() if self._available(e, now) >= self.capacity]
            for key in full:
                del self._buckets[key]
        if len(self._buckets) > self._max_entries:
            # A flood of keys: forget the least recently used tenth (forgetting fills a bucket).
            excess = len(self._buckets) - self._max_entries * 9 // 10
            for key in list(islice(self._buckets, excess)):
                del self._buckets[key]


def throttled_error(requested: int, status: ThrottleStatus) -> GraphQLError:
    retry_after = status.seconds_until(requested)
    return GraphQLError(
        f"throttled: this request costs {requested} points and "
        f"{math.floor(status.currently_available)} are available (restoring "
        f"{status.as_extension()['restoreRate']} a second); retry in {retry_after} s",
        extensions={
            "code": "THROTTLED",
            "cost": {"requestedQueryCost": requested, "throttleStatus": status.as_extension()},
            "retryAfterSeconds": retry_after,
        },
    )


def throttled_retry_after(response: Any) -> int | None:
    """The Retry-After, in seconds, of an HTTP answer holding a THROTTLED error (of a batch:
    the longest), or None."""
    answers = response if isinstance(response, list) else [response]
    waits = [
        extensions["retryAfterSeconds"]
        for answer in answers
        if isinstance(answer, Mapping)
        for error in answer.get("errors") or ()
        if isinstance(extensions := error.get("extensions"), Mapping)
        and extensions.get("code") == "THROTTLED"
        and isinstance(extensions.get("retryAfterSeconds"), int)
    ]
    return max(waits) if waits else None
