"""The attempt throttles (login per email, registration per IP) against a real Redis, in-process,
and when Redis is unreachable or silent."""

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from auth.login_throttle import InProcessLoginThrottle, RedisLoginThrottle, registration_throttle
from server import build_services


async def test_redis_throttle_counts_within_a_window_that_later_attempts_do_not_extend(settings):
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    throttle = RedisLoginThrottle(redis, prefix, max_attempts=2, window_seconds=30)
    email = "someone@example.com"
    assert await throttle.attempt(email) is None
    key = next(iter(await redis.keys(f"{prefix}*")))
    assert email.encode() not in key  # hashed
    await redis.expire(key, 7)
    assert await throttle.attempt(email) is None
    wait = await throttle.attempt(email)
    assert wait is not None and wait <= 7
    await throttle.succeeded(email)
    assert await throttle.attempt(email) is None
    await redis.aclose()


async def test_redis_throttle_lets_only_the_limit_through_when_attempts_race(settings):
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    throttle = RedisLoginThrottle(redis, prefix, max_attempts=3, window_seconds=30)
    waits = await asyncio.gather(*(throttle.attempt("race@example.com") for _ in range(20)))
    assert waits.count(None) == 3
    await redis.aclose()


async def test_an_unreachable_redis_lets_sign_ins_through(caplog):
    # Nothing listens on port 1: every Redis call fails at once.
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    throttle = RedisLoginThrottle(redis, "x:", max_attempts=1, window_seconds=30)
    for _ in range(3):
        assert await throttle.attempt("a@example.com") is None
    await throttle.succeeded("a@example.com")
    assert any("login throttle unavailable" in r.getMessage() for r in caplog.records)
    await redis.aclose()


async def test_a_redis_that_never_answers_fails_open_quickly(settings, caplog):
    # The server's own Redis client: a Redis that accepts connections but hangs must not hang
    # every sign-in with it.
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    services = build_services(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    )
    try:
        started = time.monotonic()
        wait = await asyncio.wait_for(services.login_throttle.attempt("c@example.com"), 10)
        assert time.monotonic() - started < 2.5
        assert wait is None
        assert any("login throttle unavailable" in r.getMessage() for r in caplog.records)
    finally:
        release.set()
        assert services.redis is not None
        await services.redis.aclose()
        await services.engine.dispose()
        server.close()
        await server.wait_closed()


async def test_in_process_throttle_refuses_beyond_the_limit():
    throttle = InProcessLoginThrottle(max_attempts=2, window_seconds=60)
    assert await throttle.attempt("b@example.com") is None
    assert await throttle.attempt("B@example.com ") is None
    assert await throttle.attempt("b@example.com") is not None
    assert await throttle.attempt("c@example.com") is None
    await throttle.succeeded("b@example.com")
    assert await throttle.attempt("b@example.com") is None


async def test_in_process_throttle_lets_only_the_limit_through_when_attempts_race():
    throttle = InProcessLoginThrottle(max_attempts=3, window_seconds=60)
    waits = await asyncio.gather(*(throttle.attempt("race@example.com") for _ in range(20)))
    assert waits.count(None) == 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_in_process_throttle_forgets_expired_windows():
    clock = Clock()
    throttle = InProcessLoginThrottle(max_attempts=1, window_seconds=60, clock=clock)
    for n in range(5):
        await throttle.attempt(f"old-{n}@example.com")
    assert len(throttle) == 5
    clock.now += 61
    assert await throttle.attempt("old-0@example.com") is None  # a new window
    assert len(throttle) == 1


async def test_in_process_throttle_stays_bounded_by_dropping_the_oldest_windows():
    clock = Clock()
    throttle = InProcessLoginThrottle(
        max_attempts=1, window_seconds=60, max_entries=10, clock=clock
    )
    for n in range(50):
        clock.now += 0.01  # all still live
        await throttle.attempt(f"k{n}@example.com")
    assert len(throttle) <= 10
    # The newest are remembered, the oldest were given up.
    assert await throttle.attempt("k49@example.com") is not None
    assert await throttle.attempt("k0@example.com") is None


@pytest.mark.parametrize("use_redis", [True, False], ids=["redis", "in-process"])
async def test_registration_throttle_counts_every_registration_per_client(settings, use_redis):
    redis = Redis.from_url(settings.redis_url) if use_redis else None
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    throttle = registration_throttle(redis, prefix, max_per_window=2, window_seconds=60)
    client = f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    assert await throttle.attempt(client) is None
    assert await throttle.attempt(client) is None
    assert await throttle.attempt(client) is not None
    # The same store, asked again (as each request does), remembers.
    again = registration_throttle(redis, prefix, max_per_window=2, window_seconds=60)
    assert await again.attempt(client) is not None
    assert await again.attempt(client + "-other") is None
    if redis is not None:
        assert await redis.keys(f"{prefix}register:*")
        await redis.aclose()
