"""The attempt throttles (auth/login_throttle.py): sign-ins per email, client address and both,
with progressive delays and known addresses; registrations per client address. Against a real
Redis and in-process, and when Redis is unreachable or silent."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from auth.login_throttle import (
    InProcessSignInThrottle,
    InProcessWindowThrottle,
    RedisSignInThrottle,
    RedisWindowThrottle,
    SignInLimits,
    SignInThrottle,
    registration_throttle,
)
from server import build_services

LIMITS = SignInLimits(
    per_pair=3,
    per_address=10,
    per_email=5,
    window_seconds=600,
    first_delay_seconds=100,
    max_delay_seconds=1000,
    known_address_seconds=86_400,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def new_address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"


MakeThrottle = Callable[[SignInLimits], SignInThrottle]


@pytest.fixture(params=["redis", "in-process"])
async def make_throttle(request, settings) -> AsyncIterator[MakeThrottle]:
    """Sign-in throttles on a prefix of their own in the run's Redis, or in-process; the Redis
    keys are removed afterwards (known addresses live for days)."""
    if request.param == "in-process":
        yield lambda limits: InProcessSignInThrottle(limits)
        return
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    yield lambda limits: RedisSignInThrottle(redis, prefix, limits)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def attempts(throttle: SignInThrottle, email: str, address: str, count: int) -> list:
    return [await throttle.attempt(email, address) for _ in range(count)]


# --- sign-in ----------------------------------------------------------------------------------


async def test_an_attack_from_one_address_slows_only_that_address(make_throttle):
    throttle = make_throttle(LIMITS)
    victim, home, attacker = new_email(), new_address(), new_address()
    assert await throttle.attempt(victim, home) is None
    await throttle.succeeded(victim, home)

    waits = await attempts(throttle, victim, attacker, 50)
    assert waits[:3] == [None, None, None]  # the free attempts
    # Then progressive, not a fixed lockout: each attempt made while waiting doubles the wait.
    assert waits[3:7] == [200, 400, 800, 1000]
    assert set(waits[7:]) == {LIMITS.max_delay_seconds}

    # The owner at home, and the owner anywhere else, are not slowed by it.
    assert await throttle.attempt(victim, home) is None
    assert await throttle.attempt(victim, new_address()) is None


async def test_distributed_guessing_slows_unknown_addresses_but_not_a_known_one(make_throttle):
    throttle = make_throttle(LIMITS)
    victim, home = new_email(), new_address()
    assert await throttle.attempt(victim, home) is None
    await throttle.succeeded(victim, home)

    # 10 addresses, each within its own free attempts: 30 guesses at one email.
    waits = [w for _ in range(10) for w in await attempts(throttle, victim, new_address(), 3)]
    assert waits[: LIMITS.per_email] == [None] * LIMITS.per_email
    assert all(wait is not None for wait in waits[LIMITS.per_email :])

    elsewhere = await throttle.attempt(victim, new_address())
    assert elsewhere is not None and 0 < elsewhere <= LIMITS.max_delay_seconds
    assert await throttle.attempt(victim, home) is None  # the known address
    await throttle.succeeded(victim, home)
    assert await throttle.attempt(victim, home) is None


async def test_a_delay_for_one_email_is_not_lengthened_by_attempts_from_elsewhere():
    # Whoever waits the time announced gets a try, however many others hammered meanwhile.
    clock = Clock()
    throttle = InProcessSignInThrottle(LIMITS, clock=clock)
    victim = new_email()
    for _ in range(LIMITS.per_email):
        assert await throttle.attempt(victim, new_address()) is None
    first = await throttle.attempt(victim, new_address())
    assert first == LIMITS.first_delay_seconds
    clock.now += 10
    for _ in range(20):
        assert await throttle.attempt(victim, new_address()) == first - 10
    clock.now += first - 10
    assert await throttle.attempt(victim, new_address()) is None
    # That try was past the free ones: the next wait is longer (up to the longest).
    assert await throttle.attempt(victim, new_address()) == LIMITS.max_delay_seconds


async def test_spraying_many_emails_from_one_address_is_throttled(make_throttle):
    throttle = make_throttle(LIMITS)
    sprayer = new_address()
    waits = [await throttle.attempt(new_email(), sprayer) for _ in range(14)]
    assert waits[: LIMITS.per_address] == [None] * LIMITS.per_address
    assert waits[LIMITS.per_address :] == [200, 400, 800, 1000]
    # Other addresses are not affected.
    assert await throttle.attempt(new_email(), new_address()) is None


async def test_a_success_resets_its_own_counts_and_only_its_own(make_throttle):
    throttle = make_throttle(LIMITS)
    user, address = new_email(), new_address()
    assert await attempts(throttle, user, address, 2) == [None, None]
    await throttle.succeeded(user, address)
    # The pair starts afresh: its three free attempts again.
    assert await attempts(throttle, user, address, 4) == [None, None, None, 200]

    # A sprayer's own account does not wipe the address's count: a success takes back its own
    # attempt only.
    sprayer, own = new_address(), new_email()
    for _ in range(LIMITS.per_address - 1):
        assert await throttle.attempt(new_email(), sprayer) is None
    assert await throttle.attempt(own, sprayer) is None  # the 10th: a wait begins...
    await throttle.succeeded(own, sprayer)  # ...and is taken back with it
    assert await throttle.attempt(new_email(), sprayer) is None
    assert await throttle.attempt(new_email(), sprayer) == 200


async def test_parallel_attempts_get_only_the_free_ones(make_throttle):
    throttle = make_throttle(LIMITS)
    email, address = new_email(), new_address()
    waits = await asyncio.gather(*(throttle.attempt(email, address) for _ in range(20)))
    assert waits.count(None) == LIMITS.per_pair


async def test_emails_are_one_whatever_their_case_and_spaces(make_throttle):
    throttle = make_throttle(LIMITS)
    email, address = new_email(), new_address()
    for variant in (email, email.upper(), f"  {email} "):
        assert await throttle.attempt(variant, address) is None
    assert await throttle.attempt(email, address) is not None


async def test_redis_keys_are_hashed_and_all_expire(settings):
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    throttle = RedisSignInThrottle(redis, prefix, LIMITS)
    email, address = new_email(), "203.0.113.77"
    await attempts(throttle, email, address, 5)
    await throttle.succeeded(email, address)
    await attempts(throttle, email, address, 5)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    assert len(keys) >= 5
    for key in keys:
        assert email.encode() not in key and address.encode() not in key
        assert await redis.pttl(key) > 0, key
    await redis.delete(*keys)
    await redis.aclose()


async def test_in_process_sign_in_throttle_forgets_and_stays_bounded():
    clock = Clock()
    throttle = InProcessSignInThrottle(LIMITS, max_entries=30, clock=clock)
    for _ in range(100):
        clock.now += 0.01
        await throttle.attempt(new_email(), new_address())
    assert len(throttle) <= 30 * 2
    clock.now += LIMITS.window_seconds + 2
    await throttle.attempt(new_email(), "one")
    assert len(throttle) == 3  # the one attempt's three scopes


async def test_an_unreachable_redis_lets_sign_ins_through(caplog):
    # Nothing listens on port 1: every Redis call fails at once.
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    throttle = RedisSignInThrottle(redis, "x:", LIMITS)
    for _ in range(5):
        assert await throttle.attempt("a@example.com", "203.0.113.1") is None
    await throttle.succeeded("a@example.com", "203.0.113.1")
    assert any("login throttle unavailable" in r.getMessage() for r in caplog.records)
    await redis.aclose()


async def test_a_redis_that_never_answers_fails_open(settings, caplog):
    # The server's own Redis client: a Redis that accepts connections but hangs must not hang
    # every sign-in with it: the client's own timeout gives up, and the attempt is allowed.
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
        # wait_for only keeps a regression from hanging the suite.
        wait = await asyncio.wait_for(
            services.login_throttle.attempt("c@example.com", "203.0.113.1"), 60
        )
        assert wait is None
        [unavailable] = [
            r for r in caplog.records if "login throttle unavailable" in r.getMessage()
        ]
        assert unavailable.exc_info is not None
        assert isinstance(unavailable.exc_info[1], RedisTimeoutError)
    finally:
        release.set()
        assert services.redis is not None
        await services.redis.aclose()
        await services.engine.dispose()
        server.close()
        await server.wait_closed()


# --- registrations (a plain window per key) ----------------------------------------------------


async def test_redis_window_counts_within_a_window_that_later_attempts_do_not_extend(settings):
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    throttle = RedisWindowThrottle(redis, prefix, max_attempts=2, window_seconds=30, name="t")
    client = "203.0.113.9"
    assert await throttle.attempt(client) is None
    key = next(iter(await redis.keys(f"{prefix}*")))
    assert client.encode() not in key  # hashed
    await redis.expire(key, 7)
    assert await throttle.attempt(client) is None
    wait = await throttle.attempt(client)
    assert wait is not None and wait <= 7
    await redis.delete(key)
    await redis.aclose()


async def test_redis_window_lets_only_the_limit_through_when_attempts_race(settings):
    redis = Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_key_prefix}unit-{uuid.uuid4().hex[:6]}:"
    throttle = RedisWindowThrottle(redis, prefix, max_attempts=3, window_seconds=30, name="t")
    waits = await asyncio.gather(*(throttle.attempt("203.0.113.10") for _ in range(20)))
    assert waits.count(None) == 3
    await redis.delete(*await redis.keys(f"{prefix}*"))
    await redis.aclose()


async def test_in_process_window_refuses_beyond_the_limit():
    throttle = InProcessWindowThrottle(max_attempts=2, window_seconds=60)
    assert await throttle.attempt("b@example.com") is None
    assert await throttle.attempt("B@example.com ") is None
    assert await throttle.attempt("b@example.com") is not None
    assert await throttle.attempt("c@example.com") is None


async def test_in_process_window_lets_only_the_limit_through_when_attempts_race():
    throttle = InProcessWindowThrottle(max_attempts=3, window_seconds=60)
    waits = await asyncio.gather(*(throttle.attempt("race@example.com") for _ in range(20)))
    assert waits.count(None) == 3


async def test_in_process_window_forgets_expired_windows():
    clock = Clock()
    throttle = InProcessWindowThrottle(max_attempts=1, window_seconds=60, clock=clock)
    for n in range(5):
        await throttle.attempt(f"old-{n}@example.com")
    assert len(throttle) == 5
    clock.now += 61
    assert await throttle.attempt("old-0@example.com") is None  # a new window
    assert len(throttle) == 1


async def test_in_process_window_stays_bounded_by_dropping_the_oldest_windows():
    clock = Clock()
    throttle = InProcessWindowThrottle(
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
    limits = {"redis_key_prefix": prefix, "register_max_per_window": 2}
    throttle = registration_throttle(redis, settings.model_copy(update=limits))
    client = new_address()
    assert await throttle.attempt(client) is None
    assert await throttle.attempt(client) is None
    assert await throttle.attempt(client) is not None
    assert await throttle.attempt(client + "-other") is None
    if redis is not None:
        # Another replica's throttle shares the counts.
        replica = registration_throttle(redis, settings.model_copy(update=limits))
        assert await replica.attempt(client) is not None
    if redis is not None:
        keys = await redis.keys(f"{prefix}register:*")
        assert keys
        await redis.delete(*keys)
        await redis.aclose()
