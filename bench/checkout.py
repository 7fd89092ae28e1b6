"""Checkout benchmark (in-process, through the real ASGI app, on a scratch seeded database).

1. Checkout throughput: N concurrent buyers each loop add-to-cart (two lines from two sellers)
   + checkout for a fixed time; prints orders per second and checkout latency p50/p99.
2. Order detail: SQL statements of `order(id)` with lines, variants, history, parties for an
   order of 2 lines and one of 50 lines (must be equal: no statement per line).

    .venv/bin/python bench/checkout.py [--buyers 10] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import answer_problem, limits_line, scratch_database  # noqa: E402
from db.databases import drop_database  # noqa: E402
from db.statement_log import observe_statements  # noqa: E402
from resolvers.global_ids import to_global_id  # noqa: E402
from server import build_services, create_app  # noqa: E402
from settings import Settings  # noqa: E402

ADDRESS = {
    "name": "Bench",
    "line1": "1 Road",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
}
ADD = (
    "mutation($v: ID!, $q: Int!) { addToCart(variantId: $v, quantity: $q) { userErrors { code } } }"
)
CHECKOUT = """mutation($input: CheckoutInput!) { checkout(input: $input) {
  orders { id } userErrors { code message } } }"""
ORDER = """query($id: ID!) { order(id: $id) {
  number total { amount } buyer { name } seller { name } placedBy { email }
  lines { quantity unitPrice { amount } variant { sku availableQuantity } }
  history { status by { email } } } }"""
REGISTER = """mutation($input: RegisterInput!) { register(input: $input) { accessToken } }"""


async def call(http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    problem = answer_problem(response.status_code, body)  # a refusal is not a request served
    assert problem is None, problem
    return body["data"]


async def buyer_token(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/graphql",
        json={
            "query": REGISTER,
            "variables": {
                "input": {
                    "email": f"bench-{uuid.uuid4().hex[:10]}@example.com",
                    "password": "bench-password-123",
                    "name": "Bench Buyer",
                    "companyName": "Bench Buyer Co",
                    "country": "DE",
                    "defaultCurrency": "EUR",
                    "isSeller": False,
                    "isBuyer": True,
                }
            },
        },
    )
    problem = answer_problem(response.status_code, response.json())
    assert problem is None, problem
    token: str = response.json()["data"]["register"]["accessToken"]
    return token


async def stocked_variants(
    engine: Any, sellers: int, per_seller: int
) -> list[list[tuple[str, int]]]:
    """Variants with plenty of stock, grouped by seller: (global id, minimum order quantity)."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT v.id, v.minimum_order_quantity, p.seller_id FROM product_variants v"
                    " JOIN products p ON p.id = v.product_id"
                    " JOIN stock_levels s ON s.variant_id = v.id"
                    " WHERE p.status = 'ACTIVE'"
                    " AND s.on_hand >= 1000 AND v.order_increment = 1"
                    " ORDER BY p.seller_id, v.id"
                )
            )
        ).all()
    by_seller: dict[Any, list[tuple[str, int]]] = {}
    for variant_id, moq, seller_id in rows:
        by_seller.setdefault(seller_id, []).append(
            (to_global_id("ProductVariant", variant_id), moq)
        )
    groups = [group[:per_seller] for group in by_seller.values() if len(group) >= per_seller]
    return groups[:sellers]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--products", type=int, default=3000)
    args = parser.parse_args()

    url = await scratch_database(args.products)
    try:
        settings = Settings(environment="test", database_url=url, redis_url=None)
        print(limits_line(settings))
        services = build_services(settings)
        statements: list[str] = []
        counting = False

        def count(statement: str, _arguments: tuple[Any, ...]) -> None:
            if counting:
                statements.append(statement)

        observe_statements(services.engine, count)
        app = create_app(settings, services)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60
            ) as http,
        ):
            groups = await stocked_variants(services.engine, sellers=2, per_seller=60)
            assert len(groups) == 2, "the seed has too few well-stocked EUR sellers"
            tokens = await asyncio.gather(*(buyer_token(http) for _ in range(args.buyers)))
            latencies: list[float] = []
            orders = 0
            deadline = time.perf_counter() + args.seconds

            async def shop(token: str, turn: int) -> None:
                nonlocal orders
                index = turn
                while time.perf_counter() < deadline:
                    for group in groups:
                        variant, moq = group[index % len(group)]
                        await call(http, ADD, {"v": variant, "q": moq}, token)
                    index += args.buyers
                    started = time.perf_counter()
                    data = await call(
                        http,
                        CHECKOUT,
                        {
                            "input": {
                                "shippingAddress": ADDRESS,
                                "currency": "EUR",
                                "idempotencyKey": uuid.uuid4().hex,
                            }
                        },
                        token,
                    )
                    latencies.append(time.perf_counter() - started)
                    assert not data["checkout"]["userErrors"], data
                    orders += len(data["checkout"]["orders"])

            started = time.perf_counter()
            await asyncio.gather(*(shop(token, turn) for turn, token in enumerate(tokens)))
            elapsed = time.perf_counter() - started
            ordered = sorted(latencies)
            print(f"checkout, {args.buyers} concurrent buyers, 2 sellers a cart, {elapsed:.1f} s:")
            print(f"  checkouts {len(latencies)}, orders {orders}, {orders / elapsed:.1f} orders/s")
            print(
                f"  checkout latency p50 {statistics.median(ordered) * 1000:.1f} ms, "
                f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1000:.1f} ms"
            )

            async def order_with_lines(lines: int) -> str:
                token = await buyer_token(http)
                for variant, moq in groups[0][:lines]:
                    await call(http, ADD, {"v": variant, "q": moq}, token)
                data = await call(
                    http,
                    CHECKOUT,
                    {
                        "input": {
                            "shippingAddress": ADDRESS,
                            "currency": "EUR",
                            "idempotencyKey": uuid.uuid4().hex,
                        }
                    },
                    token,
                )
                nonlocal counting
                order_id = data["checkout"]["orders"][0]["id"]
                await call(http, ORDER, {"id": order_id}, token)  # warm
                statements.clear()
                counting = True
                detail = await call(http, ORDER, {"id": order_id}, token)
                counting = False
                assert len(detail["order"]["lines"]) == lines
                return f"{len(statements)}"

            print("order detail (lines, variants, stock, history, parties):")
            for lines in (2, 50):
                print(f"  {lines:>2} lines: {await order_with_lines(lines)} SQL statements")
        await services.engine.dispose()
    finally:
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
