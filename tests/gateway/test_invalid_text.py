"""Text that PostgreSQL cannot store and JSON cannot carry back (lone surrogates, NUL) is refused
once, at the edge, before anything runs: BAD_USER_INPUT naming the variable, never a 500."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest

from tests.support import PASSWORD, register

LONE = "\ud800"  # what JSON's "\ud800" decodes to: half of a UTF-16 pair, not a character

LOGIN = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }"  # noqa: E501
REGISTER = "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }"
PRODUCTS = "query($filter: ProductFilter) { products(first: 1, filter: $filter) { totalCount } }"
CHECKOUT = "mutation($input: CheckoutInput!) { checkout(input: $input) { userErrors { code } } }"
REFRESH = "mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken } }"


def register_input(**changes: Any) -> dict[str, Any]:
    return {
        "email": f"user-{uuid.uuid4().hex[:12]}@example.com",
        "password": PASSWORD,
        "name": "Test User",
        "companyName": "Company",
        "country": "DE",
        "defaultCurrency": "EUR",
        "isSeller": False,
        "isBuyer": True,
        **changes,
    }


def checkout_input(**changes: Any) -> dict[str, Any]:
    address = {
        "name": "Dock 4",
        "line1": "1 Harbour Rd",
        "city": "Hamburg",
        "postalCode": "20457",
        "country": "DE",
    }
    return {
        "shippingAddress": address,
        "currency": "EUR",
        "idempotencyKey": uuid.uuid4().hex,
        **changes,
    }


# (query, variables, the variable the message names, needs a buyer's token)
CASES: dict[str, tuple[str, dict[str, Any], str, bool]] = {
    "login email": (LOGIN, {"email": f"a{LONE}@example.com", "password": "x"}, "$email", False),
    "login password": (LOGIN, {"email": "a@example.com", "password": LONE}, "$password", False),
    "register name": (
        REGISTER,
        {"input": register_input(name=f"Ann {LONE}")},
        "$input.name",
        False,
    ),
    "products filter": (PRODUCTS, {"filter": {"query": f"bolt{LONE}"}}, "$filter.query", False),
    "refreshToken": (REFRESH, {"token": LONE}, "$token", False),
    "checkout note": (CHECKOUT, {"input": checkout_input(note=LONE)}, "$input.note", True),
    "checkout address, nested": (
        CHECKOUT,
        {"input": checkout_input(shippingAddress={"name": "x", "city": f"{LONE}Hamburg"})},
        "$input.shippingAddress.city",
        True,
    ),
    "a key of an input object": (
        PRODUCTS,
        {"filter": {f"query{LONE}": "bolt"}},
        "$filter",
        False,
    ),
    "the low half alone, in a list": (
        REGISTER,
        {"input": register_input(name=["Ann", "\udc00"])},
        "$input.name[1]",
        False,
    ),
}


def unexpected_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("name", list(CASES))
async def test_a_lone_surrogate_in_a_variable_is_refused_naming_it(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    statement_counter: Any,
    name: str,
) -> None:
    query, variables, where, as_buyer = CASES[name]
    headers = {}
    if as_buyer:
        headers["Authorization"] = f"Bearer {(await register(client, buyer=True)).token}"
    caplog.clear()
    statement_counter.reset()
    try:
        # Sent as JSON escapes (`"\ud800"`), which is how such a string reaches a server.
        response = await client.post(
            "/graphql",
            content=_json_with_escapes({"query": query, "variables": variables}),
            headers={**headers, "Content-Type": "application/json"},
        )
    finally:
        statement_counter.active = False
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert f"variable {where} " in error["message"], error["message"]
    assert "lone surrogate" in error["message"]
    assert statement_counter.count == 0, statement_counter.statements
    assert unexpected_records(caplog) == []


@pytest.mark.parametrize(
    "query",
    [
        '{ products(first: 1, filter: {query: "\\ud800"}) { totalCount } }',
        '{ products(first: 1, filter: {query: "\\u{D800}"}) { totalCount } }',
        f'{{ products(first: 1, filter: {{query: "{LONE}"}}) {{ totalCount }} }}',
        f'{{ products(first: 1, filter: {{query: """{LONE}"""}}) {{ totalCount }} }}',
        f"# {LONE}\n{{ __typename }}",
    ],
    ids=["escape", "braced-escape", "raw", "block-string", "comment"],
)
async def test_a_lone_surrogate_in_the_document_is_refused(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    caplog.clear()
    response = await client.post(
        "/graphql",
        content=_json_with_escapes({"query": query}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert unexpected_records(caplog) == []


async def test_an_operation_name_with_a_lone_surrogate_names_no_operation(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    response = await client.post(
        "/graphql",
        content=_json_with_escapes(
            {"query": "query A { __typename } query B { __typename }", "operationName": LONE}
        ),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert unexpected_records(caplog) == []


async def test_a_well_formed_astral_character_is_ordinary_text(client: httpx.AsyncClient) -> None:
    # "\ud83d\ude00" is a proper pair: JSON decodes it to one character (😀), which is fine.
    response = await client.post(
        "/graphql",
        content=_json_with_escapes(
            {"query": PRODUCTS, "variables": {"filter": {"query": "bolt\U0001f600"}}}
        ),
        headers={"Content-Type": "application/json"},
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["products"]["totalCount"] >= 0


async def test_a_nul_character_names_its_variable(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"email": "a\x00@example.com", "password": "x"}},
    )
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "variable $email " in body["errors"][0]["message"]
    assert "NUL" in body["errors"][0]["message"]


def _json_with_escapes(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped (`\\ud800`), as browsers' JSON.stringify
    sends a lone surrogate; the standard library writes them so."""
    import json

    return json.dumps(value, ensure_ascii=True).encode()


# --- NUL: refused where a string value holds one, not where the text spells `\u0000` -----------


@pytest.mark.parametrize(
    "query",
    [
        '{ products(first: 1, filter: {query: "a\\u0000b"}) { totalCount } }',
        '{ products(first: 1, filter: {query: "a\\u{0}b"}) { totalCount } }',
        'query($q: String = "\\u0000") { products(first: 1, filter: {query: $q}) { totalCount } }',
        "# \x00\n{ __typename }",
    ],
    ids=["inline-escape", "braced-escape", "default-value", "raw-in-a-comment"],
)
async def test_a_nul_in_the_document_is_refused_before_any_resolver(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    statement_counter: Any,
    query: str,
) -> None:
    # asyncpg cannot store NUL in text: it must never reach a resolver.
    caplog.clear()
    statement_counter.reset()
    try:
        response = await client.post("/graphql", json={"query": query})
    finally:
        statement_counter.active = False
    body = response.json()
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert "NUL" in body["errors"][0]["message"]
    assert statement_counter.count == 0, statement_counter.statements
    assert unexpected_records(caplog) == []


@pytest.mark.parametrize(
    "query",
    [
        "# \\u0000\n{ products(first: 1) { totalCount } }",
        '{ products(first: 1, filter: {query: "a\\\\u0000b"}) { totalCount } }',
        '{ products(first: 1, filter: {query: """a\\u0000b"""}) { totalCount } }',
    ],
    ids=["comment", "escaped-backslash", "block-string"],
)
async def test_the_characters_backslash_u0000_outside_an_escape_are_no_nul(
    client: httpx.AsyncClient, query: str
) -> None:
    # A comment, `\\u0000` in a string and a block string (no escapes) hold the six
    # characters `\u0000`, which any text column stores.
    response = await client.post("/graphql", json={"query": query})
    body = response.json()
    assert "errors" not in body, body
    assert isinstance(body["data"]["products"]["totalCount"], int), body
