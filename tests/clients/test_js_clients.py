"""Mainstream JavaScript clients, unmodified, against the real gateway (issue 10): each test is
one thing a client was seen to need. The Node scripts in js/ report what the client sent and
got; the assertions are here."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from db.seed import DEMO_PASSWORD
from tests.clients.conftest import run_node
from tests.live_server import LiveServer

SELLER = "seller@acme-industrial.example"
BUYER = "buyer@northwind-procurement.example"


@pytest.fixture(scope="module")
def apollo(js_packages: Any, gateway: LiveServer, throttled_gateway: LiveServer) -> dict[str, Any]:
    return run_node(
        "apollo.mjs",
        {
            "url": gateway.url,
            "throttledUrl": throttled_gateway.url,
            "email": SELLER,
            "password": DEMO_PASSWORD,
        },
    )


def test_apollo_sends_client_awareness_headers(apollo):
    step = apollo["awareness"]
    assert step["ok"], step
    assert step["clientName"] == "clients-test-web"
    assert step["clientVersion"] == "4.0.0-test"
    assert step["status"] == 200
    assert step["categories"] > 0


def test_apollo_persisted_queries_register_then_run_by_hash(apollo):
    step = apollo["apq"]
    assert step["ok"], step
    first, second = step["calls"]
    # Hash only, refused as unknown; then hash and document, answered.
    unknown, registered = first["requests"]
    assert unknown["document"] is None
    assert unknown["codes"] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert registered["document"] is not None
    assert registered["codes"] == []
    digest = hashlib.sha256(registered["document"].encode()).hexdigest()
    assert unknown["sentHash"] == registered["sentHash"] == digest
    # Next time the hash alone is enough.
    assert second["requests"] == [
        {"document": None, "sentHash": digest, "status": 200, "codes": []}
    ]
    assert first["categories"] == second["categories"] > 0


def test_apollo_currency_as_a_literal_and_as_a_variable(apollo):
    for name in ("currencyLiteral", "currencyVariable"):
        step = apollo[name]
        assert step["ok"], (name, step)
        assert step["currencies"], name
        assert set(step["currencies"]) == {"EUR"}, name


def test_apollo_signs_in_and_uses_the_token(apollo):
    step = apollo["login"]
    assert step["ok"], step
    assert step["userErrors"] == []
    assert step["email"] == SELLER


def test_apollo_sees_unauthenticated_for_a_bad_token(apollo):
    """Not a bare ServerError with the code hidden in its body text: a 401 under the GraphQL
    response media type, which Apollo 4 reads as GraphQL errors with their codes."""
    step = apollo["badToken"]
    assert step["ok"], step
    assert step["status"] == 401
    assert step["contentType"].startswith("application/graphql-response+json")
    assert step["error"]["name"] == "CombinedGraphQLErrors", step["error"]
    assert step["error"]["codes"] == ["UNAUTHENTICATED"]


def test_apollo_reads_throttled_and_retry_after(apollo):
    step = apollo["throttled"]
    assert step["ok"], step
    assert step["answered"] >= 1  # the bucket paid for some pages first
    assert step["status"] == 429
    assert step["error"]["name"] == "CombinedGraphQLErrors", step["error"]
    assert step["error"]["codes"] == ["THROTTLED"]
    assert step["retryAfter"] is not None
    assert int(step["retryAfter"]) > 0


@pytest.fixture(scope="module")
def urql(js_packages: Any, gateway: LiveServer) -> dict[str, Any]:
    return run_node("urql.mjs", {"url": gateway.url, "email": BUYER, "password": DEMO_PASSWORD})


def test_urql_graphcache_updates_the_cart_from_a_mutation(urql):
    assert urql["login"] == {"ok": True, "userErrors": [], "signedIn": True}
    step = urql["cart"]
    assert step["ok"], step
    assert step["userErrors"] == []
    assert step["sameCart"]
    assert step["quantityBefore"] == step["quantity"]
    # The mutation's answer updated the normalized Cart: read back with no request.
    assert step["quantityFromCache"] == 2 * step["quantity"]
    assert step["cacheError"] is None
    assert step["requestsForCacheRead"] == 0


@pytest.fixture(scope="module")
def graphql_request(js_packages: Any, gateway: LiveServer) -> dict[str, Any]:
    return run_node("graphql_request.mjs", {"url": gateway.url})


def test_graphql_request_query_with_variables(graphql_request):
    step = graphql_request["variables"]
    assert step["ok"], step
    assert step["currencies"]
    assert set(step["currencies"]) == {"JPY"}


def test_graphql_request_surfaces_unauthenticated(graphql_request):
    step = graphql_request["badToken"]
    assert step["ok"], step
    assert step["error"]["codes"] == ["UNAUTHENTICATED"], step["error"]
    assert step["status"] == 401
    assert step["contentType"].startswith("application/graphql-response+json")


def test_graphql_request_surfaces_a_bad_variable_as_400(graphql_request):
    step = graphql_request["badVariable"]
    assert step["ok"], step
    assert step["error"]["codes"] == ["BAD_USER_INPUT"], step["error"]
    assert step["status"] == 400
    assert step["contentType"].startswith("application/graphql-response+json")
