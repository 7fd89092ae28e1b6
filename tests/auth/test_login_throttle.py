"""The Redis-backed login throttle against a real Redis, and when Redis is unreachable."""

import uuid

from redis.asyncio import Redis

from auth.login_throttle import InProcessLoginThrottle, RedisLoginThrottle


async def test_redis_throttle_counts_within_a_window_that_later_failures_do_not_extend(settings):
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    throttle = RedisLoginThrottle(redis, prefix, max_failures=2, window_seconds=30)
    email = "someone@example.com"
    await throttle.record_failure(email)
    assert await throttle.retry_after(email) is None
    key = next(iter(await redis.keys(f"{prefix}*")))
    await redis.expire(key, 7)
    await throttle.record_failure(email)
    wait = await throttle.retry_after(email)
    assert wait is not None and wait <= 7
    await throttle.reset(email)
    assert await throttle.retry_after(email) is None
    await redis.aclose()


async def test_an_unreachable_redis_lets_sign_ins_through(caplog):
    # Nothing listens on port 1: every Redis call fails at once.
    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    throttle = RedisLoginThrottle(redis, "x:", max_failures=1, window_seconds=30)
    for _ in range(3):
        await throttle.record_failure("a@example.com")
    assert await throttle.retry_after("a@example.com") is None
    await throttle.reset("a@example.com")
    assert any("login throttle unavailable" in r.getMessage() for r in caplog.records)
    await redis.aclose()


async def test_in_process_throttle_blocks_after_the_limit():
    throttle = InProcessLoginThrottle(max_failures=2, window_seconds=60)
    await throttle.record_failure("b@example.com")
    assert await throttle.retry_after("b@example.com") is None
    await throttle.record_failure("B@example.com ")
    assert await throttle.retry_after("b@example.com") is not None
    assert await throttle.retry_after("c@example.com") is None
