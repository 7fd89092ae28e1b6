"""Sign-in protection over the API (the README's "Sign-in protection"): what an attacker can and
cannot do to someone else's account, with Redis and with the in-process fallback."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server import build_services, create_app
from settings import Settings
from tests.support import PASSWORD, gql, register

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken
    userErrors { field message code retryAfterSeconds }
  }
}
"""

SignIn = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(params=["redis", "in-process"])
async def protected_app(request, settings: Settings) -> AsyncIterator[Starlette]:
    """An app of its own (its own counts), with 5 attempts per email from unknown addresses
    and 4 per address over all emails."""
    changes: dict[str, Any] = {
        "login_max_attempts_per_email": 5,
        "login_max_attempts_per_address": 4,
        "redis_key_prefix": f"{settings.redis_key_prefix}protect-{uuid.uuid4().hex[:6]}:",
    }
    if request.param == "in-process":
        changes["redis_url"] = None
    low = settings.model_copy(update=changes)
    services = build_services(low)
    app = create_app(low, services)
    async with app.router.lifespan_context(app):
        yield app
    if services.redis is not None:
        keys = [key async for key in services.redis.scan_iter(match=f"{low.redis_key_prefix}*")]
        if keys:
            await services.redis.delete(*keys)
        await services.redis.aclose()
    await services.engine.dispose()


@pytest.fixture
async def from_address(
    protected_app: Starlette,
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """A client of the app at a given client address."""
    async with AsyncExitStack() as clients:

        def client_at(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=protected_app, client=(address, 40000))
            http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            clients.push_async_callback(http.aclose)
            return http

        yield client_at


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(http, LOGIN, {"email": email, "password": password}))[
        "data"
    ]["login"]
    return payload


def outcome(payload: dict[str, Any]) -> str:
    errors = payload["userErrors"]
    return errors[0]["code"] if errors else "SIGNED_IN"


def retry_after(payload: dict[str, Any]) -> int:
    """The wait a THROTTLED answer gives, machine-readable, and the same in its message."""
    error = payload["userErrors"][0]
    found = re.search(r"try again in (\d+) s", error["message"])
    assert found, payload
    assert error["retryAfterSeconds"] == int(found.group(1)), payload
    return int(error["retryAfterSeconds"])


async def test_an_attacker_cannot_lock_the_owner_out(from_address, settings):
    home, attacker = from_address("192.0.2.10"), from_address("203.0.113.66")
    victim = await register(home, buyer=True)
    assert outcome(await sign_in(home, victim.email)) == "SIGNED_IN"  # home is now known

    answers = [await sign_in(attacker, victim.email, f"guess-{n}-password") for n in range(50)]
    outcomes = [outcome(answer) for answer in answers]
    free = settings.login_max_failures
    assert outcomes == ["INVALID_CREDENTIALS"] * free + ["THROTTLED"] * (50 - free)
    waits = [retry_after(answer) for answer in answers[free:]]
    assert waits == sorted(waits) and waits[0] < waits[-1] == settings.login_max_delay_seconds
    # Even the right password waits at the attacker's address...
    assert outcome(await sign_in(attacker, victim.email)) == "THROTTLED"

    # ...while the owner signs in at home, and from a new address too: one address's attack
    # never reaches the email's own count.
    assert (await sign_in(home, victim.email))["accessToken"]
    assert outcome(await sign_in(from_address("198.51.100.3"), victim.email)) == "SIGNED_IN"


async def test_distributed_guessing_is_slowed_but_the_known_address_signs_in(from_address):
    home = from_address("192.0.2.20")
    victim = await register(home, buyer=True)
    assert outcome(await sign_in(home, victim.email)) == "SIGNED_IN"

    outcomes = [
        outcome(await sign_in(from_address(f"203.0.113.{n}"), victim.email, "not-the-password"))
        for n in range(1, 11)
    ]
    assert outcomes[:5] == ["INVALID_CREDENTIALS"] * 5
    assert set(outcomes[5:]) == {"THROTTLED"}

    # A new address waits (the right password too): distributed guessing is slowed...
    traveller = await sign_in(from_address("198.51.100.44"), victim.email)
    assert outcome(traveller) == "THROTTLED" and retry_after(traveller) > 0
    # ...but where the owner signed in before, they still can.
    assert (await sign_in(home, victim.email))["accessToken"]


async def test_spraying_many_emails_from_one_address_is_throttled(from_address):
    owner = from_address("192.0.2.30")
    accounts = [await register(owner, buyer=True) for _ in range(6)]
    sprayer = from_address("203.0.113.200")
    outcomes = [
        outcome(await sign_in(sprayer, account.email, "Summer2026!pass")) for account in accounts
    ]
    assert outcomes == ["INVALID_CREDENTIALS"] * 4 + ["THROTTLED"] * 2
    # The accounts themselves are not affected elsewhere.
    assert outcome(await sign_in(from_address("198.51.100.9"), accounts[-1].email)) == "SIGNED_IN"


async def test_signing_in_from_an_address_does_not_count_against_it(from_address):
    # An office behind one address: its sign-ins are not spraying, only its failures count.
    office = from_address("192.0.2.40")
    accounts = [await register(office, buyer=True) for _ in range(8)]
    for account in accounts:
        assert outcome(await sign_in(office, account.email)) == "SIGNED_IN"
    for account in accounts[:3]:
        assert outcome(await sign_in(office, account.email, "typo-password")) == (
            "INVALID_CREDENTIALS"
        )
    assert outcome(await sign_in(office, accounts[3].email)) == "SIGNED_IN"
