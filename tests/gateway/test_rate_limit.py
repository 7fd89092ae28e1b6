"""Cost reporting and the cost rate limit: `extensions.cost` (requested, actual, throttleStatus),
a leaky bucket per viewer in Redis shared by replicas, THROTTLED with 429 / 200 and Retry-After,
refunds, the in-process fallback, failing open without Redis, and WebSocket operations.

Each test builds its own gateway with its own Redis key prefix (so buckets start full) and a
slow restore rate where it compares exact figures.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from auth.tokens import issue_access_token
from auth.viewer import Viewer
from gateway.rate_limit import InProcessRateLimiter, RedisRateLimiter, _hashed
from resolvers.context import Services
from server import build_services, create_app
from settings import Settings
from tests.support import add_category_tree, create_product, register, variant_input
from tests.websocket_client import TRANSPORT_WS, connect, init, receive, subscribe

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# 10 for the mutation + 1 for its payload, whatever the answer: a fixed, fully used cost.
LOGOUT = 'mutation { logout(refreshToken: "not-a-token") { success } }'
LOGOUT_COST = 11
SLOW = 0.01  # points a second: exact figures stay exact over a test


def fresh_prefix(settings: Settings) -> str:
    return f"{settings.redis_key_prefix}rl-{uuid.uuid4().hex[:8]}:"


@asynccontextmanager
async def gateway(
    settings: Settings, *, prefix: str | None = None, lifespan: bool = False, **update: Any
) -> AsyncIterator[tuple[Starlette, Services]]:
    """Another gateway (its own services) on the test database and Redis; its own Redis key
    prefix, so its buckets start full, unless it is given one (a replica of another)."""
    prefix = prefix or fresh_prefix(settings)
    configured = settings.model_copy(update={"redis_key_prefix": prefix, **update})
    services = build_services(configured)
    app = create_app(configured, services)
    try:
        if lifespan:
            async with app.router.lifespan_context(app):
                yield app, services
        else:
            yield app, services
    finally:
        await services.engine.dispose()
        if services.redis is not None:
            await services.redis.aclose()


@asynccontextmanager
async def http(app: Starlette, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    accept: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if accept:
        headers["Accept"] = accept
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


async def cost(client: httpx.AsyncClient, query: str, **options: Any) -> dict[str, Any]:
    """The `extensions.cost` of a request that must succeed."""
    variables = options.pop("variables", None)
    response = await post(client, query, variables, **options)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    report: dict[str, Any] = body["extensions"]["cost"]
    return report


def available(report: dict[str, Any]) -> int:
    value: int = report["throttleStatus"]["currentlyAvailable"]
    return value


@pytest.fixture(scope="module")
async def catalog(app: Starlette, services: Services) -> dict[str, Any]:
    """A seller with 3 products of 2 variants each and one of 6."""
    async with http(app, "10.1.0.1") as client:
        return await _catalog(client, services)


async def _catalog(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    seller = await register(client, seller=True)
    category = (await add_category_tree(services))["root"]
    products = [
        await create_product(
            client, seller.token, category, variants=[variant_input(), variant_input()]
        )
        for _ in range(3)
    ]
    wide = await create_product(
        client, seller.token, category, variants=[variant_input() for _ in range(6)]
    )
    return {"seller": seller.company_id, "product": products[0]["id"], "wide": wide["id"]}


PAGE = """
query($seller: ID!) {
  page: products(first: 50, filter: { sellerId: $seller }) {
    totalCount
    items: edges { cursor item: node { name seller { name } variants { sku } } }
  }
}
"""
# 2 + first 50 x (node 1 + seller 1 + variants estimated 4 x 1)
PAGE_REQUESTED = 2 + 50 * (1 + 1 + 4 * 1)
# 2 + 4 nodes returned x (1 + seller 1) + their 3 x 2 + 6 variants
PAGE_ACTUAL = 2 + 4 * (1 + 1) + (3 * 2 + 6)


async def test_cost_reports_requested_actual_and_the_bucket(settings, catalog):
    async with (
        gateway(settings, rate_limit_restore_rate=SLOW) as (app, services),
        http(app) as client,
    ):
        # Signed in: an anonymous catalog read could come from the response cache, uncharged.
        token = issue_access_token(services.tokens, Viewer(uuid.uuid4()))
        variables = {"seller": catalog["seller"]}
        first = await cost(client, PAGE, variables=variables, token=token)
        assert first == {
            "requestedQueryCost": PAGE_REQUESTED,
            "actualQueryCost": PAGE_ACTUAL,
            "throttleStatus": {
                "maximumAvailable": settings.rate_limit_capacity,
                "currentlyAvailable": settings.rate_limit_capacity - PAGE_ACTUAL,
                "restoreRate": SLOW,
            },
        }
        second = await cost(client, PAGE, variables=variables, token=token)
        assert available(first) - available(second) == PAGE_ACTUAL


NODE = """
query($id: ID!, $withSeller: Boolean!) {
  node(id: $id) {
    id
    ... on Product { seller @include(if: $withSeller) { name } variants { sku } }
    ... on Company { name }
  }
}
"""


@pytest.mark.parametrize(
    ("with_seller", "actual"),
    [
        # the Product fragment applies: node 1 + seller 1 + 2 variants
        (True, 1 + 1 + 2),
        # a skipped field costs nothing
        (False, 1 + 2),
    ],
)
async def test_actual_cost_follows_fragments_and_directives(client, catalog, with_seller, actual):
    report = await cost(
        client, NODE, variables={"id": catalog["product"], "withSeller": with_seller}
    )
    # node 1 + Product (seller 1 + variants 4) + Company (a scalar)
    assert report["requestedQueryCost"] == 1 + 1 + 4
    assert report["actualQueryCost"] == actual


async def test_the_actual_cost_never_exceeds_the_requested_one(client, catalog):
    query = "query($id: ID!) { node(id: $id) { ... on Product { variants { sku } } } }"
    report = await cost(client, query, variables={"id": catalog["wide"]})
    # 1 + variants estimated at 4 x 1. It has 6 (1 + 6 = 7), but the price was announced.
    assert (report["requestedQueryCost"], report["actualQueryCost"]) == (1 + 4, 1 + 4)


def refusals_counted() -> float:
    return REGISTRY.get_sample_value("graphql_rate_limit_refusals_total") or 0.0


async def test_a_drained_bucket_throttles_until_it_refills(settings):
    # 3 points a second: the refusals below come within a second of the charges (a slower
    # machine only refills a fraction of a point meanwhile), and a second refills the 3 missing.
    async with (
        gateway(settings, rate_limit_capacity=30, rate_limit_restore_rate=3) as (app, _),
        http(app) as client,
    ):
        assert (await cost(client, LOGOUT))["actualQueryCost"] == LOGOUT_COST  # 19 left
        assert available(await cost(client, LOGOUT)) in (8, 9)  # 8 and what refilled

        refusals_before = refusals_counted()
        refused = await post(client, LOGOUT, accept=GRAPHQL_RESPONSE_JSON)
        assert refused.status_code == 429
        assert refusals_counted() == refusals_before + 1  # /metrics counts it
        assert refused.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
        # (11 - 8) / 3 a second, rounded up
        assert refused.headers["retry-after"] == "1"
        body = refused.json()
        assert "data" not in body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "THROTTLED"
        assert error["extensions"]["retryAfterSeconds"] == 1
        assert error["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] in (8, 9, 10)
        assert body["extensions"]["cost"]["requestedQueryCost"] == LOGOUT_COST
        assert body["extensions"]["cost"]["actualQueryCost"] == 0

        legacy = await post(client, LOGOUT, accept="application/json")
        assert legacy.status_code == 200
        assert legacy.headers["retry-after"] == "1"
        assert legacy.json()["errors"][0]["extensions"]["code"] == "THROTTLED"

        # A request the bucket could never pay is too complex, not throttled.
        too_big = await post(client, "{ products(first: 40) { edges { node { id } } } }")
        assert too_big.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert "retry-after" not in too_big.headers

        await asyncio.sleep(int(refused.headers["retry-after"]))
        assert (await cost(client, LOGOUT))["actualQueryCost"] == LOGOUT_COST


async def test_unused_cost_is_refunded_and_a_partial_bucket_expires(settings):
    nothing = f"no-such-product-{uuid.uuid4().hex}"
    query = (
        "query($q: String) { products(first: 40, filter: { query: $q }) { edges { node { id } } } }"
    )
    async with (
        gateway(settings, rate_limit_capacity=1000, rate_limit_restore_rate=SLOW) as (
            app,
            services,
        ),
        http(app, "10.0.0.7") as client,
    ):
        report = await cost(client, query, variables={"q": nothing})
        assert (report["requestedQueryCost"], report["actualQueryCost"]) == (42, 2)
        # Charging the requested cost only would have left 958.
        assert available(report) == 998
        key = f"{services.settings.redis_key_prefix}cost-bucket:{_hashed('ip:10.0.0.7')}"
        assert services.redis is not None
        # The bucket expires when it would be full again: 2 points at 0.01 a second.
        assert 199_000 < await services.redis.pttl(key) <= 200_001


async def test_replicas_share_one_bucket_per_viewer(settings):
    prefix = fresh_prefix(settings)
    async with (
        gateway(settings, prefix=prefix, rate_limit_restore_rate=SLOW) as (one, services),
        gateway(settings, prefix=prefix, rate_limit_restore_rate=SLOW) as (two, _),
    ):
        capacity = settings.rate_limit_capacity
        # Tokens of two users (the bucket needs no more than the user id).
        alice, bob = (issue_access_token(services.tokens, Viewer(uuid.uuid4())) for _ in "ab")
        async with (
            http(one, "10.0.0.1") as first,
            http(two, "10.0.0.1") as first_elsewhere,
            http(two, "10.0.0.2") as second,
        ):
            assert available(await cost(first, LOGOUT, token=alice)) == capacity - 11
            assert available(await cost(first_elsewhere, LOGOUT, token=alice)) == (capacity - 22)
            # Another user: another bucket, whichever replica and address.
            assert available(await cost(first_elsewhere, LOGOUT, token=bob)) == (capacity - 11)
            # Anonymous callers are counted per address, across replicas.
            assert available(await cost(first, LOGOUT)) == capacity - 11
            assert available(await cost(first_elsewhere, LOGOUT)) == capacity - 22
            assert available(await cost(second, LOGOUT)) == capacity - 11


async def test_without_redis_the_buckets_are_in_process(settings):
    async with gateway(
        settings, redis_url=None, rate_limit_capacity=15, rate_limit_restore_rate=SLOW
    ) as (app, services):
        assert isinstance(services.rate_limiter, InProcessRateLimiter)
        async with http(app) as client:
            assert available(await cost(client, LOGOUT)) == 15 - LOGOUT_COST
            refused = await post(client, LOGOUT, accept=GRAPHQL_RESPONSE_JSON)
            assert refused.status_code == 429
            assert refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


async def test_rate_limiting_can_be_turned_off(settings):
    async with gateway(settings, rate_limit_capacity=0) as (app, services), http(app) as client:
        assert services.rate_limiter is None
        report = await cost(client, LOGOUT)
        assert report == {"requestedQueryCost": LOGOUT_COST, "actualQueryCost": LOGOUT_COST}


async def test_with_redis_down_requests_go_through(settings, caplog):
    async with (
        gateway(settings, redis_url="redis://127.0.0.1:1/0") as (app, services),
        http(app) as client,
    ):
        assert isinstance(services.rate_limiter, RedisRateLimiter)
        with caplog.at_level(logging.WARNING, logger="gateway.rate_limit"):
            for _ in range(3):
                report = await cost(client, LOGOUT)
                # The bucket is unknown: no throttleStatus, but the cost is still reported.
                assert report == {"requestedQueryCost": LOGOUT_COST, "actualQueryCost": LOGOUT_COST}
        warnings = [r for r in caplog.records if r.name == "gateway.rate_limit"]
        assert len(warnings) == 1


# 1 + order 1 + lines estimated 20 x (1 + variant 1)
FOLLOW = "subscription { orderStatusChanged { eventId order { lines { variant { sku } } } } }"
FOLLOW_COST = 1 + 1 + 20 * 2


async def test_websocket_operations_are_charged_and_throttled(settings):
    async with gateway(
        settings, lifespan=True, rate_limit_capacity=50, rate_limit_restore_rate=SLOW
    ) as (app, _):
        async with http(app, "10.0.0.3") as client:
            buyer = await register(client, buyer=True)
        async with connect(app, [TRANSPORT_WS]) as ws:
            await init(ws, {"Authorization": f"Bearer {buyer.token}"})
            await subscribe(ws, "follow", FOLLOW)
            # Operations on a socket run concurrently: read the bucket (a free query) until the
            # subscription's charge shows.
            for attempt in range(100):
                await subscribe(ws, f"read-{attempt}", "{ __typename }")
                message = await receive(ws)
                assert await receive(ws) == {"id": f"read-{attempt}", "type": "complete"}
                if available(message["payload"]["extensions"]["cost"]) == 50 - FOLLOW_COST:
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the subscription was not charged")
            await subscribe(ws, "me", "{ me { id } }")
            message = await receive(ws)
            assert message["type"] == "next", message
            report = message["payload"]["extensions"]["cost"]
            assert (report["requestedQueryCost"], report["actualQueryCost"]) == (1, 1)
            assert available(report) == 50 - FOLLOW_COST - 1
            assert await receive(ws) == {"id": "me", "type": "complete"}

            for op, query in (
                ("again", FOLLOW),
                ("page", "{ products(first: 10) { edges { node { id } } } }"),
            ):
                await subscribe(ws, op, query)
                message = await receive(ws)
                assert (message["id"], message["type"]) == (op, "error"), message
                [error] = message["payload"]
                assert error["extensions"]["code"] == "THROTTLED"
                assert error["extensions"]["retryAfterSeconds"] > 0


async def test_in_process_buckets_refill_and_forget_full_ones():
    now = [0.0]
    limiter = InProcessRateLimiter(100, 10, clock=lambda: now[0])
    assert (await limiter.charge("a", 60)).allowed
    refused = await limiter.charge("a", 60)
    assert not refused.allowed
    assert refused.status is not None
    assert refused.status.currently_available == 40
    assert refused.status.seconds_until(60) == 2
    now[0] = 2.0
    assert (await limiter.charge("a", 60)).allowed  # 40 + 2 s x 10
    status = await limiter.refund("a", 500)
    assert status is not None
    assert status.currently_available == 100  # never above capacity
    assert len(limiter) == 0  # a full bucket is forgotten
