"""Property-based: malformed bodies, strings and variables thrown at the real app never get a
5xx, an INTERNAL_SERVER_ERROR or a traceback in the log. A client's mistake is an answer.

Each property runs a bounded number of examples (MAX_EXAMPLES) against real operations (login,
register, products, checkout) on the shared app; hypothesis shrinks a failure to a small case.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from tests.support import PASSWORD

MAX_EXAMPLES = 120
bounded = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # `client` and `caplog` are function-scoped: shared by the examples, on purpose (the log
    # is cleared before each example).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

LOGIN = (
    "mutation Login($email: String!, $password: String!) "
    "{ login(email: $email, password: $password) { accessToken userErrors { code } } }"
)
REGISTER = (
    "mutation Register($input: RegisterInput!) "
    "{ register(input: $input) { accessToken userErrors { field code } } }"
)
PRODUCTS = (
    "query Products($first: Int, $after: String, $filter: ProductFilter, $sortBy: ProductSort, "
    "$currency: CurrencyCode) { products(first: $first, after: $after, filter: $filter, "
    "sortBy: $sortBy, currency: $currency) { totalCount edges { node { id name } } } }"
)
CHECKOUT = (
    "mutation Checkout($input: CheckoutInput!) "
    "{ checkout(input: $input) { orders { id } userErrors { field code } } }"
)
OPERATIONS = {
    "login": (LOGIN, ("email", "password")),
    "register": (REGISTER, ("input",)),
    "products": (PRODUCTS, ("first", "after", "filter", "sortBy", "currency")),
    "checkout": (CHECKOUT, ("input",)),
}


@pytest.fixture(scope="session")
async def buyer_token(app: Starlette) -> AsyncIterator[str]:
    """A buyer's token, so checkout is tried signed in (anonymous, it is refused up front)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(
            "/graphql",
            json={
                "query": REGISTER,
                "variables": {
                    "input": {
                        "email": f"fuzz-{uuid.uuid4().hex[:12]}@example.com",
                        "password": PASSWORD,
                        "name": "Fuzz",
                        "companyName": f"Fuzz {uuid.uuid4().hex[:6]}",
                        "country": "DE",
                        "defaultCurrency": "EUR",
                        "isSeller": False,
                        "isBuyer": True,
                    }
                },
            },
        )
        token = response.json()["data"]["register"]["accessToken"]
        assert token, response.text
        yield token


# --- what is thrown ------------------------------------------------------------------------

# Text with what breaks encoders and databases: lone surrogates, NUL, other control characters,
# right-to-left marks, astral characters, digits of other scripts.
ODD_CHARACTERS = ["\ud800", "\udfff", "\x00", "\x1b", "\u202e", "\U0001f600", "\u0663", "\ufeff"]
odd_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(ODD_CHARACTERS), st.text(max_size=5)), max_size=8).map(
        "".join
    ),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Co", "Zs"]), max_size=10),
)
huge_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), huge_numbers, odd_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def _valid_register_input() -> dict[str, Any]:
    return {
        "email": "a@example.com",
        "password": PASSWORD,
        "name": "N",
        "companyName": "C",
        "country": "DE",
        "defaultCurrency": "EUR",
        "isSeller": False,
        "isBuyer": True,
    }


def _valid_checkout_input() -> dict[str, Any]:
    address = {"name": "N", "line1": "L", "city": "C", "postalCode": "1", "country": "DE"}
    return {"shippingAddress": address, "currency": "EUR", "idempotencyKey": "k"}


@st.composite
def nearly_valid_input(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """A valid input object with some fields replaced by anything, or dropped, or added."""
    changed = dict(valid)
    for key in draw(st.lists(st.sampled_from(sorted(valid)), max_size=3, unique=True)):
        if draw(st.booleans()):
            changed[key] = draw(json_values)
        else:
            del changed[key]
    if draw(st.booleans()):
        changed[draw(odd_text)] = draw(json_values)
    if isinstance(changed.get("shippingAddress"), dict) and changed["shippingAddress"]:
        address = dict(changed["shippingAddress"])
        address[draw(st.sampled_from(sorted(address)))] = draw(json_values)
        changed["shippingAddress"] = address
    return changed


@st.composite
def operation_with_variables(draw: st.DrawFn) -> tuple[str, dict[str, Any], bool]:
    """(query, variables, signed in) for a real operation, its variables of any type."""
    name = draw(st.sampled_from(sorted(OPERATIONS)))
    query, names = OPERATIONS[name]
    variables: dict[str, Any] = {}
    for variable in names:
        if variable == "input":
            valid = _valid_register_input() if name == "register" else _valid_checkout_input()
            variables[variable] = draw(st.one_of(nearly_valid_input(valid), json_values))
        elif draw(st.booleans()):
            variables[variable] = draw(json_values)
    return query, variables, name == "checkout"


GRAPHQL_TOKENS = [
    "{", "}", "(", ")", "[", "]", ":", "$", "!", "=", "@", "...", "|", "&",
    "query", "mutation", "subscription", "fragment", "on", "true", "false", "null",
    "products", "product", "login", "checkout", "register", "me", "node", "__typename",
    "__schema", "__type", "edges", "node", "id", "name", "first", "filter", "$x", "$y",
    "Int", "String!", "[ID!]", "ProductFilter", "@include", "@skip", "if",
    '"text"', '"\\ud800"', '"\\u0000"', '"""block"""', "123", "-1", "1e400", "99999999999999999999",
    "0x10", "#comment\n", ",", "\u00a0", "\ufeff", "E", "EUR",
]  # fmt: skip
graphqlish_documents = st.lists(st.sampled_from(GRAPHQL_TOKENS), min_size=1, max_size=40).map(
    " ".join
)


# --- how it is sent and checked ---------------------------------------------------------------


def _escaped_json(value: Any) -> bytes:
    """JSON as a client's encoder writes it: lone surrogates as `\\ud800` escapes, NaN and
    infinities as Python's json writes them (which the server's json.loads accepts)."""
    return json.dumps(value, ensure_ascii=True).encode()


def unexpected_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def post(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
    token: str | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    caplog.clear()
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.post("/graphql", content=content, headers=headers)
    check(response, caplog)
    return response


def check(response: httpx.Response, caplog: pytest.LogCaptureFixture) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert "INTERNAL_SERVER_ERROR" not in response.text, response.text[:500]
    records = unexpected_records(caplog)
    assert records == [], [r.getMessage() for r in records]


# --- the properties --------------------------------------------------------------------------


@bounded
@given(case=operation_with_variables())
async def test_real_operations_with_variables_of_any_type(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    buyer_token: str,
    case: tuple[str, dict[str, Any], bool],
) -> None:
    query, variables, signed_in = case
    await post(
        client,
        caplog,
        _escaped_json({"query": query, "variables": variables}),
        buyer_token if signed_in else None,
    )


@bounded
@given(document=graphqlish_documents, variables=st.one_of(st.none(), json_values))
async def test_graphql_ish_documents(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, document: str, variables: Any
) -> None:
    await post(client, caplog, _escaped_json({"query": document, "variables": variables}))


@bounded
@given(body=json_values)
async def test_any_json_as_the_body(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, body: Any
) -> None:
    await post(client, caplog, _escaped_json(body))


@bounded
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "query": st.one_of(st.just("{ __typename }"), json_values),
            "variables": json_values,
            "extensions": json_values,
            "operationName": st.one_of(odd_text, json_values),
        },
    )
)
async def test_request_members_of_the_wrong_type(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, body: dict[str, Any]
) -> None:
    await post(client, caplog, _escaped_json(body))


@bounded
@given(text=st.text(max_size=200))
async def test_broken_json_text(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    # Valid UTF-8 (surrogates escaped by errors="surrogatepass" would not be): text that is
    # mostly not JSON, or JSON cut short.
    prefix = '{"query": "{ __typename }", "variables": '
    for content in (text, prefix + text):
        await post(client, caplog, content.encode("utf-8", "backslashreplace"))


# --- bodies that once reached a 500: invalid UTF-8, JSON nested past the parser's recursion,
# an operationName that is not a string (the metrics' operation label) ------------------------


@bounded
@given(body=st.binary(max_size=300))
async def test_random_bytes_as_the_body(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    await post(client, caplog, body)


@bounded
@given(depth=st.integers(min_value=10, max_value=3_000), container=st.sampled_from("[{"))
async def test_deeply_nested_variables(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, depth: int, container: str
) -> None:
    nested = (
        ('{"a":' * depth + "1" + "}" * depth)
        if container == "{"
        else ("[" * depth + "1" + "]" * depth)
    )
    body = f'{{"query": "{{ __typename }}", "variables": {{"v": {nested}}}}}'
    await post(client, caplog, body.encode())


@bounded
@given(name=json_values.filter(lambda v: not isinstance(v, str) and v is not None))
async def test_operation_names_that_are_not_strings(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: Any
) -> None:
    await post(
        client,
        caplog,
        _escaped_json(
            {"query": "query A { __typename } query B { __typename }", "operationName": name}
        ),
    )
