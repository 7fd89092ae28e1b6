"""The response cache for anonymous catalog reads (gateway/response_cache.py), on real Redis.

The shared test app runs with the cache off; these tests build apps with it on. The main one
shares the session's services (so `statement_counter` sees its SQL); others have their own
services on the same database and Redis prefix, like replicas, and dispose them after.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from graphql import parse
from redis.asyncio import Redis
from starlette.applications import Starlette

from gateway.http import GatewayView
from gateway.response_cache import ResponseCache, is_public_catalog_read
from resolvers.context import Services
from schema import PARSE_OFF_LOOP_ABOVE_CHARS
from server import build_services, create_app
from settings import Settings
from tests.api.test_checkout import ADDRESS, add_to_cart, checkout
from tests.api.test_pricing import entry, new_list, set_entries
from tests.support import (
    Account,
    add_category_tree,
    create_product,
    gql,
    register,
    set_fx_rate,
    variant_input,
)

TTL = 30

LISTING = """
query Listing($seller: ID!, $first: Int, $currency: CurrencyCode) {
  products(first: $first, filter: {sellerId: $seller}, currency: $currency) {
    totalCount
    edges { node {
      id name
      seller { name }
      priceRange { min { amount currency } }
      variants { id sku availableQuantity unitPrice(quantity: 1) { amount currency } }
    } }
  }
}
"""
LISTING_IN_USD = LISTING.replace(", $currency: CurrencyCode", "").replace(
    "currency: $currency", "currency: USD"
)

UPDATE = """
mutation Update($id: ID!, $input: UpdateProductInput!) {
  updateProduct(id: $id, input: $input) { product { id } userErrors { field message code } }
}
"""
SET_STOCK = """
mutation SetStock($variantId: ID!, $quantity: Int!) {
  setStock(variantId: $variantId, quantity: $quantity) { userErrors { field message code } }
}
"""
CANCEL = """
mutation Cancel($id: ID!) { cancelOrder(id: $id, reason: "changed plans") {
  userErrors { field message code } } }
"""


@asynccontextmanager
async def client_of(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def cache_of(app: Starlette) -> ResponseCache:
    endpoints = [getattr(route, "endpoint", None) for route in app.routes]
    view = next(e for e in endpoints if isinstance(e, GatewayView))
    assert view.response_cache is not None
    return view.response_cache


def cached(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"response_cache_ttl_seconds": TTL, **changes})


@asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another app with services of its own, as another process would have."""
    services = build_services(settings)
    try:
        async with client_of(create_app(settings, services)) as http:
            yield http
    finally:
        await services.engine.dispose()
        if services.redis is not None:
            await services.redis.aclose()


@pytest.fixture(scope="module")
def cached_app(settings: Settings, services: Services) -> Starlette:
    return create_app(cached(settings), services)


@pytest.fixture
async def http(cached_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(cached_app) as client:
        yield client


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    **extra: Any,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = {"query": query, "variables": variables or {}, **extra}
    return await http.post("/graphql", json=payload, headers=headers)


def data(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def variant_of(response: httpx.Response) -> dict[str, Any]:
    [edge] = data(response)["products"]["edges"]
    variant: dict[str, Any] = edge["node"]["variants"][0]
    return variant


async def catalog_of_one(
    http: httpx.AsyncClient, services: Services, stock: int = 100
) -> tuple[Account, dict[str, Any]]:
    """A new seller with one active product (one variant, 10.00 EUR)."""
    categories = await add_category_tree(services)
    seller = await register(http, seller=True)
    product = await create_product(
        http, seller.token, categories["root"], variants=[variant_input(stock=stock)]
    )
    return seller, product


# --- hits and keys -----------------------------------------------------------------------------


async def test_a_second_identical_anonymous_query_is_a_hit_and_runs_no_sql(
    http, services, statement_counter
):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    statement_counter.reset()
    first = await post(http, LISTING, variables)
    assert first.headers["x-cache"] == "MISS"
    assert statement_counter.count > 0
    statement_counter.reset()
    second = await post(http, LISTING, variables)
    statement_counter.active = False
    assert second.headers["x-cache"] == "HIT"
    assert statement_counter.count == 0, statement_counter.statements
    assert data(second) == data(first)
    assert second.headers["content-type"].startswith("application/json")


async def test_a_hit_keeps_the_static_cost_and_reports_no_ones_bucket(http, services):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    miss = (await post(http, LISTING, variables)).json()
    hit = (await post(http, LISTING, variables)).json()
    cost = hit["extensions"]["cost"]
    assert "throttleStatus" not in cost
    assert cost["requestedQueryCost"] == miss["extensions"]["cost"]["requestedQueryCost"]


async def test_a_hit_answers_in_the_media_type_each_client_accepts(http, services):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    await post(http, LISTING, variables)
    hit = await http.post(
        "/graphql",
        json={"query": LISTING, "variables": variables},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert hit.headers["x-cache"] == "HIT"
    assert hit.headers["content-type"].startswith("application/graphql-response+json")


async def test_other_variables_currency_or_operation_name_miss(http, services):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "MISS"
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "HIT"
    # Key order of the variables does not matter; their values do.
    reordered = {"first": None, "seller": seller.company_id}
    assert (await post(http, LISTING, {"seller": seller.company_id, "first": None})).headers[
        "x-cache"
    ] == "MISS"
    assert (await post(http, LISTING, reordered)).headers["x-cache"] == "HIT"
    assert (await post(http, LISTING, {**variables, "first": 5})).headers["x-cache"] == "MISS"
    await set_fx_rate(services, "EUR", "USD", "1.10")
    in_usd = await post(http, LISTING, {**variables, "currency": "USD"})
    assert in_usd.headers["x-cache"] == "MISS"
    assert variant_of(in_usd)["unitPrice"]["currency"] == "USD"
    # The currency written in the document rather than the variables: another document.
    literal = await post(http, LISTING_IN_USD, variables)
    assert literal.headers["x-cache"] == "MISS"
    assert variant_of(literal)["unitPrice"] == variant_of(in_usd)["unitPrice"]
    named = await post(http, LISTING, variables, operationName="Listing")
    assert named.headers["x-cache"] == "MISS"


async def test_a_persisted_query_sent_by_hash_shares_the_entry_of_its_text(
    http, services, cached_app
):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    digest = hashlib.sha256(LISTING.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    first = await post(http, LISTING, variables, extensions=persisted)
    assert first.headers["x-cache"] == "MISS"
    by_hash = await http.post("/graphql", json={"variables": variables, "extensions": persisted})
    assert by_hash.headers["x-cache"] == "HIT"
    assert data(by_hash) == data(first)
    # So does GraphQL over HTTP's documentId, bare or with Code Generator's `sha256:` prefix.
    for document_id in (digest, f"sha256:{digest}"):
        by_id = await http.post(
            "/graphql", json={"variables": variables, "documentId": document_id}
        )
        assert by_id.headers["x-cache"] == "HIT"
        assert data(by_id) == data(first)
    # After an invalidation, a request by hash alone fills the entry again: its document comes
    # from the persisted-query store.
    await cache_of(cached_app).catalog_changed()
    for outcome in ("MISS", "HIT"):
        again = await http.post("/graphql", json={"variables": variables, "extensions": persisted})
        assert again.headers["x-cache"] == outcome
        assert data(again) == data(first)


async def test_a_hash_that_is_not_the_documents_is_refused_not_served(http, services):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    await post(http, LISTING, variables)
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "HIT"
    for persisted in (
        {"version": 1, "sha256Hash": "0" * 64},
        {"version": 2, "sha256Hash": hashlib.sha256(LISTING.encode()).hexdigest()},
    ):
        response = await post(http, LISTING, variables, extensions={"persistedQuery": persisted})
        assert "x-cache" not in response.headers
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- what is never cached ----------------------------------------------------------------------


async def test_a_signed_in_viewer_is_never_cached_nor_served_the_anonymous_answer(
    http, services, statement_counter
):
    seller, product = await catalog_of_one(http, services)
    buyer = await register(http, buyer=True)
    list_id = await new_list(http, seller, buyer)
    variant = product["variants"][0]["id"]
    payload = await set_entries(http, seller, list_id, [entry(variant, 1, "7.00")])
    assert payload["userErrors"] == []
    variables = {"seller": seller.company_id}
    await post(http, LISTING, variables)
    anonymous = await post(http, LISTING, variables)
    assert anonymous.headers["x-cache"] == "HIT"
    assert variant_of(anonymous)["unitPrice"]["amount"] == "10.00"
    for _ in range(2):
        statement_counter.reset()
        signed_in = await post(http, LISTING, variables, token=buyer.token)
        statement_counter.active = False
        assert "x-cache" not in signed_in.headers
        assert signed_in.headers["cache-control"] == "no-store"
        assert statement_counter.count > 0
        assert variant_of(signed_in)["unitPrice"]["amount"] == "7.00"  # the contract price


@pytest.mark.parametrize(
    "query",
    [
        "{ me { id } }",
        '{ node(id: "UHJvZHVjdDox") { id } }',
        "{ __schema { queryType { name } } }",
        "{ products(first: 1) { totalCount } me { id } }",
        "query A { categories { id } } query B { me { id } }",
    ],
)
async def test_other_root_fields_and_introspection_are_not_cached(http, query):
    for _ in range(2):
        response = await post(http, query, operationName="B" if "query B" in query else None)
        assert response.status_code == 200
        assert "x-cache" not in response.headers
        assert response.headers["cache-control"] == "no-store"


async def test_mutations_are_not_cached(http):
    mutation = 'mutation { logout(refreshToken: "nope") { success } }'
    for _ in range(2):
        response = await post(http, mutation)
        assert "x-cache" not in response.headers
        assert response.headers["cache-control"] == "no-store"


async def test_a_document_too_large_to_parse_on_the_event_loop_is_not_cached(http):
    # Classifying it would parse it on the loop (the view parses it on a thread of its own).
    filler = "x" * (PARSE_OFF_LOOP_ABOVE_CHARS + 1_000)
    query = f"# {filler}\n{{ products(first: 1) {{ totalCount }} }}"
    for _ in range(2):
        response = await post(http, query)
        assert isinstance(data(response)["products"]["totalCount"], int)
        assert "x-cache" not in response.headers
        assert response.headers["cache-control"] == "no-store"


async def test_answers_with_errors_are_not_stored(http, services):
    _, product = await catalog_of_one(http, services)
    both = 'query Both($id: ID!) { product(id: $id, slug: "x") { id } }'
    misspelt = "query Misspelt($id: ID!) { product(id: $id) { id nmae } }"
    for query in (both, misspelt):
        for _ in range(2):
            response = await http.get(
                "/graphql",
                params={"query": query, "variables": orjson.dumps({"id": product["id"]}).decode()},
            )
            assert "errors" in response.json()
            assert response.headers["x-cache"] == "MISS"
            assert response.headers["cache-control"] == "no-store"


# --- invalidation ------------------------------------------------------------------------------


async def test_a_product_update_invalidates(http, services):
    seller, product = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    await post(http, LISTING, variables)
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "HIT"
    body = await gql(
        http, UPDATE, {"id": product["id"], "input": {"name": "Renamed"}}, token=seller.token
    )
    assert body["data"]["updateProduct"]["userErrors"] == []
    after = await post(http, LISTING, variables)
    assert after.headers["x-cache"] == "MISS"
    assert data(after)["products"]["edges"][0]["node"]["name"] == "Renamed"


async def test_set_stock_invalidates(http, services):
    seller, product = await catalog_of_one(http, services, stock=100)
    variables = {"seller": seller.company_id}
    await post(http, LISTING, variables)
    assert variant_of(await post(http, LISTING, variables))["availableQuantity"] == 100
    variant = product["variants"][0]["id"]
    body = await gql(http, SET_STOCK, {"variantId": variant, "quantity": 42}, token=seller.token)
    assert body["data"]["setStock"]["userErrors"] == []
    assert variant_of(await post(http, LISTING, variables))["availableQuantity"] == 42


async def test_checkout_and_cancelling_the_order_invalidate(http, services):
    seller, product = await catalog_of_one(http, services, stock=100)
    buyer = await register(http, buyer=True)
    variables = {"seller": seller.company_id}
    variant = product["variants"][0]["id"]
    await post(http, LISTING, variables)
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "HIT"
    assert await add_to_cart(http, buyer.token, variant, 5) == []
    placed = await checkout(http, buyer.token, address=ADDRESS)
    assert placed["userErrors"] == []
    assert variant_of(await post(http, LISTING, variables))["availableQuantity"] == 95
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "HIT"
    body = await gql(http, CANCEL, {"id": placed["orders"][0]["id"]}, token=buyer.token)
    assert body["data"]["cancelOrder"]["userErrors"] == []
    assert variant_of(await post(http, LISTING, variables))["availableQuantity"] == 100


async def test_a_write_committed_while_a_query_ran_leaves_its_answer_unreachable(
    http, services, cached_app
):
    """The entry records the generation read before the query ran, not after."""
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    cache = cache_of(cached_app)
    execute_during = cache.serve

    async def serve_with_a_write_meanwhile(view: Any, request: Any, execute: Any) -> Any:
        async def execute_then_write(request: Any) -> Any:
            response = await execute(request)
            await cache.catalog_changed()  # a write committed after the query read its rows
            return response

        return await execute_during(view, request, execute_then_write)

    cache.serve = serve_with_a_write_meanwhile  # type: ignore[method-assign]
    try:
        assert (await post(http, LISTING, variables)).headers["x-cache"] == "MISS"
    finally:
        del cache.serve
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "MISS"
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "HIT"


async def test_two_apps_on_one_redis_share_the_cache_and_the_invalidation(http, services, settings):
    seller, product = await catalog_of_one(http, services, stock=100)
    variables = {"seller": seller.company_id}
    async with replica(cached(settings)) as other:
        assert (await post(http, LISTING, variables)).headers["x-cache"] == "MISS"
        shared = await post(other, LISTING, variables)
        assert shared.headers["x-cache"] == "HIT"
        variant = product["variants"][0]["id"]
        body = await gql(
            other, SET_STOCK, {"variantId": variant, "quantity": 7}, token=seller.token
        )
        assert body["data"]["setStock"]["userErrors"] == []
        after = await post(http, LISTING, variables)
        assert after.headers["x-cache"] == "MISS"
        assert variant_of(after)["availableQuantity"] == 7


async def test_entries_expire_after_the_ttl(http, services, settings):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    async with replica(cached(settings, response_cache_ttl_seconds=1)) as short:
        assert (await post(short, LISTING, variables)).headers["x-cache"] == "MISS"
        assert (await post(short, LISTING, variables)).headers["x-cache"] == "HIT"
        await asyncio.sleep(1.2)
        assert (await post(short, LISTING, variables)).headers["x-cache"] == "MISS"


async def test_a_ttl_of_zero_turns_the_cache_off(http, services, settings):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    async with replica(cached(settings, response_cache_ttl_seconds=0)) as off:
        for _ in range(2):
            response = await post(off, LISTING, variables)
            assert "x-cache" not in response.headers
            assert response.headers["cache-control"] == "no-store"


async def test_without_redis_the_cache_lives_in_process(http, services, settings):
    seller, product = await catalog_of_one(http, services, stock=100)
    variables = {"seller": seller.company_id}
    async with replica(cached(settings, redis_url=None)) as alone:
        assert (await post(alone, LISTING, variables)).headers["x-cache"] == "MISS"
        assert (await post(alone, LISTING, variables)).headers["x-cache"] == "HIT"
        variant = product["variants"][0]["id"]
        body = await gql(
            alone, SET_STOCK, {"variantId": variant, "quantity": 3}, token=seller.token
        )
        assert body["data"]["setStock"]["userErrors"] == []
        after = await post(alone, LISTING, variables)
        assert after.headers["x-cache"] == "MISS"
        assert variant_of(after)["availableQuantity"] == 3


async def test_redis_errors_fail_open(http, services, cached_app):
    seller, _ = await catalog_of_one(http, services)
    variables = {"seller": seller.company_id}
    cache = cache_of(cached_app)
    working, broken = cache.redis, Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.5)
    cache.redis = broken
    try:
        for _ in range(2):
            response = await post(http, LISTING, variables)
            assert data(response)["products"]["totalCount"] == 1
            assert "x-cache" not in response.headers
        await cache.catalog_changed()  # logged, not raised
    finally:
        cache.redis, cache.redis_retry_at = working, 0.0
        await broken.aclose()
    assert (await post(http, LISTING, variables)).headers["x-cache"] == "MISS"


# --- HTTP caching ------------------------------------------------------------------------------


async def test_get_of_a_cacheable_query_is_public_for_the_ttl(http, services):
    seller, _ = await catalog_of_one(http, services)
    params = {"query": LISTING, "variables": orjson.dumps({"seller": seller.company_id}).decode()}
    miss = await http.get("/graphql", params=params)
    assert miss.headers["x-cache"] == "MISS"
    assert miss.headers["cache-control"] == f"public, max-age={TTL}"
    assert miss.headers["vary"] == "Authorization, Accept"
    hit = await http.get("/graphql", params=params)
    assert hit.headers["x-cache"] == "HIT"
    assert hit.headers["cache-control"] == f"public, max-age={TTL}"
    assert int(hit.headers["age"]) >= 0
    posted = await post(http, LISTING, {"seller": seller.company_id})
    assert posted.headers["x-cache"] == "HIT"
    assert posted.headers["cache-control"] == "no-store"


async def test_everything_else_is_no_store(http, services):
    seller = await register(http, seller=True)
    params = {"query": LISTING, "variables": orjson.dumps({"seller": seller.company_id}).decode()}
    signed_in = await http.get(
        "/graphql", params=params, headers={"Authorization": f"Bearer {seller.token}"}
    )
    assert signed_in.headers["cache-control"] == "no-store"
    refused = await http.post(
        "/graphql", content=b"{", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400
    assert refused.headers["cache-control"] == "no-store"
    bad_token = await post(http, "{ categories { id } }", token="not-a-token")
    assert bad_token.status_code == 401
    assert bad_token.headers["cache-control"] == "no-store"


def test_a_fragment_bomb_is_never_classified_as_cacheable():
    """Each fragment spreads the next twice: 2^40 root selections once expanded. Classifying
    it must not walk them (it would not finish); it is simply not cacheable."""
    depth = 40
    fragments = "\n".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(depth)
    )
    document = parse(f"query {{ ...F0 }}\n{fragments}\nfragment F{depth} on Query {{ __typename }}")
    assert is_public_catalog_read(document, None) is False
    assert is_public_catalog_read(parse("query { ...A } fragment A on Query { __typename }"), None)
