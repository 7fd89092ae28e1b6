"""Orders over HTTP: who sees which, lists and pages, the status state machine, stock on cancel
and shipping, racing status changes, and batched reads of big orders."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
from sqlalchemy import func, select, update

from db.models import Membership, Order, OrderEvent, OutboxEvent
from domain.orders import OrderStatus
from resolvers.global_ids import key_of
from tests.api.test_checkout import (
    Offer,
    add_to_cart,
    available,
    checkout,
    offer,
    place_order,
    stock_of,
)
from tests.support import Account, gql, register

ORDER = """
query Order($id: ID!) {
  order(id: $id) {
    id number status total { amount currency }
    lines { quantity variant { sku } }
    history { status by { email } note }
  }
}
"""
NODE = "query Node($id: ID!) { node(id: $id) { id ... on Order { number } } }"
ORDERS = """
query Orders($first: Int, $after: String, $status: OrderStatus, $role: OrderRole) {
  orders(first: $first, after: $after, status: $status, role: $role) {
    totalCount
    edges { cursor node { id status } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""
PAYLOAD = "order { id status history { status by { email } note } } userErrors { field code }"
UPDATE = f"""
mutation Update($id: ID!, $status: OrderStatus!, $note: String) {{
  updateOrderStatus(id: $id, status: $status, note: $note) {{ {PAYLOAD} }}
}}
"""
CANCEL = f"""
mutation Cancel($id: ID!, $reason: String!) {{
  cancelOrder(id: $id, reason: $reason) {{ {PAYLOAD} }}
}}
"""


async def move(
    client: httpx.AsyncClient, who: Account, order: str, status: str, note: str | None = None
) -> dict[str, Any]:
    body = await gql(client, UPDATE, {"id": order, "status": status, "note": note}, token=who.token)
    payload: dict[str, Any] = body["data"]["updateOrderStatus"]
    return payload


async def cancel(
    client: httpx.AsyncClient, who: Account, order: str, reason: str
) -> dict[str, Any]:
    body = await gql(client, CANCEL, {"id": order, "reason": reason}, token=who.token)
    payload: dict[str, Any] = body["data"]["cancelOrder"]
    return payload


async def read(client: httpx.AsyncClient, who: Account, order: str) -> dict[str, Any] | None:
    body = await gql(client, ORDER, {"id": order}, token=who.token)
    found: dict[str, Any] | None = body["data"]["order"]
    return found


def steps(order: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return [
        (event["status"], (event["by"] or {}).get("email"), event["note"])
        for event in order["history"]
    ]


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(error["field"], error["code"]) for error in payload["userErrors"]]


async def outbox_statuses(services: Any, order: str) -> list[tuple[str | None, str]]:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.channel == f"order:{key_of(order, 'Order')}")
            .order_by(OutboxEvent.id)
        )
        return [(row["previousStatus"], row["status"]) for row in rows]


async def deal(client: httpx.AsyncClient, services: Any, quantity: int = 2, stock: int = 100):
    """A seller, a buyer and one PLACED order of `quantity` units of one variant."""
    shop = await offer(client, services, stock=stock)
    buyer = await register(client, buyer=True)
    order = await place_order(client, buyer, [(shop.variants[0], quantity)])
    return shop, buyer, order


# --- who sees what ---------------------------------------------------------------------------


async def test_the_parties_see_the_order_and_nobody_else(client, services):
    shop, buyer, order = await deal(client, services)
    stranger = await register(client, seller=True, buyer=True)

    for party in (buyer, shop.seller):
        seen = await read(client, party, order["id"])
        assert seen is not None and seen["number"] == order["number"]
        body = await gql(client, NODE, {"id": order["id"]}, token=party.token)
        assert body["data"]["node"] == {"id": order["id"], "number": order["number"]}
    assert await read(client, stranger, order["id"]) is None
    body = await gql(client, NODE, {"id": order["id"]}, token=stranger.token)
    assert body["data"]["node"] is None
    body = await gql(client, ORDERS, {"first": 10}, token=stranger.token)
    assert body["data"]["orders"]["totalCount"] == 0
    assert body["data"]["orders"]["edges"] == []
    body = await gql(client, ORDER, {"id": order["id"]}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_orders_filter_by_side_and_status_and_page_without_gaps(client, services):
    # A trader that sells to a customer (3 orders) and buys from two suppliers in one checkout
    # (2 orders placed at the same instant: the page order breaks the tie by id).
    trader = await register(client, seller=True, buyer=True)
    sold = await offer(client, services, seller=trader)
    suppliers = [await offer(client, services), await offer(client, services)]
    customer = await register(client, buyer=True)
    sales = [await place_order(client, customer, [(sold.variants[0], 1)]) for _ in range(3)]
    for supplier in suppliers:
        assert await add_to_cart(client, trader.token, supplier.variants[0], 1) == []
    bought = await checkout(client, trader.token)
    purchases = sorted(bought["orders"], key=lambda order: str(key_of(order["id"], "Order")))
    confirmed = await move(client, trader, sales[1]["id"], "CONFIRMED")
    assert confirmed["userErrors"] == []

    async def listed(**variables: Any) -> tuple[int, list[str]]:
        body = await gql(client, ORDERS, {"first": 100, **variables}, token=trader.token)
        orders = body["data"]["orders"]
        return orders["totalCount"], [edge["node"]["id"] for edge in orders["edges"]]

    newest_first = [order["id"] for order in reversed(sales + purchases)]
    everything = await listed()
    assert everything == (5, newest_first)
    assert await listed(role="SELLER") == (3, [o["id"] for o in reversed(sales)])
    assert await listed(role="BUYER") == (2, [o["id"] for o in reversed(purchases)])
    assert await listed(status="CONFIRMED") == (1, [sales[1]["id"]])
    assert await listed(status="PLACED", role="SELLER") == (2, [sales[2]["id"], sales[0]["id"]])
    assert await listed(status="SHIPPED") == (0, [])
    assert (await gql(client, ORDERS, {"first": 100}, token=customer.token))["data"]["orders"][
        "totalCount"
    ] == 3

    for size, expected_pages in ((2, 3), (1, 5)):
        walked, after, pages = [], None, 0
        while True:
            variables = {"first": size, "after": after}
            page = (await gql(client, ORDERS, variables, token=trader.token))["data"]["orders"]
            assert page["totalCount"] == 5
            assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
            walked += [edge["node"]["id"] for edge in page["edges"]]
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert (pages, walked) == (expected_pages, newest_first)

    body = await gql(client, ORDERS, {"first": 101}, token=trader.token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gql(
        client, ORDERS, {"after": "bm90LWEtY3Vyc29y"}, token=trader.token, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- the state machine -----------------------------------------------------------------------


async def test_the_happy_path_records_who_and_why_oldest_first(client, services):
    shop, buyer, order = await deal(client, services)
    seller = shop.seller
    for who, status, note in [
        (seller, "CONFIRMED", "packing"),
        (seller, "SHIPPED", "DHL 0042"),
        (buyer, "DELIVERED", None),
        (buyer, "COMPLETED", "all good"),
    ]:
        payload = await move(client, who, order["id"], status, note)
        assert payload["userErrors"] == [], (status, payload)
        assert payload["order"]["status"] == status

    final = await read(client, buyer, order["id"])
    assert final is not None
    assert steps(final) == [
        ("PLACED", buyer.email, None),
        ("CONFIRMED", seller.email, "packing"),
        ("SHIPPED", seller.email, "DHL 0042"),
        ("DELIVERED", buyer.email, None),
        ("COMPLETED", buyer.email, "all good"),
    ]
    assert await outbox_statuses(services, order["id"]) == [
        (None, "PLACED"),
        ("PLACED", "CONFIRMED"),
        ("CONFIRMED", "SHIPPED"),
        ("SHIPPED", "DELIVERED"),
        ("DELIVERED", "COMPLETED"),
    ]


async def test_moves_by_the_wrong_side_or_out_of_order_change_nothing(client, services):
    shop, buyer, order = await deal(client, services)
    seller, oid = shop.seller, order["id"]

    async def refused(who: Account, status: str, note: str | None = "why") -> None:
        before = await read(client, buyer, oid)
        payload = await move(client, who, oid, status, note)
        assert payload["order"] is None
        assert codes(payload) == [(["status"], "INVALID_TRANSITION")], (status, payload)
        assert await read(client, buyer, oid) == before

    await refused(buyer, "CONFIRMED")  # the seller confirms
    await refused(seller, "SHIPPED")  # not confirmed yet
    await refused(seller, "PLACED")
    await refused(seller, "DISPUTED")
    assert (await move(client, seller, oid, "CONFIRMED"))["userErrors"] == []
    await refused(buyer, "SHIPPED")
    await refused(buyer, "DELIVERED")
    assert (await move(client, seller, oid, "SHIPPED"))["userErrors"] == []
    await refused(seller, "DISPUTED")  # the buyer disputes
    await refused(seller, "COMPLETED")
    await refused(buyer, "COMPLETED")  # delivered first
    assert (await move(client, buyer, oid, "DELIVERED"))["userErrors"] == []
    await refused(seller, "COMPLETED")  # the buyer completes
    await refused(buyer, "SHIPPED")
    final = await read(client, buyer, oid)
    assert final is not None
    assert [step[0] for step in steps(final)] == ["PLACED", "CONFIRMED", "SHIPPED", "DELIVERED"]
    assert len(await outbox_statuses(services, oid)) == 4


async def test_every_move_off_the_machine_is_an_invalid_transition(client, services):
    """From PLACED, each status the machine does not allow, for both sides."""
    shop, buyer, order = await deal(client, services)
    allowed = {("CONFIRMED", "SELLER"), ("CANCELLED", "SELLER"), ("CANCELLED", "BUYER")}
    for status in OrderStatus:
        for who, side in ((buyer, "BUYER"), (shop.seller, "SELLER")):
            if (status.value, side) in allowed:
                continue
            payload = await move(client, who, order["id"], status.value, "a note")
            assert codes(payload) == [(["status"], "INVALID_TRANSITION")], (status, side)
    current = await read(client, buyer, order["id"])
    assert current is not None and current["status"] == "PLACED" and len(current["history"]) == 1


async def test_cancelling_needs_a_reason(client, services):
    shop, buyer, order = await deal(client, services)
    for reason in ("", "   "):
        payload = await cancel(client, buyer, order["id"], reason)
        assert payload["order"] is None
        assert codes(payload) == [(["reason"], "INVALID")]
    payload = await move(client, shop.seller, order["id"], "CANCELLED")
    assert codes(payload) == [(["note"], "INVALID")]
    unchanged = await read(client, buyer, order["id"])
    assert unchanged is not None and unchanged["status"] == "PLACED"
    assert await stock_of(services, shop.variants[0]) == (100, 2, 2)

    payload = await cancel(client, shop.seller, order["id"], "  out of paint  ")
    assert payload["order"]["status"] == "CANCELLED"
    assert steps(payload["order"])[-1] == ("CANCELLED", shop.seller.email, "out of paint")


async def test_the_seller_delivers_only_with_a_proof(client, services):
    shop, buyer, order = await deal(client, services)
    seller, oid = shop.seller, order["id"]
    await move(client, seller, oid, "CONFIRMED")
    await move(client, seller, oid, "SHIPPED")
    for note in (None, " "):
        payload = await move(client, seller, oid, "DELIVERED", note)
        assert codes(payload) == [(["note"], "INVALID")]
    assert (await read(client, buyer, oid) or {})["status"] == "SHIPPED"
    payload = await move(client, seller, oid, "DELIVERED", "signed by J. Doe")
    assert payload["userErrors"] == []
    assert steps(payload["order"])[-1] == ("DELIVERED", seller.email, "signed by J. Doe")


async def test_the_buyer_disputes_a_shipped_order(client, services):
    shop, buyer, order = await deal(client, services)
    await move(client, shop.seller, order["id"], "CONFIRMED")
    await move(client, shop.seller, order["id"], "SHIPPED")
    assert codes(await move(client, buyer, order["id"], "DISPUTED")) == [(["note"], "INVALID")]
    payload = await move(client, buyer, order["id"], "DISPUTED", "arrived broken")
    assert payload["order"]["status"] == "DISPUTED"
    assert steps(payload["order"])[-1] == ("DISPUTED", buyer.email, "arrived broken")
    # DISPUTED is final here.
    assert codes(await move(client, buyer, order["id"], "COMPLETED")) == [
        (["status"], "INVALID_TRANSITION")
    ]


async def test_a_foreign_order_reads_as_not_found_and_stays_unchanged(client, services):
    shop, buyer, order = await deal(client, services)
    stranger = await register(client, seller=True, buyer=True)
    for payload in (
        await move(client, stranger, order["id"], "CONFIRMED"),
        await move(client, stranger, order["id"], "CANCELLED", "mine now"),
        await cancel(client, stranger, order["id"], "mine now"),
        await cancel(client, buyer, "T3JkZXI6bm90LWEtdXVpZA==", "garbage id"),
        await move(client, shop.seller, shop.variants[0], "CONFIRMED"),  # not an order id
    ):
        assert payload["order"] is None
        assert codes(payload) == [(["id"], "NOT_FOUND")]
    current = await read(client, buyer, order["id"])
    assert current is not None and current["status"] == "PLACED" and len(current["history"]) == 1
    assert await stock_of(services, shop.variants[0]) == (100, 2, 2)
    assert await outbox_statuses(services, order["id"]) == [(None, "PLACED")]


# --- stock -----------------------------------------------------------------------------------


async def test_cancelling_releases_the_reserved_stock(client, services):
    shop, buyer, order = await deal(client, services, quantity=4, stock=10)
    variant = shop.variants[0]
    assert await available(client, variant, buyer.token) == 6
    await move(client, shop.seller, order["id"], "CONFIRMED")
    payload = await cancel(client, buyer, order["id"], "found it cheaper")
    assert payload["order"]["status"] == "CANCELLED"
    assert await stock_of(services, variant) == (10, 0, 0)
    assert await available(client, variant, buyer.token) == 10
    # A cancelled order is final.
    assert codes(await move(client, shop.seller, order["id"], "CONFIRMED")) == [
        (["status"], "INVALID_TRANSITION")
    ]
    assert await stock_of(services, variant) == (10, 0, 0)


async def test_shipping_consumes_the_reserved_stock(client, services):
    shop, buyer, order = await deal(client, services, quantity=4, stock=10)
    variant = shop.variants[0]
    await move(client, shop.seller, order["id"], "CONFIRMED")
    assert await stock_of(services, variant) == (10, 4, 4)
    payload = await move(client, shop.seller, order["id"], "SHIPPED")
    assert payload["userErrors"] == []
    assert await stock_of(services, variant) == (6, 0, 0)
    assert await available(client, variant, buyer.token) == 6  # unchanged by shipping

    payload = await cancel(client, buyer, order["id"], "too late")
    assert codes(payload) == [(["status"], "INVALID_TRANSITION")]
    assert await stock_of(services, variant) == (6, 0, 0)
    assert (await read(client, buyer, order["id"]) or {})["status"] == "SHIPPED"


# --- races -----------------------------------------------------------------------------------


async def test_confirm_racing_cancel_leaves_one_consistent_result(client, services):
    shop = await offer(client, services, stock=100)
    buyer = await register(client, buyer=True)
    variant = shop.variants[0]
    outcomes = set()
    for _ in range(5):
        order = await place_order(client, buyer, [(variant, 3)])
        confirmed, cancelled = await asyncio.gather(
            move(client, shop.seller, order["id"], "CONFIRMED"),
            cancel(client, buyer, order["id"], "changed my mind"),
        )
        final = await read(client, buyer, order["id"])
        assert final is not None
        history = [step[0] for step in steps(final)]
        won = (confirmed["userErrors"] == [], cancelled["userErrors"] == [])
        outcomes.add(won)
        # Never a lost update: the history is a valid walk ending in the status.
        assert history in (
            ["PLACED", "CONFIRMED"],
            ["PLACED", "CANCELLED"],
            ["PLACED", "CONFIRMED", "CANCELLED"],
        ), history
        assert history[-1] == final["status"]
        assert (
            won
            == {
                ("PLACED", "CONFIRMED"): (True, False),
                ("PLACED", "CANCELLED"): (False, True),
                ("PLACED", "CONFIRMED", "CANCELLED"): (True, True),
            }[tuple(history)]
        )
        for payload in (confirmed, cancelled):
            assert codes(payload) in ([], [(["status"], "INVALID_TRANSITION")])
        assert [status for _, status in await outbox_statuses(services, order["id"])] == history
        async with services.sessions() as session:
            version = await session.scalar(
                select(Order.version).where(Order.id == key_of(order["id"], "Order"))
            )
            events = await session.scalar(
                select(func.count())
                .select_from(OrderEvent)
                .where(OrderEvent.order_id == key_of(order["id"], "Order"))
            )
        assert version == events == len(history)
    # Stock held is what the open (confirmed, not cancelled) orders reserved.
    async with services.sessions() as session:
        open_orders = await session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.buyer_id == key_of(buyer.company_id, "Company"),
                Order.status == OrderStatus.CONFIRMED,
            )
        )
    assert await stock_of(services, variant) == (100, 3 * open_orders, 3 * open_orders)
    assert outcomes  # which interleavings happened varies from run to run


# --- batching --------------------------------------------------------------------------------

BIG_ORDER = """
query Order($id: ID!) {
  order(id: $id) {
    lines { variant { sku } unitPrice { amount } }
    history { by { email } }
    buyer { name } seller { name } placedBy { email }
  }
}
"""


async def test_an_order_of_50_lines_costs_the_statements_of_one_of_2(
    client, services, statement_counter
):
    shop: Offer = await offer(client, services, products=50)
    small_buyer, big_buyer = (
        await register(client, buyer=True),
        await register(client, buyer=True),
    )
    small = await place_order(client, small_buyer, [(v, 1) for v in shop.variants[:2]])
    for variant in shop.variants:
        assert await add_to_cart(client, big_buyer.token, variant, 1) == []
    payload = await checkout(client, big_buyer.token)
    assert payload["userErrors"] == []
    (big,) = payload["orders"]
    await move(client, shop.seller, small["id"], "CONFIRMED")
    await move(client, shop.seller, big["id"], "CONFIRMED")

    async def statements(order: str, who: Account, lines: int) -> int:
        statement_counter.reset()
        body = await gql(client, BIG_ORDER, {"id": order}, token=who.token)
        statement_counter.active = False
        assert len(body["data"]["order"]["lines"]) == lines
        assert [e["by"]["email"] for e in body["data"]["order"]["history"]] == [
            who.email,
            shop.seller.email,
        ]
        return statement_counter.count

    small_count = await statements(small["id"], small_buyer, 2)
    big_count = await statements(big["id"], big_buyer, 50)
    assert small_count == big_count, statement_counter.statements


FORGED_KEYS: list[list[Any]] = [
    ["2026-01-01T00:00:00+00:00", 5],  # not a UUID string
    [5, "6f1c2f4e-7a53-4c57-9d51-0d3c7c0b2a11"],  # not a datetime string
    ["2026-01-01T00:00:00", "6f1c2f4e-7a53-4c57-9d51-0d3c7c0b2a11"],  # no timezone
    ["yesterday", "6f1c2f4e-7a53-4c57-9d51-0d3c7c0b2a11"],
    ["2026-01-01T00:00:00+00:00", "not-a-uuid"],
    ["2026-01-01T00:00:00+00:00"],
    ["2026-01-01T00:00:00+00:00", "6f1c2f4e-7a53-4c57-9d51-0d3c7c0b2a11", 1],
    [None, None],
    [["2026-01-01T00:00:00+00:00"], {"id": 1}],
]


async def test_a_forged_cursor_is_bad_user_input(client):
    viewer = await register(client, buyer=True)
    for key in FORGED_KEYS:
        after = base64.urlsafe_b64encode(json.dumps(["NEWEST", *key]).encode()).decode()
        body = await gql(client, ORDERS, {"after": after}, token=viewer.token, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", key


PEOPLE = """
query Order($id: ID!) {
  order(id: $id) {
    placedBy { email company { id } memberRole }
    history { by { email company { id } memberRole } }
  }
}
"""


async def test_acting_users_are_shown_to_both_parties_with_their_company(client, services):
    shop, buyer, order = await deal(client, services)
    assert (await move(client, shop.seller, order["id"], "CONFIRMED"))["userErrors"] == []

    seen_by_seller = await gql(client, PEOPLE, {"id": order["id"]}, token=shop.seller.token)
    seen = seen_by_seller["data"]["order"]
    assert seen["placedBy"] == {
        "email": buyer.email,
        "company": {"id": buyer.company_id},
        "memberRole": None,
    }
    assert [event["by"]["company"]["id"] for event in seen["history"]] == [
        buyer.company_id,
        shop.seller.company_id,
    ]
    seen_by_buyer = await gql(client, PEOPLE, {"id": order["id"]}, token=buyer.token)
    assert seen_by_buyer["data"]["order"]["placedBy"]["memberRole"] is not None

    # A user who now belongs to neither party: the order keeps who placed it (the contract's
    # placedBy is non-null) without their new company; history shows nobody.
    elsewhere = await register(client, buyer=True)
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Membership)
            .where(Membership.user_id == key_of(buyer.user_id, "User"))
            .values(company_id=key_of(elsewhere.company_id, "Company"))
        )
    hidden = (await gql(client, PEOPLE, {"id": order["id"]}, token=shop.seller.token))["data"]
    assert hidden["order"]["placedBy"] == {
        "email": buyer.email,
        "company": None,
        "memberRole": None,
    }
    assert hidden["order"]["history"][0]["by"] is None
