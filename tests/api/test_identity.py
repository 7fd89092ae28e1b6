"""Identity over HTTP: register, login (and its throttle), refresh-token rotation, logout, and
how the gateway treats bad bearer tokens and permission directives."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from auth.tokens import decode_access_token, hash_refresh_token, issue_access_token
from db.models import Company, Membership, Product, RefreshToken, User, Warehouse
from resolvers import identity
from resolvers.context import Services
from server import build_services, create_app
from tests.support import (
    CREATE_PRODUCT,
    PASSWORD,
    REGISTER,
    add_category_tree,
    create_product,
    gql,
    register,
    variant_input,
)

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken refreshToken
    user { email }
    userErrors { field message code }
  }
}
"""

REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) {
    accessToken refreshToken
    user { email }
    userErrors { field message code }
  }
}
"""

LOGOUT = """
mutation Logout($token: String!) {
  logout(refreshToken: $token) { success userErrors { field message code } }
}
"""

ME = "{ me { id email memberRole company { id } } }"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def registration(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": new_email(),
        "password": PASSWORD,
        "name": "Ada Buyer",
        "companyName": f"Company {uuid.uuid4().hex[:8]}",
        "country": "DE",
        "defaultCurrency": "EUR",
        "isSeller": False,
        "isBuyer": True,
    }
    data.update(changes)
    return data


async def row_counts(services: Services) -> dict[str, int]:
    counts = {}
    async with services.sessions() as session:
        for model in (Company, User, Membership, Warehouse, RefreshToken, Product):
            counts[model.__tablename__] = (
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
    return counts


async def login(client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    body = await gql(client, LOGIN, {"email": email, "password": password})
    payload: dict[str, Any] = body["data"]["login"]
    return payload


async def refresh(client, token: str) -> dict[str, Any]:
    body = await gql(client, REFRESH, {"token": token})
    payload: dict[str, Any] = body["data"]["refreshToken"]
    return payload


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


# --- register ---------------------------------------------------------------------------------


async def test_register_returns_tokens_and_owner(client, services):
    email = f"Mixed.Case-{uuid.uuid4().hex[:8]}@Example.COM"
    before = await row_counts(services)
    data = registration(email=email, companyName="  Acme Tools  ", isSeller=True, isBuyer=False)
    body = await gql(client, REGISTER, {"input": data})
    payload = body["data"]["register"]
    assert payload["userErrors"] == []
    assert payload["accessToken"] and payload["refreshToken"]
    user = payload["user"]
    assert user["email"] == email.lower()
    assert user["memberRole"] == "OWNER"
    assert user["company"]["name"] == "Acme Tools"
    after = await row_counts(services)
    for table in ("companies", "users", "memberships", "warehouses", "refresh_tokens"):
        assert after[table] == before[table] + 1, table
    me = (await gql(client, ME, token=payload["accessToken"]))["data"]["me"]
    assert me["id"] == user["id"]
    assert me["company"]["id"] == user["company"]["id"]


async def test_buyer_registration_gets_no_warehouse(client, services):
    before = await row_counts(services)
    await register(client, buyer=True)
    after = await row_counts(services)
    assert after["companies"] == before["companies"] + 1
    assert after["warehouses"] == before["warehouses"]


def _password_with_email(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "password": data["email"].upper() + "-and-more"}


def _password_is_email(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "password": data["email"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: {**d, "email": "not-an-email"}, "email"),
        (lambda d: {**d, "email": "two@@example.com"}, "email"),
        (lambda d: {**d, "email": "no dot@example"}, "email"),
        (lambda d: {**d, "password": "short-pw1"}, "password"),
        (_password_with_email, "password"),
        (_password_is_email, "password"),
        (lambda d: {**d, "name": "   "}, "name"),
        (lambda d: {**d, "companyName": ""}, "companyName"),
        (lambda d: {**d, "companyName": "x" * 201}, "companyName"),
        (lambda d: {**d, "isSeller": False, "isBuyer": False}, "isBuyer"),
    ],
    ids=[
        "malformed-email",
        "double-at-email",
        "email-without-dot",
        "short-password",
        "password-contains-email",
        "password-is-email",
        "blank-name",
        "blank-company-name",
        "long-company-name",
        "no-role",
    ],
)
async def test_register_validation_writes_nothing(
    client, services, change: Callable[[dict[str, Any]], dict[str, Any]], field: str
):
    data = change(registration())
    before = await row_counts(services)
    body = await gql(client, REGISTER, {"input": data})
    payload = body["data"]["register"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", field], "INVALID")
    ]
    assert payload["userErrors"][0]["message"]
    assert payload["accessToken"] is None
    assert payload["refreshToken"] is None
    assert payload["user"] is None
    assert await row_counts(services) == before


async def test_register_reports_every_problem_at_once(client, services):
    data = registration(email="nope", password="short", name="", isBuyer=False)
    before = await row_counts(services)
    payload = (await gql(client, REGISTER, {"input": data}))["data"]["register"]
    fields = sorted(tuple(e["field"]) for e in payload["userErrors"])
    assert fields == [
        ("input", "email"),
        ("input", "isBuyer"),
        ("input", "name"),
        ("input", "password"),
    ]
    assert await row_counts(services) == before


@pytest.mark.parametrize("variant", [str, str.upper, lambda e: "  " + e.title() + " "])
async def test_register_duplicate_email(client, services, variant):
    account = await register(client, buyer=True)
    before = await row_counts(services)
    data = registration(email=variant(account.email))
    payload = (await gql(client, REGISTER, {"input": data}))["data"]["register"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "email"], "EMAIL_TAKEN")
    ]
    assert payload["accessToken"] is None and payload["user"] is None
    # The company insert ran before the user insert failed: it must have been rolled back.
    assert await row_counts(services) == before


@pytest.mark.parametrize(
    "change",
    [{"country": "XX"}, {"country": "de"}, {"defaultCurrency": "ABC"}, {"defaultCurrency": "eur"}],
)
async def test_register_refuses_unknown_codes_as_top_level_error(client, services, change):
    before = await row_counts(services)
    body = await gql(client, REGISTER, {"input": registration(**change)}, expect_errors=True)
    assert body.get("data") is None
    assert body["errors"], body
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in body["errors"]), body
    value = next(iter(change.values()))
    assert any(value in e["message"] for e in body["errors"]), body
    assert await row_counts(services) == before


async def test_register_is_throttled_per_client(settings, services):
    # A limit of 2 on a separate app, so the suite's own registrations do not count against it.
    low = settings.model_copy(
        update={
            "register_max_per_window": 2,
            "redis_key_prefix": f"{settings.redis_key_prefix}reg-{uuid.uuid4().hex[:6]}:",
        }
    )
    app = create_app(low, build_services(low))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        taken = await register(http, buyer=True)
        before = await row_counts(services)
        # Probing for an existing email is a registration attempt too.
        probe = (await gql(http, REGISTER, {"input": registration(email=taken.email)}))["data"]
        assert codes(probe["register"]) == ["EMAIL_TAKEN"]
        payload = (await gql(http, REGISTER, {"input": registration()}))["data"]["register"]
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", "email"], "THROTTLED")
        ]
        assert payload["userErrors"][0]["retryAfterSeconds"] > 0
        assert payload["accessToken"] is None and payload["user"] is None
        assert await row_counts(services) == before
        # Malformed input is refused before the throttle and does not use it up.
        bad = (await gql(http, REGISTER, {"input": registration(email="nope")}))["data"]
        assert codes(bad["register"]) == ["INVALID"]


# --- login ------------------------------------------------------------------------------------


async def test_login_gives_working_tokens(client):
    account = await register(client, buyer=True)
    payload = await login(client, "  " + account.email.upper())
    assert payload["userErrors"] == []
    assert payload["user"] == {"email": account.email}
    assert payload["refreshToken"] and payload["refreshToken"] != account.refresh_token
    me = (await gql(client, ME, token=payload["accessToken"]))["data"]["me"]
    assert me["email"] == account.email
    assert me["id"] == account.user_id
    assert me["memberRole"] == "OWNER"


async def test_wrong_password_and_unknown_email_look_the_same(client):
    account = await register(client, buyer=True)
    wrong = await login(client, account.email, PASSWORD + "x")
    unknown = await login(client, new_email())
    for payload in (wrong, unknown):
        assert payload["accessToken"] is None
        assert payload["refreshToken"] is None
        assert payload["user"] is None
        assert codes(payload) == ["INVALID_CREDENTIALS"]
    assert wrong["userErrors"] == unknown["userErrors"]


async def _throttle_keys(services: Services, settings) -> set[bytes]:
    assert services.redis is not None, "the test settings configure Redis"
    pattern = settings.redis_key_prefix + "sign-in:*"
    return {key async for key in services.redis.scan_iter(match=pattern)}


async def test_login_throttle_after_max_failures(client, services, settings):
    # The same client address (the test client's) and email: see tests/auth for the others.
    assert settings.login_max_failures == 3
    account = await register(client, buyer=True)
    other = await register(client, buyer=True)
    keys_before = await _throttle_keys(services, settings)
    for _ in range(3):
        payload = await login(client, account.email, "wrong-password-123")
        assert codes(payload) == ["INVALID_CREDENTIALS"]
    new_keys = await _throttle_keys(services, settings) - keys_before
    assert new_keys
    for key in new_keys:
        assert account.email.encode() not in key  # the email is hashed
        assert await services.redis.pttl(key) > 0

    throttled = await login(client, account.email)  # the right password, but too soon
    assert codes(throttled) == ["THROTTLED"]
    assert throttled["accessToken"] is None and throttled["refreshToken"] is None
    assert throttled["userErrors"][0]["field"] == ["email"]
    # Throttled per email, whatever its case, with a wait that grows while it is ignored.
    again = await login(client, account.email.upper())
    assert codes(again) == ["THROTTLED"]
    assert retry_after(again) > retry_after(throttled) >= settings.login_first_delay_seconds
    # Another email is not affected.
    ok = await login(client, other.email)
    assert ok["userErrors"] == [] and ok["accessToken"]


def retry_after(payload: dict[str, Any]) -> int:
    found = re.search(r"try again in (\d+) s", payload["userErrors"][0]["message"])
    assert found, payload
    return int(found.group(1))


async def test_login_throttle_is_reset_by_a_success(client, services, settings):
    account = await register(client, buyer=True)
    for _ in range(2):
        assert codes(await login(client, account.email, "wrong-password-123")) == [
            "INVALID_CREDENTIALS"
        ]
    assert (await login(client, account.email))["userErrors"] == []
    for _ in range(2):
        assert codes(await login(client, account.email, "wrong-password-123")) == [
            "INVALID_CREDENTIALS"
        ]
    # 4 failures in all, but only 2 since the success.
    payload = await login(client, account.email)
    assert payload["userErrors"] == [] and payload["accessToken"]
    assert codes(await login(client, account.email, "wrong-password-123")) == [
        "INVALID_CREDENTIALS"
    ]


async def test_parallel_guesses_cannot_outrun_the_throttle(client, settings):
    assert settings.login_max_failures == 3
    account = await register(client, buyer=True)
    payloads = await asyncio.gather(
        *(login(client, account.email, f"wrong-password-{n}") for n in range(20))
    )
    outcomes = [code for payload in payloads for code in codes(payload)]
    assert len(outcomes) == 20
    assert outcomes.count("INVALID_CREDENTIALS") <= 3
    assert outcomes.count("THROTTLED") == 20 - outcomes.count("INVALID_CREDENTIALS")


async def test_login_holds_no_database_connection_while_verifying_the_password(
    client, services, monkeypatch
):
    account = await register(client, buyer=True)
    held: list[int] = []
    verify = identity.verify_password

    async def observed(password_hash: str | None, password: str) -> bool:
        held.append(services.engine.pool.checkedout())
        return await verify(password_hash, password)

    monkeypatch.setattr(identity, "verify_password", observed)
    assert (await login(client, account.email))["accessToken"]
    assert codes(await login(client, account.email, "wrong-password-123")) == [
        "INVALID_CREDENTIALS"
    ]
    assert held == [0, 0]


async def test_unknown_email_failures_are_throttled_too(client):
    email = new_email()
    for _ in range(3):
        assert codes(await login(client, email)) == ["INVALID_CREDENTIALS"]
    assert codes(await login(client, email)) == ["THROTTLED"]


# --- refresh tokens ---------------------------------------------------------------------------


async def test_refresh_rotates_tokens(client):
    account = await register(client, buyer=True)
    first = await refresh(client, account.refresh_token)
    assert first["userErrors"] == []
    assert first["user"] == {"email": account.email}
    assert first["refreshToken"] and first["refreshToken"] != account.refresh_token
    assert first["accessToken"] and first["accessToken"] != account.token
    me = (await gql(client, ME, token=first["accessToken"]))["data"]["me"]
    assert me["id"] == account.user_id
    # The successor can be spent in turn.
    second = await refresh(client, first["refreshToken"])
    assert second["userErrors"] == []
    assert second["refreshToken"] not in (first["refreshToken"], account.refresh_token)


async def test_refresh_keeps_the_family_expiry(client, services):
    # A session that is used every day must still end: rotation does not extend it.
    async def expires_at(token: str) -> Any:
        async with services.sessions() as session:
            return await session.scalar(
                select(RefreshToken.expires_at).where(
                    RefreshToken.token_hash == hash_refresh_token(token)
                )
            )

    account = await register(client, buyer=True)
    first = await expires_at(account.refresh_token)
    second = await refresh(client, account.refresh_token)
    third = await refresh(client, second["refreshToken"])
    assert first is not None
    assert await expires_at(second["refreshToken"]) == first
    assert await expires_at(third["refreshToken"]) == first


async def test_refresh_token_reuse_revokes_the_family(client, services):
    account = await register(client, buyer=True)
    other_login = await login(client, account.email)  # a separate family
    rotated = await refresh(client, account.refresh_token)
    assert rotated["userErrors"] == []

    replay = await refresh(client, account.refresh_token)
    assert codes(replay) == ["INVALID_CREDENTIALS"]
    assert replay["accessToken"] is None and replay["refreshToken"] is None
    assert replay["userErrors"][0]["field"] == ["refreshToken"]

    # The legitimate holder's newest token dies with the family.
    newest = await refresh(client, rotated["refreshToken"])
    assert codes(newest) == ["INVALID_CREDENTIALS"]
    async with services.sessions() as session:
        unrevoked = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(
                RefreshToken.user_id == uuid.UUID(decode_access_token_claims(account.token)["sub"]),
                RefreshToken.revoked_at.is_(None),
            )
        )
    assert unrevoked == 1  # only the other login's token

    # Another login of the same user is a different family and keeps working.
    other = await refresh(client, other_login["refreshToken"])
    assert other["userErrors"] == [] and other["accessToken"]


def decode_access_token_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_refresh_unknown_token(client):
    payload = await refresh(client, "not-a-refresh-token")
    assert codes(payload) == ["INVALID_CREDENTIALS"]
    assert payload["accessToken"] is None and payload["user"] is None


async def test_refresh_rejects_an_access_token(client):
    account = await register(client, buyer=True)
    assert codes(await refresh(client, account.token)) == ["INVALID_CREDENTIALS"]


# --- logout -----------------------------------------------------------------------------------


async def test_logout_revokes_the_family(client):
    account = await register(client, buyer=True)
    rotated = await refresh(client, account.refresh_token)
    body = await gql(client, LOGOUT, {"token": rotated["refreshToken"]})
    assert body["data"]["logout"] == {"success": True, "userErrors": []}
    assert codes(await refresh(client, rotated["refreshToken"])) == ["INVALID_CREDENTIALS"]
    # Logging out again with the same (known, revoked) token is harmless.
    again = await gql(client, LOGOUT, {"token": rotated["refreshToken"]})
    assert again["data"]["logout"]["success"] is True


async def test_logout_unknown_token(client):
    body = await gql(client, LOGOUT, {"token": "no-such-refresh-token"})
    payload = body["data"]["logout"]
    assert payload["success"] is False
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["refreshToken"], "NOT_FOUND")
    ]


# --- bearer tokens over HTTP ------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _other_secret(services: Services, token: str) -> str:
    config = replace(
        services.tokens, signing_key="another-secret-" + "x" * 40, verifying_key="unused"
    )
    return "Bearer " + issue_access_token(config, decode_access_token(services.tokens, token))


def _expired(services: Services, token: str) -> str:
    viewer = decode_access_token(services.tokens, token)
    past = time.time() - services.tokens.access_ttl_seconds - 60
    return "Bearer " + issue_access_token(services.tokens, viewer, now=past)


def _alg_none(services: Services, token: str) -> str:
    return "Bearer " + jwt.encode(decode_access_token_claims(token), "", algorithm="none")


def _alg_none_by_hand(services: Services, token: str) -> str:
    claims = decode_access_token_claims(token)
    return f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _wrong_audience(services: Services, token: str) -> str:
    config = replace(services.tokens, audience="someone-else")
    return "Bearer " + issue_access_token(config, decode_access_token(services.tokens, token))


def _wrong_issuer(services: Services, token: str) -> str:
    config = replace(services.tokens, issuer="evil-issuer")
    return "Bearer " + issue_access_token(config, decode_access_token(services.tokens, token))


def _tampered_roles(services: Services, token: str) -> str:
    header, _payload, signature = token.split(".")
    claims = decode_access_token_claims(token)
    claims["roles"] = ["BUYER", "PLATFORM_ADMIN", "SELLER"]
    return f"Bearer {header}.{_b64(claims)}.{signature}"


def _garbage(services: Services, token: str) -> str:
    return "Bearer this-is-not-a-jwt"


def _basic(services: Services, token: str) -> str:
    return "Basic " + base64.b64encode(b"user@example.com:" + PASSWORD.encode()).decode()


def _raw_token_without_scheme(services: Services, token: str) -> str:
    return token


@pytest.mark.parametrize(
    "make_header",
    [
        _other_secret,
        _expired,
        _alg_none,
        _alg_none_by_hand,
        _wrong_audience,
        _wrong_issuer,
        _tampered_roles,
        _garbage,
        _basic,
        _raw_token_without_scheme,
    ],
)
async def test_bad_bearer_token_is_401(client, services, make_header):
    account = await register(client, buyer=True)
    # Control: the same viewer re-issued without the defect is accepted.
    reissued = issue_access_token(
        services.tokens, decode_access_token(services.tokens, account.token)
    )
    me = (await gql(client, ME, token=reissued))["data"]["me"]
    assert me["email"] == account.email

    response = await client.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": make_header(services, account.token)},
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    assert ".py" not in response.text


async def test_bad_token_is_401_on_get_too(client):
    response = await client.get(
        "/graphql", params={"query": "{ me { id } }"}, headers={"Authorization": "Bearer x.y.z"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- permissions ------------------------------------------------------------------------------


async def test_create_product_needs_a_seller(client, services):
    cats = await add_category_tree(services)
    variables = {
        "input": {
            "name": f"Widget {uuid.uuid4().hex[:8]}",
            "description": "A sturdy item for professional use.",
            "categoryId": cats["root"],
            "status": "ACTIVE",
            "variants": [variant_input()],
        }
    }
    before = await row_counts(services)

    anonymous = await gql(client, CREATE_PRODUCT, variables, expect_errors=True)
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    assert anonymous["errors"][0]["path"] == ["createProduct"]
    assert anonymous["data"] is None

    buyer = await register(client, buyer=True)
    forbidden = await gql(client, CREATE_PRODUCT, variables, token=buyer.token, expect_errors=True)
    assert [e["extensions"]["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]
    assert forbidden["data"] is None
    assert (await row_counts(services))["products"] == before["products"]

    # Control: the same input from a seller is accepted.
    seller = await register(client, seller=True)
    product = await create_product(client, seller.token, cats["root"])
    assert product["id"]
