"""Checkout over HTTP: orders per seller, pricing, refusals that write nothing, idempotency,
order numbers and the race for the last units."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from db.models import (
    CartLine,
    Checkout,
    Order,
    OrderEvent,
    OrderLine,
    OutboxEvent,
    Product,
    ProductVariant,
    StockLevel,
    StockReservation,
)
from domain.catalog import ProductStatus
from resolvers.global_ids import key_of
from tests.support import (
    Account,
    add_category_tree,
    create_product,
    gql,
    register,
    set_fx_rate,
    variant_input,
)

ADDRESS = {
    "name": "Dock 4",
    "line1": "1 Harbour Rd",
    "city": "Hamburg",
    "postalCode": "20457",
    "country": "DE",
}
ORDER_FIELDS = """
id number status paymentStatus currency
subtotal { amount currency } total { amount currency }
buyer { name } seller { name } placedBy { email }
lines { sku quantity unitPrice { amount currency } lineTotal { amount } variant { sku } }
history { status by { email } note }
shippingAddress { city postalCode country }
"""
CHECKOUT = f"""
mutation Checkout($input: CheckoutInput!) {{
  checkout(input: $input) {{ orders {{ {ORDER_FIELDS} }} userErrors {{ field message code }} }}
}}
"""
ADD = """
mutation Add($variant: ID!, $quantity: Int!) {
  addToCart(variantId: $variant, quantity: $quantity) { userErrors { field message code } }
}
"""
CART = "{ cart { lines { quantity variant { sku } } } }"
AVAILABLE = """
query Available($id: ID!) { node(id: $id) { ... on ProductVariant { availableQuantity } } }
"""
ORDER_NUMBER = re.compile(r"^ORD-\d{4}-\d{6}$")


# --- helpers (also used by test_orders.py) --------------------------------------------------


@dataclass
class Offer:
    """A seller and its products' variants (global IDs)."""

    seller: Account
    variants: list[str]


async def offer(
    client: httpx.AsyncClient,
    services: Any,
    *,
    products: int = 1,
    stock: int | None = 100,
    tiers: list[tuple[int, str]] | None = None,
    currency: str = "EUR",
    country: str = "DE",
    seller: Account | None = None,
) -> Offer:
    categories = await add_category_tree(services)
    seller = seller or await register(client, seller=True, currency=currency, country=country)
    variants = []
    for _ in range(products):
        product = await create_product(
            client,
            seller.token,
            categories["root"],
            variants=[variant_input(currency=currency, tiers=tiers or [(1, "10.00")], stock=stock)],
        )
        variants.append(product["variants"][0]["id"])
    return Offer(seller, variants)


async def add_to_cart(
    client: httpx.AsyncClient, token: str, variant: str, quantity: int
) -> list[dict[str, Any]]:
    body = await gql(client, ADD, {"variant": variant, "quantity": quantity}, token=token)
    errors: list[dict[str, Any]] = body["data"]["addToCart"]["userErrors"]
    return errors


async def checkout(
    client: httpx.AsyncClient,
    token: str,
    *,
    key: str | None = None,
    currency: str = "EUR",
    address: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = await gql(
        client,
        CHECKOUT,
        {
            "input": {
                "shippingAddress": address or ADDRESS,
                "currency": currency,
                "idempotencyKey": key or uuid.uuid4().hex,
            }
        },
        token=token,
    )
    payload: dict[str, Any] = body["data"]["checkout"]
    return payload


async def place_order(
    client: httpx.AsyncClient, buyer: Account, lines: list[tuple[str, int]]
) -> dict[str, Any]:
    """Cart the lines and check out; the one order placed."""
    for variant, quantity in lines:
        assert await add_to_cart(client, buyer.token, variant, quantity) == []
    payload = await checkout(client, buyer.token)
    assert payload["userErrors"] == [], payload["userErrors"]
    assert len(payload["orders"]) == 1
    order: dict[str, Any] = payload["orders"][0]
    return order


def variant_key(variant: str) -> uuid.UUID:
    key = key_of(variant, "ProductVariant")
    assert key is not None
    return key


def company_key(company: str) -> uuid.UUID:
    key = key_of(company, "Company")
    assert key is not None
    return key


async def stock_of(services: Any, variant: str) -> tuple[int, int, int]:
    """(on hand, reserved, units in reservation rows) of a variant, over all warehouses."""
    key = variant_key(variant)
    async with services.sessions() as session:
        on_hand, reserved = (
            await session.execute(
                select(
                    func.coalesce(func.sum(StockLevel.on_hand), 0),
                    func.coalesce(func.sum(StockLevel.reserved), 0),
                ).where(StockLevel.variant_id == key)
            )
        ).one()
        held = await session.scalar(
            select(func.coalesce(func.sum(StockReservation.quantity), 0)).where(
                StockReservation.variant_id == key
            )
        )
    return int(on_hand), int(reserved), int(held or 0)


async def available(client: httpx.AsyncClient, variant: str, token: str) -> int:
    body = await gql(client, AVAILABLE, {"id": variant}, token=token)
    return int(body["data"]["node"]["availableQuantity"])


async def written_by(services: Any, buyer: Account) -> dict[str, int]:
    """What a buyer's checkouts have written: checkouts, orders, lines, events, outbox rows."""
    company = company_key(buyer.company_id)
    user = key_of(buyer.user_id, "User")
    orders = select(Order.id).where(Order.buyer_id == company).scalar_subquery()
    async with services.sessions() as session:
        counts = {
            "checkouts": select(func.count()).select_from(Checkout).where(Checkout.user_id == user),
            "orders": select(func.count()).select_from(Order).where(Order.buyer_id == company),
            "lines": select(func.count())
            .select_from(OrderLine)
            .where(OrderLine.order_id.in_(orders)),
            "events": select(func.count())
            .select_from(OrderEvent)
            .where(OrderEvent.order_id.in_(orders)),
            "outbox": select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.payload["buyerId"].astext == str(company)),
        }
        return {name: int(await session.scalar(query) or 0) for name, query in counts.items()}


NOTHING = {"checkouts": 0, "orders": 0, "lines": 0, "events": 0, "outbox": 0}


async def cart_lines(client: httpx.AsyncClient, buyer: Account) -> list[tuple[str, int]]:
    body = await gql(client, CART, token=buyer.token)
    return [(line["variant"]["sku"], line["quantity"]) for line in body["data"]["cart"]["lines"]]


async def register_many(app: Any, count: int, *, batch: int = 20) -> list[Account]:
    """Buyers registered concurrently, from an address of their own so that the run's shared
    registration allowance (per client address) is not spent on them."""
    transport = httpx.ASGITransport(app=app, client=(f"10.9.{uuid.uuid4().int % 250}.1", 4000))
    accounts: list[Account] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for start in range(0, count, batch):
            accounts += await asyncio.gather(
                *(register(http, buyer=True) for _ in range(min(batch, count - start)))
            )
    return accounts


# --- placing orders --------------------------------------------------------------------------


async def test_one_order_per_seller_priced_by_tier(client, services):
    first = await offer(client, services, products=2, tiers=[(1, "5.00"), (10, "4.00")])
    second = await offer(client, services, tiers=[(1, "7.50")])
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, first.variants[0], 10) == []  # tier 4.00
    assert await add_to_cart(client, buyer.token, second.variants[0], 3) == []
    assert await add_to_cart(client, buyer.token, first.variants[1], 2) == []  # tier 5.00

    payload = await checkout(client, buyer.token)

    assert payload["userErrors"] == []
    orders = {order["seller"]["name"]: order for order in payload["orders"]}
    assert set(orders) == {f"Company {first.seller.email}", f"Company {second.seller.email}"}
    one, two = orders[f"Company {first.seller.email}"], orders[f"Company {second.seller.email}"]
    assert [(line["quantity"], line["unitPrice"]["amount"]) for line in one["lines"]] == [
        (10, "4.00"),
        (2, "5.00"),
    ]
    assert [line["lineTotal"]["amount"] for line in one["lines"]] == ["40.00", "10.00"]
    assert one["subtotal"] == one["total"] == {"amount": "50.00", "currency": "EUR"}
    assert two["subtotal"] == {"amount": "22.50", "currency": "EUR"}
    for order in (one, two):
        assert ORDER_NUMBER.match(order["number"])
        assert (order["status"], order["paymentStatus"], order["currency"]) == (
            "PLACED",
            "UNPAID",
            "EUR",
        )
        assert order["buyer"]["name"] == f"Company {buyer.email}"
        assert order["placedBy"]["email"] == buyer.email
        assert order["history"] == [
            {"status": "PLACED", "by": {"email": buyer.email}, "note": None}
        ]
        assert order["shippingAddress"] == {
            "city": "Hamburg",
            "postalCode": "20457",
            "country": "DE",
        }
    assert await cart_lines(client, buyer) == []
    assert await available(client, first.variants[0], buyer.token) == 90
    assert await stock_of(services, first.variants[1]) == (100, 2, 2)

    async with services.sessions() as session:
        outbox = (
            await session.execute(
                select(OutboxEvent.channel, OutboxEvent.kind, OutboxEvent.payload).where(
                    OutboxEvent.channel.in_(
                        [f"order:{key_of(order['id'], 'Order')}" for order in (one, two)]
                    )
                )
            )
        ).all()
    assert sorted((row.channel, row.kind, row.payload["status"]) for row in outbox) == sorted(
        (f"order:{key_of(order['id'], 'Order')}", "ORDER_STATUS_CHANGED", "PLACED")
        for order in (one, two)
    )
    assert all(row.payload["previousStatus"] is None for row in outbox)
    assert await written_by(services, buyer) == {
        "checkouts": 1,
        "orders": 2,
        "lines": 3,
        "events": 2,
        "outbox": 2,
    }


async def test_lines_are_converted_at_the_latest_rate_which_each_line_records(client, services):
    czk = await offer(client, services, currency="CZK", country="CZ", tiers=[(1, "10.00")])
    await set_fx_rate(services, "CZK", "HUF", "16.125")
    buyer = await register(client, buyer=True, currency="HUF", country="HU")
    assert await add_to_cart(client, buyer.token, czk.variants[0], 3) == []

    payload = await checkout(client, buyer.token, currency="HUF")

    assert payload["userErrors"] == []
    (order,) = payload["orders"]
    assert order["currency"] == "HUF"
    assert order["lines"][0]["unitPrice"] == {"amount": "161.25", "currency": "HUF"}
    assert order["total"] == {"amount": "483.75", "currency": "HUF"}
    async with services.sessions() as session:
        line = (
            await session.execute(
                select(
                    OrderLine.fx_rate,
                    OrderLine.source_currency,
                    OrderLine.source_unit_price_minor,
                    OrderLine.unit_price_minor,
                ).where(OrderLine.order_id == key_of(order["id"], "Order"))
            )
        ).one()
        recorded = (
            await session.execute(
                select(Order.fx_base, Order.fx_rate).where(Order.id == key_of(order["id"], "Order"))
            )
        ).one()
    assert tuple(line) == (Decimal("16.125"), "CZK", 1000, 16125)
    assert tuple(recorded) == ("CZK", Decimal("16.125"))


# --- refusals: a user error, and nothing written ----------------------------------------------


async def test_a_currency_without_a_rate_path_is_refused(client, services):
    # MNT and BND: no test gives them a rate, directly or through USD.
    mnt = await offer(client, services, currency="MNT", country="MN")
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, mnt.variants[0], 2) == []

    payload = await checkout(client, buyer.token, currency="BND")

    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "currency"], "INVALID")
    ]
    assert await written_by(services, buyer) == NOTHING
    assert await stock_of(services, mnt.variants[0]) == (100, 0, 0)
    assert len(await cart_lines(client, buyer)) == 1


async def test_an_empty_cart_cannot_be_checked_out(client, services):
    buyer = await register(client, buyer=True)
    payload = await checkout(client, buyer.token)
    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["cart"], "INVALID")]
    assert await written_by(services, buyer) == NOTHING


async def test_a_line_breaking_its_quantity_rules_is_refused_at_its_path(client, services):
    shop = await offer(client, services, products=2)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 5) == []
    assert await add_to_cart(client, buyer.token, shop.variants[1], 2) == []
    # The seller raises the minimum after the buyer carted 2.
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.id == variant_key(shop.variants[1]))
            .values(minimum_order_quantity=5)
        )

    payload = await checkout(client, buyer.token)

    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["cart", "lines", "1", "quantity"], "BELOW_MINIMUM_QUANTITY")
    ]
    assert await written_by(services, buyer) == NOTHING
    assert await stock_of(services, shop.variants[0]) == (100, 0, 0)
    assert len(await cart_lines(client, buyer)) == 2


async def test_an_archived_product_in_the_cart_is_refused(client, services):
    shop = await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 1) == []
    async with services.sessions() as session, session.begin():
        product_id = await session.scalar(
            select(ProductVariant.product_id).where(
                ProductVariant.id == variant_key(shop.variants[0])
            )
        )
        await session.execute(
            update(Product).where(Product.id == product_id).values(status=ProductStatus.ARCHIVED)
        )

    payload = await checkout(client, buyer.token)

    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["cart", "lines", "0", "variantId"], "INVALID")
    ]
    assert await written_by(services, buyer) == NOTHING
    assert len(await cart_lines(client, buyer)) == 1


async def test_out_of_stock_reserves_nothing_and_keeps_the_cart(client, services):
    plenty = await offer(client, services)
    scarce = await offer(client, services, stock=5)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, plenty.variants[0], 3) == []
    assert await add_to_cart(client, buyer.token, scarce.variants[0], 6) == []

    payload = await checkout(client, buyer.token)

    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["cart", "lines", "1", "quantity"], "OUT_OF_STOCK")
    ]
    assert await written_by(services, buyer) == NOTHING
    # All or nothing: the line that was in stock reserved nothing either.
    assert await stock_of(services, plenty.variants[0]) == (100, 0, 0)
    assert await stock_of(services, scarce.variants[0]) == (5, 0, 0)
    assert len(await cart_lines(client, buyer)) == 2


@pytest.mark.parametrize(
    ("change", "paths"),
    [
        ({"address": {"city": "   "}}, [["input", "shippingAddress", "city"]]),
        ({"address": {"postalCode": "1" * 21}}, [["input", "shippingAddress", "postalCode"]]),
        (
            {"address": {"city": "", "postalCode": "9" * 21}},
            [["input", "shippingAddress", "city"], ["input", "shippingAddress", "postalCode"]],
        ),
        ({"key": "   "}, [["input", "idempotencyKey"]]),
        ({"key": "k" * 201}, [["input", "idempotencyKey"]]),
    ],
)
async def test_bad_input_is_refused_with_paths(client, services, change, paths):
    shop = await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 1) == []

    payload = await checkout(
        client,
        buyer.token,
        key=change.get("key"),
        address={**ADDRESS, **change.get("address", {})},
    )

    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (path, "INVALID") for path in paths
    ]
    assert await written_by(services, buyer) == NOTHING
    assert await stock_of(services, shop.variants[0]) == (100, 0, 0)
    assert len(await cart_lines(client, buyer)) == 1


async def test_a_200_character_key_is_accepted(client, services):
    shop = await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 1) == []
    payload = await checkout(client, buyer.token, key="k" * 200)
    assert payload["userErrors"] == [] and len(payload["orders"]) == 1


async def test_an_unknown_currency_code_is_bad_user_input(client, services):
    buyer = await register(client, buyer=True)
    body = await gql(
        client,
        CHECKOUT,
        {"input": {"shippingAddress": ADDRESS, "currency": "XYZ", "idempotencyKey": "k"}},
        token=buyer.token,
        expect_errors=True,
    )
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await written_by(services, buyer) == NOTHING


async def test_only_buyers_check_out(client, services):
    shop = await offer(client, services)
    variables = {"input": {"shippingAddress": ADDRESS, "currency": "EUR", "idempotencyKey": "k"}}
    body = await gql(client, CHECKOUT, variables, token=shop.seller.token, expect_errors=True)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(client, CHECKOUT, variables, expect_errors=True)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- idempotency -----------------------------------------------------------------------------


async def test_the_same_key_returns_the_same_orders_and_creates_nothing(client, services):
    first, second = await offer(client, services), await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, first.variants[0], 2) == []
    assert await add_to_cart(client, buyer.token, second.variants[0], 1) == []
    key = uuid.uuid4().hex

    placed = await checkout(client, buyer.token, key=key)
    written = await written_by(services, buyer)
    # The cart is empty now, yet the retry answers with the orders the key placed.
    again = await checkout(client, buyer.token, key=key)

    assert len(placed["orders"]) == 2
    assert again["userErrors"] == []
    assert sorted(o["id"] for o in again["orders"]) == sorted(o["id"] for o in placed["orders"])
    assert await written_by(services, buyer) == written
    assert await stock_of(services, first.variants[0]) == (100, 2, 2)
    # A new key with the cart empty is a new (refused) attempt.
    fresh = await checkout(client, buyer.token)
    assert [e["field"] for e in fresh["userErrors"]] == [["cart"]]


async def test_two_identical_checkouts_racing_create_one_set_of_orders(client, services):
    first, second = await offer(client, services), await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, first.variants[0], 2) == []
    assert await add_to_cart(client, buyer.token, second.variants[0], 1) == []
    key = uuid.uuid4().hex

    results = await asyncio.gather(*(checkout(client, buyer.token, key=key) for _ in range(4)))

    ids = [sorted(order["id"] for order in result["orders"]) for result in results]
    assert all(result["userErrors"] == [] for result in results), results
    assert len(ids[0]) == 2 and all(found == ids[0] for found in ids)
    assert await written_by(services, buyer) == {
        "checkouts": 1,
        "orders": 2,
        "lines": 2,
        "events": 2,
        "outbox": 2,
    }
    assert await stock_of(services, first.variants[0]) == (100, 2, 2)


async def test_a_key_refused_for_stock_works_once_stock_exists(client, services):
    shop = await offer(client, services, stock=1)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 3) == []
    key = uuid.uuid4().hex
    refused = await checkout(client, buyer.token, key=key)
    assert [e["code"] for e in refused["userErrors"]] == ["OUT_OF_STOCK"]

    body = await gql(
        client,
        "mutation($v: ID!) { setStock(variantId: $v, quantity: 10) { userErrors { code } } }",
        {"v": shop.variants[0]},
        token=shop.seller.token,
    )
    assert body["data"]["setStock"]["userErrors"] == []
    placed = await checkout(client, buyer.token, key=key)

    assert placed["userErrors"] == []
    assert [line["quantity"] for line in placed["orders"][0]["lines"]] == [3]
    assert await stock_of(services, shop.variants[0]) == (10, 3, 3)
    assert (await written_by(services, buyer))["orders"] == 1


# --- concurrency ---------------------------------------------------------------------------


async def test_order_numbers_are_unique_and_well_formed_under_concurrency(client, services, app):
    shop = await offer(client, services)
    buyers = await register_many(app, 20)
    for buyer in buyers:
        assert await add_to_cart(client, buyer.token, shop.variants[0], 1) == []

    results = await asyncio.gather(*(checkout(client, buyer.token) for buyer in buyers))

    numbers = [result["orders"][0]["number"] for result in results]
    assert len(set(numbers)) == 20
    assert all(ORDER_NUMBER.match(number) for number in numbers), numbers
    assert {number[4:8] for number in numbers} == {str(datetime.now(UTC).year)}
    assert await stock_of(services, shop.variants[0]) == (100, 20, 20)


async def test_200_buyers_racing_for_the_last_10_units_buy_exactly_10(client, services, app):
    shop = await offer(client, services, stock=10)
    variant = shop.variants[0]
    buyers = await register_many(app, 200)
    for start in range(0, 200, 20):
        errors = await asyncio.gather(
            *(add_to_cart(client, buyer.token, variant, 1) for buyer in buyers[start : start + 20])
        )
        assert all(found == [] for found in errors)

    results = await asyncio.gather(*(checkout(client, buyer.token) for buyer in buyers))

    won = [buyer for buyer, result in zip(buyers, results, strict=True) if result["orders"]]
    lost = [buyer for buyer, result in zip(buyers, results, strict=True) if not result["orders"]]
    assert len(won) == 10
    assert all(
        [(e["field"], e["code"]) for e in result["userErrors"]]
        == [(["cart", "lines", "0", "quantity"], "OUT_OF_STOCK")]
        for result in results
        if not result["orders"]
    )
    assert await stock_of(services, variant) == (10, 10, 10)
    assert await available(client, variant, buyers[0].token) == 0
    async with services.sessions() as session:
        sold = await session.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(
                OrderLine.variant_id == variant_key(variant)
            )
        )
        kept = await session.scalar(
            select(func.count())
            .select_from(CartLine)
            .where(CartLine.variant_id == variant_key(variant))
        )
    assert sold == 10
    assert kept == 190  # each of the 190 still has its line
    assert await cart_lines(client, lost[0]) == await cart_lines(client, lost[-1])
    assert len(await cart_lines(client, lost[0])) == 1
    assert await cart_lines(client, won[0]) == []


async def test_a_price_that_converts_to_less_than_a_minor_unit_is_refused(client, services):
    # 0.01 PLN at 0.4 ISK (no minor unit) is 0.004 ISK: nothing can be charged for it.
    pln = await offer(client, services, currency="PLN", country="PL", tiers=[(1, "0.01")])
    await set_fx_rate(services, "PLN", "ISK", "0.4")
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, pln.variants[0], 1) == []

    payload = await checkout(client, buyer.token, currency="ISK")

    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "currency"], "INVALID")
    ]
    assert await written_by(services, buyer) == NOTHING


# --- one rule for line money, and its bounds -------------------------------------------------

SUBTOTAL = (
    "query Subtotal($c: CurrencyCode) { cart { subtotal(currency: $c) { amount currency } } }"
)


async def test_the_cart_subtotal_in_a_currency_is_what_checkout_charges_in_it(client, services):
    # 0.01 NOK at 1.08 DKK is 0.01 DKK (half-even): 1000 units are 10.00 DKK, in the cart too.
    nok = await offer(
        client, services, currency="NOK", country="NO", tiers=[(1, "0.01")], stock=1000
    )
    await set_fx_rate(services, "NOK", "DKK", "1.08")
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, nok.variants[0], 1000) == []
    body = await gql(client, SUBTOTAL, {"c": "DKK"}, token=buyer.token)

    payload = await checkout(client, buyer.token, currency="DKK")

    assert payload["userErrors"] == []
    (order,) = payload["orders"]
    assert (
        body["data"]["cart"]["subtotal"] == order["total"] == {"amount": "10.00", "currency": "DKK"}
    )
    assert order["lines"][0]["lineTotal"] == {"amount": "10.00"}


async def test_a_line_too_costly_once_converted_is_refused_at_its_path(client, services):
    # 5000 x 1,000,000,000.00 SEK is within the bounds; at 10 NOK a SEK it is 5 x 10^15 øre.
    sek = await offer(
        client, services, currency="SEK", country="SE", tiers=[(1, "1000000000.00")], stock=5000
    )
    await set_fx_rate(services, "SEK", "NOK", "10")
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, sek.variants[0], 5000) == []

    payload = await checkout(client, buyer.token, currency="NOK")

    assert payload["orders"] == []
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["cart", "lines", "0", "quantity"], "INVALID")
    ]
    assert await written_by(services, buyer) == NOTHING
    assert await stock_of(services, sek.variants[0]) == (5000, 0, 0)


# --- idempotency keys reused for another checkout --------------------------------------------


async def test_a_genuine_retry_with_the_emptied_cart_returns_the_same_orders(client, services):
    shop = await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 2) == []
    key = uuid.uuid4().hex
    placed = await checkout(client, buyer.token, key=key)
    written = await written_by(services, buyer)

    again = await checkout(client, buyer.token, key=key, address={**ADDRESS, "city": " Hamburg "})

    assert again["userErrors"] == []
    assert [o["id"] for o in again["orders"]] == [o["id"] for o in placed["orders"]]
    assert await written_by(services, buyer) == written


async def test_a_key_reused_with_another_currency_is_a_conflict(client, services):
    shop = await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 2) == []
    key = uuid.uuid4().hex
    assert (await checkout(client, buyer.token, key=key))["userErrors"] == []
    written = await written_by(services, buyer)

    again = await checkout(client, buyer.token, key=key, currency="SEK")

    assert again["orders"] == []
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [
        (["input", "idempotencyKey"], "CONFLICT")
    ]
    assert await written_by(services, buyer) == written


async def test_a_key_reused_for_new_items_is_a_conflict_and_keeps_the_cart(client, services):
    first, second = await offer(client, services), await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, first.variants[0], 2) == []
    key = uuid.uuid4().hex
    assert (await checkout(client, buyer.token, key=key))["userErrors"] == []
    written = await written_by(services, buyer)
    assert await add_to_cart(client, buyer.token, second.variants[0], 3) == []

    again = await checkout(client, buyer.token, key=key)

    assert again["orders"] == []
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [
        (["input", "idempotencyKey"], "CONFLICT")
    ]
    assert await written_by(services, buyer) == written
    assert len(await cart_lines(client, buyer)) == 1
    assert await stock_of(services, second.variants[0]) == (100, 0, 0)
