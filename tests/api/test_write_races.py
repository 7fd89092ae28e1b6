"""Concurrent writes over HTTP: checkouts and catalog writes that lock the same stock rows.

Every such write locks stock rows in variant order, so they queue instead of deadlocking; a lock
conflict that still happens comes back as a CONFLICT userError, never as a server error.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from resolvers.outcome import Outcome
from resolvers.transactions import run_write
from tests.support import add_category_tree, create_product, gql, register, variant_input

ADD = """
mutation Add($variant: ID!, $quantity: Int!) {
  addToCart(variantId: $variant, quantity: $quantity) { userErrors { field code } }
}
"""
CHECKOUT = """
mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) { orders { id } userErrors { field message code } }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateProductInput!) {
  updateProduct(id: $id, input: $input) { product { id } userErrors { field message code } }
}
"""
ADDRESS = {
    "name": "Dock 4",
    "line1": "1 Harbour Rd",
    "city": "Hamburg",
    "postalCode": "20457",
    "country": "DE",
}


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> Any:
    """The raw answer: status and body, whatever they are."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code, response.json()


def assert_answered(status: int, body: dict[str, Any], field: str) -> None:
    """Data with userErrors at most: no 500, no top-level error."""
    assert status == 200, body
    assert "errors" not in body, body["errors"]
    payload = body["data"][field]
    assert payload is not None, body
    assert {error["code"] for error in payload["userErrors"]} <= {"CONFLICT", "OUT_OF_STOCK"}


async def test_checkouts_and_reordered_product_updates_do_not_deadlock(client, services):
    categories = await add_category_tree(services)
    seller = await register(client, seller=True)
    specs = [variant_input(f"RACE-{uuid.uuid4().hex[:8]}-{n}", stock=1000) for n in range(10)]
    product = await create_product(client, seller.token, categories["root"], variants=specs)
    variants = [variant["id"] for variant in product["variants"]]
    buyers = [await register(client, buyer=True) for _ in range(4)]
    reversed_specs = list(reversed(specs))
    for _ in range(3):
        for buyer in buyers:
            for variant in variants:
                body = await gql(client, ADD, {"variant": variant, "quantity": 1}, buyer.token)
                assert body["data"]["addToCart"]["userErrors"] == []
        checkouts = [
            post(
                client,
                CHECKOUT,
                {
                    "input": {
                        "shippingAddress": ADDRESS,
                        "currency": "EUR",
                        "idempotencyKey": uuid.uuid4().hex,
                    }
                },
                buyer.token,
            )
            for buyer in buyers
        ]
        updates = [
            post(
                client,
                UPDATE,
                {"id": product["id"], "input": {"variants": reversed_specs}},
                seller.token,
            )
            for _ in range(2)
        ]
        answers = await asyncio.gather(*checkouts, *updates)
        for status, body in answers[: len(checkouts)]:
            assert_answered(status, body, "checkout")
        for status, body in answers[len(checkouts) :]:
            assert_answered(status, body, "updateProduct")


class _Adapted(Exception):
    """Stands in for the driver error SQLAlchemy wraps (it carries the SQLSTATE)."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _db_error(sqlstate: str) -> DBAPIError:
    return DBAPIError("UPDATE stock_levels ...", None, _Adapted(sqlstate))


@pytest.mark.parametrize("sqlstate", ["40P01", "40001", "55P03"])
async def test_a_lock_conflict_is_retried_once_then_reported_as_conflict(sqlstate):
    calls: list[int] = []

    async def fails_once() -> Outcome:
        calls.append(1)
        if len(calls) == 1:
            raise _db_error(sqlstate)
        return Outcome(key=uuid.UUID(int=1))

    assert (await run_write(fails_once)).key == uuid.UUID(int=1)
    assert len(calls) == 2

    async def always_fails() -> Outcome:
        calls.append(1)
        raise _db_error(sqlstate)

    calls.clear()
    outcome = await run_write(always_fails)
    assert len(calls) == 2
    assert outcome.key is None
    assert [(p.path, p.code) for p in outcome.problems] == [(("input",), "CONFLICT")]


async def test_other_database_errors_are_not_retried():
    calls: list[int] = []

    async def broken() -> Outcome:
        calls.append(1)
        raise _db_error("23514")  # check_violation: a bug, not contention

    with pytest.raises(DBAPIError):
        await run_write(broken)
    assert len(calls) == 1
