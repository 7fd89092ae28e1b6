"""The cart over HTTP: pricing, quantity rules, ownership, concurrency and batching."""

import asyncio
import uuid

import pytest
from sqlalchemy import func, select, update

from db.models import CartLine, ProductVariant
from resolvers.global_ids import key_of
from tests.support import (
    add_category_tree,
    create_product,
    gql,
    register,
    set_fx_rate,
    variant_input,
)

CART = """
query Cart($currency: CurrencyCode) {
  cart {
    id
    lines {
      id quantity variant { sku } unitPrice { amount currency } lineTotal { amount currency }
    }
    subtotal(currency: $currency) { amount currency }
  }
}
"""
LINE_FIELDS = "cart { lines { id quantity variant { sku } unitPrice { amount } } }"
ADD = f"""
mutation Add($variant: ID!, $quantity: Int!) {{
  addToCart(variantId: $variant, quantity: $quantity) {{
    {LINE_FIELDS} userErrors {{ field message code }}
  }}
}}
"""
UPDATE = f"""
mutation Update($line: ID!, $quantity: Int!) {{
  updateCartLine(lineId: $line, quantity: $quantity) {{
    {LINE_FIELDS} userErrors {{ field message code }}
  }}
}}
"""
CLEAR = "mutation { clearCart { cart { lines { id } } userErrors { code } } }"


@pytest.fixture
async def catalog(client, services):
    """A seller (EUR) with a tiered variant (MOQ 10, steps of 5) and a buyer."""
    categories = await add_category_tree(services)
    seller = await register(client, seller=True, currency="EUR")
    sku = f"CART-{uuid.uuid4().hex[:8]}"
    product = await create_product(
        client,
        seller.token,
        categories["root"],
        variants=[variant_input(sku, moq=10, tiers=[(10, "4.00"), (50, "3.50")], stock=500)],
    )
    variant = product["variants"][0]["id"]
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.id == key_of(variant, "ProductVariant"))
            .values(order_increment=5, maximum_order_quantity=200)
        )
    buyer = await register(client, buyer=True, currency="EUR")
    return {
        "seller": seller,
        "buyer": buyer,
        "variant": variant,
        "sku": sku,
        "categories": categories,
    }


async def add(client, token, variant, quantity):
    body = await gql(client, ADD, {"variant": variant, "quantity": quantity}, token=token)
    return body["data"]["addToCart"]


async def line_count(services):
    async with services.sessions() as session:
        return await session.scalar(select(func.count()).select_from(CartLine))


async def test_an_empty_cart_has_an_id_and_no_lines(client, catalog):
    body = await gql(client, CART, token=catalog["buyer"].token)
    cart = body["data"]["cart"]
    assert cart["id"] and cart["lines"] == []
    assert cart["subtotal"] == {"amount": "0.00", "currency": "EUR"}


async def test_lines_are_priced_by_tier_and_adding_again_increments(client, catalog):
    buyer = catalog["buyer"]
    payload = await add(client, buyer.token, catalog["variant"], 10)
    assert payload["userErrors"] == []
    assert [
        (line["quantity"], line["unitPrice"]["amount"]) for line in payload["cart"]["lines"]
    ] == [(10, "4.00")]
    payload = await add(client, buyer.token, catalog["variant"], 40)
    assert [
        (line["quantity"], line["unitPrice"]["amount"]) for line in payload["cart"]["lines"]
    ] == [(50, "3.50")]
    cart = (await gql(client, CART, token=buyer.token))["data"]["cart"]
    assert cart["lines"][0]["lineTotal"] == {"amount": "175.00", "currency": "EUR"}
    assert cart["subtotal"] == {"amount": "175.00", "currency": "EUR"}


@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        (5, "BELOW_MINIMUM_QUANTITY"),
        (12, "INVALID_QUANTITY_INCREMENT"),
        (205, "ABOVE_MAXIMUM_QUANTITY"),
        (0, "INVALID"),
        (-4, "INVALID"),
    ],
)
async def test_quantity_rules_refuse_and_write_nothing(client, services, catalog, quantity, code):
    before = await line_count(services)
    payload = await add(client, catalog["buyer"].token, catalog["variant"], quantity)
    assert payload["cart"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["quantity"], code)]
    assert await line_count(services) == before


async def test_the_rules_apply_to_the_lines_new_total(client, catalog):
    buyer = catalog["buyer"]
    await add(client, buyer.token, catalog["variant"], 195)
    payload = await add(client, buyer.token, catalog["variant"], 10)
    assert payload["userErrors"][0]["code"] == "ABOVE_MAXIMUM_QUANTITY"
    assert "already has 195" in payload["userErrors"][0]["message"]


async def test_variants_that_cannot_be_bought(client, catalog):
    seller, buyer = catalog["seller"], catalog["buyer"]
    draft = await create_product(
        client, seller.token, catalog["categories"]["root"], status="DRAFT"
    )
    archived = await create_product(
        client, seller.token, catalog["categories"]["root"], status="ARCHIVED"
    )
    cases = [
        ("UHJvZHVjdFZhcmlhbnQ6bm90LWEtdXVpZA==", "NOT_FOUND"),
        ("garbage", "NOT_FOUND"),
        (draft["variants"][0]["id"], "NOT_FOUND"),
        (archived["variants"][0]["id"], "INVALID"),
    ]
    for variant, code in cases:
        payload = await add(client, buyer.token, variant, 10)
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["variantId"], code)]


async def test_a_company_cannot_buy_its_own_products(client, catalog):
    both = await register(client, seller=True, buyer=True)
    own = await create_product(client, both.token, catalog["categories"]["root"])
    payload = await add(client, both.token, own["variants"][0]["id"], 1)
    assert payload["userErrors"][0]["code"] == "INVALID"


async def test_update_sets_and_zero_removes_a_line(client, catalog):
    buyer = catalog["buyer"]
    line = (await add(client, buyer.token, catalog["variant"], 10))["cart"]["lines"][0]
    body = await gql(client, UPDATE, {"line": line["id"], "quantity": 60}, token=buyer.token)
    assert body["data"]["updateCartLine"]["cart"]["lines"][0]["quantity"] == 60
    body = await gql(client, UPDATE, {"line": line["id"], "quantity": 61}, token=buyer.token)
    assert body["data"]["updateCartLine"]["userErrors"][0]["code"] == "INVALID_QUANTITY_INCREMENT"
    body = await gql(client, UPDATE, {"line": line["id"], "quantity": 0}, token=buyer.token)
    assert body["data"]["updateCartLine"]["cart"]["lines"] == []


async def test_another_buyers_line_reads_as_not_found(client, catalog):
    line = (await add(client, catalog["buyer"].token, catalog["variant"], 10))["cart"]["lines"][0]
    other = await register(client, buyer=True)
    body = await gql(client, UPDATE, {"line": line["id"], "quantity": 0}, token=other.token)
    assert body["data"]["updateCartLine"]["userErrors"][0]["code"] == "NOT_FOUND"
    mine = (await gql(client, CART, token=catalog["buyer"].token))["data"]["cart"]
    assert [item["id"] for item in mine["lines"]] == [line["id"]]


async def test_clear_cart(client, catalog):
    buyer = catalog["buyer"]
    await add(client, buyer.token, catalog["variant"], 10)
    body = await gql(client, CLEAR, token=buyer.token)
    assert body["data"]["clearCart"]["cart"]["lines"] == []


async def test_only_buyers_have_carts(client, catalog):
    body = await gql(client, CART, token=catalog["seller"].token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(client, CART, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_lines_of_several_sellers_sum_in_the_requested_currency(client, services, catalog):
    buyer = catalog["buyer"]
    usd_seller = await register(client, seller=True, country="US", currency="USD")
    usd = await create_product(
        client,
        usd_seller.token,
        catalog["categories"]["root"],
        variants=[variant_input(currency="USD", tiers=[(1, "3.00")])],
    )
    await set_fx_rate(services, "USD", "EUR", "0.8")  # the latest rate: 1 EUR = 1.25 USD
    await add(client, buyer.token, catalog["variant"], 10)  # 40.00 EUR
    await add(client, buyer.token, usd["variants"][0]["id"], 3)  # 9.00 USD
    cart = (await gql(client, CART, {"currency": "USD"}, token=buyer.token))["data"]["cart"]
    assert [line["lineTotal"] for line in cart["lines"]] == [
        {"amount": "40.00", "currency": "EUR"},
        {"amount": "9.00", "currency": "USD"},
    ]
    assert cart["subtotal"] == {"amount": "59.00", "currency": "USD"}
    # Without a currency: the buyer company's own (EUR): 40.00 + 9.00 / 1.25.
    cart = (await gql(client, CART, token=buyer.token))["data"]["cart"]
    assert cart["subtotal"] == {"amount": "47.20", "currency": "EUR"}


async def test_concurrent_adds_are_not_lost(client, catalog):
    buyer = catalog["buyer"]
    await add(client, buyer.token, catalog["variant"], 10)
    await asyncio.gather(*(add(client, buyer.token, catalog["variant"], 5) for _ in range(8)))
    cart = (await gql(client, CART, token=buyer.token))["data"]["cart"]
    assert cart["lines"][0]["quantity"] == 50


async def test_reading_the_cart_costs_the_same_statements_for_2_and_12_lines(
    client, catalog, statement_counter
):
    seller, categories = catalog["seller"], catalog["categories"]

    async def cart_statements(lines: int) -> int:
        buyer = await register(client, buyer=True)
        for _ in range(lines):
            product = await create_product(client, seller.token, categories["root"])
            await add(client, buyer.token, product["variants"][0]["id"], 1)
        statement_counter.reset()
        body = await gql(client, CART, token=buyer.token)
        statement_counter.active = False
        assert len(body["data"]["cart"]["lines"]) == lines
        return statement_counter.count

    assert await cart_statements(2) == await cart_statements(12)


async def test_lines_above_the_money_bounds_are_refused_and_nothing_is_written(client, services):
    categories = await add_category_tree(services)
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    product = await create_product(
        client,
        seller.token,
        categories["root"],
        variants=[variant_input(tiers=[(1, "1000000000.00")])],
    )
    variant = product["variants"][0]["id"]
    # 10^8 units of 10^11 cents would overflow a bigint; the bound is 10^15 minor units.
    refused = await add(client, buyer.token, variant, 10**8)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["quantity"], "INVALID")]
    assert (await gql(client, CART, token=buyer.token))["data"]["cart"]["lines"] == []

    added = await add(client, buyer.token, variant, 10_000)  # 10^15 cents: at the bound
    assert added["userErrors"] == []
    line = added["cart"]["lines"][0]["id"]
    assert (await add(client, buyer.token, variant, 1))["userErrors"][0]["field"] == ["quantity"]
    body = await gql(client, UPDATE, {"line": line, "quantity": 10_001}, token=buyer.token)
    payload = body["data"]["updateCartLine"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["quantity"], "INVALID")]
    cart = (await gql(client, CART, token=buyer.token))["data"]["cart"]
    assert [entry["quantity"] for entry in cart["lines"]] == [10_000]
