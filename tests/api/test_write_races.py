"""Concurrent writes over HTTP: checkouts and catalog writes that lock the same stock rows.

Every such write locks stock rows in variant order, so they queue instead of deadlocking; a lock
conflict that still happens (a deadlock, or a lock held past `lock_timeout`) comes back as a
CONFLICT userError on every write path, never as a server error. Also the one write helper's
rules: a refusal rolls back, and after-commit hooks run only after a commit, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from starlette.applications import Starlette

from auth.viewer import ANONYMOUS
from dataloaders import Loaders
from db.engine import session_factory
from domain.problems import Problem
from resolvers.context import Context, Services
from resolvers.global_ids import key_of
from resolvers.outcome import Outcome
from resolvers.transactions import (
    Refused,
    WriteTransaction,
    run_transaction,
    write_outcome,
)
from server import create_app
from settings import Settings
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


def a_mutation_context(services: Services) -> Context:
    return Context(
        services=services, viewer=ANONYMOUS, loaders=Loaders(services.engine), request_id="test"
    )


@pytest.mark.parametrize("sqlstate", ["40P01", "40001", "55P03"])
async def test_a_lock_conflict_is_retried_once_then_reported_as_conflict(services, sqlstate):
    ctx = a_mutation_context(services)
    calls: list[int] = []

    async def fails_once(tx: WriteTransaction) -> Outcome:
        calls.append(1)
        if len(calls) == 1:
            raise _db_error(sqlstate)
        return Outcome(key=uuid.UUID(int=1))

    assert (await write_outcome(ctx, fails_once)).key == uuid.UUID(int=1)
    assert len(calls) == 2

    async def always_fails(tx: WriteTransaction) -> Outcome:
        calls.append(1)
        raise _db_error(sqlstate)

    calls.clear()
    outcome = await write_outcome(ctx, always_fails)
    assert len(calls) == 2
    assert outcome.key is None
    assert [(p.path, p.code) for p in outcome.problems] == [(("input",), "CONFLICT")]


async def test_other_database_errors_are_not_retried(services):
    calls: list[int] = []

    async def broken(tx: WriteTransaction) -> Outcome:
        calls.append(1)
        raise _db_error("23514")  # check_violation: a bug, not contention

    with pytest.raises(DBAPIError):
        await write_outcome(a_mutation_context(services), broken)
    assert len(calls) == 1


# --- a lock held past lock_timeout, on the paths that once opened their own sessions ----------

LOCK_TIMEOUT_MS = 200  # production waits 5 s (db/engine.py); a test need not
STATUS = """
mutation Status($id: ID!, $status: OrderStatus!) {
  updateOrderStatus(id: $id, status: $status) { order { status } userErrors { field code } }
}
"""


@pytest.fixture
async def impatient_app(settings: Settings, services: Services) -> AsyncIterator[Starlette]:
    """The app on an engine whose transactions give up waiting for a row lock after 200 ms."""
    assert settings.database_url is not None
    engine = create_async_engine(
        settings.database_url,
        poolclass=NullPool,
        connect_args={"server_settings": {"lock_timeout": str(LOCK_TIMEOUT_MS)}},
    )
    impatient = dataclasses.replace(services, engine=engine, sessions=session_factory(engine))
    try:
        yield create_app(settings, impatient)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def row_locked(services: Services, table: str, column: str, key: uuid.UUID):
    """Hold `table`'s row(s) where `column` = `key` FOR UPDATE from a second real connection."""
    async with services.engine.connect() as connection, connection.begin():
        locked = await connection.execute(
            text(f"SELECT 1 FROM {table} WHERE {column} = :key FOR UPDATE"),  # noqa: S608
            {"key": key},
        )
        assert locked.all(), f"nothing to lock in {table}"
        yield


async def test_a_lock_held_past_lock_timeout_answers_conflict_not_a_server_error(
    client, services, impatient_app
):
    categories = await add_category_tree(services)
    seller = await register(client, seller=True)
    sku = f"LOCK-{uuid.uuid4().hex[:8]}"
    product = await create_product(
        client, seller.token, categories["root"], variants=[variant_input(sku, stock=10)]
    )
    variant = product["variants"][0]["id"]
    variant_key = key_of(variant, "ProductVariant")
    buyer = await register(client, buyer=True)
    buyer_key = key_of(buyer.user_id, "User")
    assert variant_key is not None and buyer_key is not None
    body = await gql(client, ADD, {"variant": variant, "quantity": 2}, buyer.token)
    assert body["data"]["addToCart"]["userErrors"] == []
    checkout = {
        "input": {"shippingAddress": ADDRESS, "currency": "EUR", "idempotencyKey": uuid.uuid4().hex}
    }
    transport = httpx.ASGITransport(app=impatient_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as impatient:
        # Checkout waits for the stock row a second connection holds.
        async with row_locked(services, "stock_levels", "variant_id", variant_key):
            status, body = await post(impatient, CHECKOUT, checkout, buyer.token)
        assert status == 200 and "errors" not in body, body
        assert body["data"]["checkout"] == {
            "orders": [],
            "userErrors": [{"field": ["input"], "message": "busy, try again", "code": "CONFLICT"}],
        }
        # Nothing was written: the key is free and the cart kept, so the same checkout passes.
        status, body = await post(impatient, CHECKOUT, checkout, buyer.token)
        assert body["data"]["checkout"]["userErrors"] == [], body
        (order,) = body["data"]["checkout"]["orders"]
        order_key = key_of(order["id"], "Order")
        assert order_key is not None

        # A cart edit waits for the cart row.
        async with row_locked(services, "carts", "user_id", buyer_key):
            status, body = await post(
                impatient, ADD, {"variant": variant, "quantity": 1}, buyer.token
            )
        assert status == 200 and "errors" not in body, body
        assert body["data"]["addToCart"]["userErrors"] == [
            {"field": ["variantId"], "code": "CONFLICT"}
        ]

        # An order status change waits for the order row.
        moved = {"id": order["id"], "status": "CONFIRMED"}
        async with row_locked(services, "orders", "id", order_key):
            status, body = await post(impatient, STATUS, moved, seller.token)
        assert status == 200 and "errors" not in body, body
        assert body["data"]["updateOrderStatus"] == {
            "order": None,
            "userErrors": [{"field": ["id"], "code": "CONFLICT"}],
        }
        status, body = await post(impatient, STATUS, moved, seller.token)
        assert body["data"]["updateOrderStatus"] == {
            "order": {"status": "CONFIRMED"},
            "userErrors": [],
        }


# --- the write helper's own rules ---------------------------------------------------------------


@pytest.fixture
async def probe_table(services: Services) -> AsyncIterator[str]:
    """A scratch table of the test's own, so the helper's rules are seen without app data."""
    name = f"write_probe_{uuid.uuid4().hex[:8]}"
    async with services.engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE {name} (id uuid PRIMARY KEY)"))
    try:
        yield name
    finally:
        async with services.engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {name}"))


async def test_after_commit_hooks_run_after_the_commit_in_order_and_never_after_a_rollback(
    services, probe_table
):
    seen: list[tuple[str, object]] = []

    async def committed(key: uuid.UUID) -> bool:
        """Whether another connection sees the row (it does once the commit is done)."""
        async with services.engine.connect() as connection:
            found = await connection.scalar(
                text(f"SELECT count(*) FROM {probe_table} WHERE id = :key"),  # noqa: S608
                {"key": key},
            )
        return bool(found)

    async def insert(tx: WriteTransaction, key: uuid.UUID) -> None:
        await tx.session.execute(
            text(f"INSERT INTO {probe_table} (id) VALUES (:key)"),  # noqa: S608
            {"key": key},
        )

    first = uuid.uuid4()

    async def first_hook() -> None:
        seen.append(("first hook", await committed(first)))

    def second_hook() -> None:
        seen.append(("second hook", None))

    async def write(tx: WriteTransaction) -> str:
        await insert(tx, first)
        tx.after_commit(first_hook)
        tx.after_commit(second_hook)
        tx.after_commit(first_hook)  # registered twice, runs once
        seen.append(("written", await committed(first)))
        return "done"

    assert await run_transaction(services, write) == "done"
    assert seen == [("written", False), ("first hook", True), ("second hook", None)]

    # A refusal rolls back what was written, and its hooks never run.
    seen.clear()
    second = uuid.uuid4()
    refusal = Problem(("input",), "no")

    async def refused(tx: WriteTransaction) -> str:
        await insert(tx, second)
        tx.after_commit(second_hook)
        raise Refused([refusal])

    with pytest.raises(Refused) as caught:
        await run_transaction(services, refused)
    assert caught.value.problems == [refusal]
    assert seen == []
    assert not await committed(second)

    # A lock conflict retries the whole transaction: only the attempt that committed has hooks.
    attempts: list[int] = []

    async def conflicting_once(tx: WriteTransaction) -> int:
        attempts.append(len(attempts) + 1)
        attempt = attempts[-1]
        await insert(tx, uuid.uuid4())
        tx.after_commit(lambda: seen.append(("hook of attempt", attempt)))
        if attempt == 1:
            raise _db_error("40P01")
        return attempt

    assert await run_transaction(services, conflicting_once) == 2
    assert seen == [("hook of attempt", 2)]


async def test_a_failing_after_commit_hook_is_logged_and_does_not_fail_or_repeat_the_write(
    services, probe_table, caplog
):
    written: list[uuid.UUID] = []
    later_hooks: list[str] = []

    def conflicting_hook() -> None:
        raise _db_error("40P01")  # a lock conflict: it must not run the committed write again

    async def broken_hook() -> None:
        raise RuntimeError("hook broke")

    async def write(tx: WriteTransaction) -> str:
        key = uuid.uuid4()
        written.append(key)
        await tx.session.execute(
            text(f"INSERT INTO {probe_table} (id) VALUES (:key)"),  # noqa: S608
            {"key": key},
        )
        tx.after_commit(conflicting_hook)
        tx.after_commit(broken_hook)
        tx.after_commit(lambda: later_hooks.append("ran"))
        return "created"

    with caplog.at_level("ERROR", logger="resolvers.transactions"):
        assert await run_transaction(services, write) == "created"

    assert len(written) == 1  # one attempt: the conflicting hook did not trigger a retry
    async with services.engine.connect() as connection:
        rows = (await connection.scalars(text(f"SELECT id FROM {probe_table}"))).all()  # noqa: S608
    assert rows == written
    assert later_hooks == ["ran"]
    failures = [r for r in caplog.records if r.name == "resolvers.transactions"]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)
    assert isinstance(failures[0].exc_info[1], DBAPIError)
    assert isinstance(failures[1].exc_info[1], RuntimeError)
