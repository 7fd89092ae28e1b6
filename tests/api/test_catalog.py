"""Catalog API: product writes and their validation, visibility, listing, prices, categories.

The database is shared by every test of a run: each test makes its own sellers (and category
tree where it matters) and narrows listings to them. FX pairs set here are ones no other test
prices in (CHF, GBP, JPY, KWD); ISK never gets a rate, so it has no conversion path.
"""

from __future__ import annotations

import asyncio
import base64
import random
import string
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from db.models import Product, ProductVariant, Warehouse
from domain.money import currency_exponent
from domain.text import slugify
from resolvers.global_ids import key_of, to_global_id
from tests.support import (
    CREATE_PRODUCT,
    Account,
    add_category_tree,
    create_product,
    gql,
    register,
    set_fx_rate,
    variant_input,
)

LIST = """
query List(
  $first: Int, $after: String, $last: Int, $before: String,
  $filter: ProductFilter, $sort: ProductSort, $currency: CurrencyCode
) {
  products(
    first: $first, after: $after, last: $last, before: $before,
    filter: $filter, sortBy: $sort, currency: $currency
  ) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name status } }
  }
}
"""

PRODUCT = """
query One($id: ID!) {
  product(id: $id) { id name status }
  node(id: $id) { id ... on Product { name status } }
}
"""

UPDATE = """
mutation Update($id: ID!, $input: UpdateProductInput!) {
  updateProduct(id: $id, input: $input) {
    product {
      id name description status
      priceRange { min { amount currency } max { amount currency } }
      variants { id sku priceTiers { minQuantity unitPrice { amount currency } } }
    }
    userErrors { field message code }
  }
}
"""

DETAIL = """
query Detail($id: ID!) {
  product(id: $id) {
    id name description status
    priceRange { min { amount currency } max { amount currency } }
    variants { id sku priceTiers { minQuantity unitPrice { amount currency } } }
  }
}
"""

SET_STOCK = """
mutation SetStock($variantId: ID!, $quantity: Int!) {
  setStock(variantId: $variantId, quantity: $quantity) {
    variant { id sku availableQuantity }
    userErrors { field message code }
  }
}
"""

VARIANT_STOCK = """
query Stock($id: ID!) { node(id: $id) { ... on ProductVariant { availableQuantity } } }
"""


# --- helpers ---------------------------------------------------------------------------------


def word() -> str:
    """A made-up word no other product of the run contains."""
    return "".join(random.choices(string.ascii_lowercase, k=12))


def top_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


def problems(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(error["field"], error["code"]) for error in payload["userErrors"]]


async def stored_counts(services: Any, account: Account) -> tuple[int, int]:
    """(products, variants) of a seller, straight from the database."""
    seller_key = key_of(account.company_id, "Company")
    async with services.sessions() as session:
        products = await session.scalar(
            select(func.count()).select_from(Product).where(Product.seller_id == seller_key)
        )
        variants = await session.scalar(
            select(func.count())
            .select_from(ProductVariant)
            .where(ProductVariant.seller_id == seller_key)
        )
    return int(products or 0), int(variants or 0)


def product_input(category_id: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Product {word()}",
        "description": "Built for the workshop.",
        "categoryId": category_id,
        "status": "ACTIVE",
        "variants": [variant_input()],
    }
    data.update(changes)
    return data


async def create_raw(client: Any, token: str, data: dict[str, Any]) -> dict[str, Any]:
    body = await gql(client, CREATE_PRODUCT, {"input": data}, token=token)
    payload: dict[str, Any] = body["data"]["createProduct"]
    return payload


async def listing(
    client: Any, token: str | None = None, expect_errors: bool = False, **variables: Any
) -> dict[str, Any]:
    body = await gql(client, LIST, variables, token=token, expect_errors=expect_errors)
    if expect_errors:
        return body
    connection: dict[str, Any] = body["data"]["products"]
    return connection


def ids_of(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def listed_ids(client: Any, token: str | None = None, **variables: Any) -> list[str]:
    variables.setdefault("first", 100)
    return ids_of(await listing(client, token, **variables))


def money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def converted(amount: str, rate: str, currency: str) -> str:
    """What `amount` is in `currency` at `rate`: half-even to that currency's decimals."""
    step = Decimal(1).scaleb(-currency_exponent(currency))
    return str((Decimal(amount) * Decimal(rate)).quantize(step, rounding=ROUND_HALF_EVEN))


@pytest.fixture
async def cats(services: Any) -> dict[str, str]:
    return await add_category_tree(services)


@pytest.fixture
async def seller(client: Any) -> Account:
    return await register(client, seller=True)


# --- createProduct validation ----------------------------------------------------------------

V0 = ["input", "variants", "0"]
TIERS0 = [*V0, "priceTiers"]


def _two_variants_same_sku() -> list[dict[str, Any]]:
    sku = f"DUP-{uuid.uuid4().hex[:8]}"
    return [variant_input(sku), variant_input(sku)]


INVALID_INPUTS: list[Any] = [
    pytest.param(lambda c: {"name": ""}, ["input", "name"], "INVALID", id="empty-name"),
    pytest.param(lambda c: {"name": "   "}, ["input", "name"], "INVALID", id="blank-name"),
    pytest.param(
        lambda c: {"categoryId": to_global_id("Category", uuid.uuid4())},
        ["input", "categoryId"],
        "NOT_FOUND",
        id="unknown-category",
    ),
    pytest.param(
        lambda c: {"categoryId": "not-a-global-id"},
        ["input", "categoryId"],
        "NOT_FOUND",
        id="malformed-category",
    ),
    pytest.param(
        lambda c: {"categoryId": c["seller"].company_id},
        ["input", "categoryId"],
        "NOT_FOUND",
        id="category-id-of-another-type",
    ),
    pytest.param(lambda c: {"variants": []}, ["input", "variants"], "INVALID", id="no-variants"),
    pytest.param(
        lambda c: {"variants": [variant_input(moq=10, tiers=[(10, "5.00"), (5, "6.00")])]},
        [*TIERS0, "1", "minQuantity"],
        "INVALID",
        id="tier-below-moq",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(moq=5, tiers=[(10, "5.00"), (20, "4.00")])]},
        TIERS0,
        "INVALID",
        id="first-tier-not-at-moq",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(tiers=[(1, "5.00"), (10, "6.00")])]},
        TIERS0,
        "INVALID",
        id="price-rises-with-quantity",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(tiers=[(10, "6.00"), (1, "5.00")])]},
        TIERS0,
        "INVALID",
        id="price-rises-with-quantity-unordered-input",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(tiers=[(1, "0")])]},
        [*TIERS0, "0", "unitPrice"],
        "INVALID",
        id="zero-price",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(tiers=[(1, "5.00"), (10, "-1.00")])]},
        [*TIERS0, "1", "unitPrice"],
        "INVALID",
        id="negative-price",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(tiers=[(1, "10.00"), (5, "10.001")])]},
        [*TIERS0, "1", "unitPrice"],
        "INVALID",
        id="eur-three-decimals",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(currency="JPY", tiers=[(1, "10.5")])]},
        [*TIERS0, "0", "unitPrice"],
        "INVALID",
        id="jpy-decimals",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(currency="KWD", tiers=[(1, "1.0005")])]},
        [*TIERS0, "0", "unitPrice"],
        "INVALID",
        id="kwd-four-decimals",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(tiers=[(1, "5.00"), (1, "4.00")])]},
        TIERS0,
        "INVALID",
        id="duplicate-min-quantity",
    ),
    pytest.param(
        lambda c: {"variants": [{**variant_input(), "priceTiers": []}]},
        TIERS0,
        "INVALID",
        id="no-tiers",
    ),
    pytest.param(
        lambda c: {"variants": _two_variants_same_sku()},
        ["input", "variants", "1", "sku"],
        "DUPLICATE",
        id="sku-twice-in-input",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(), variant_input(currency="USD")]},
        ["input", "variants", "1", "currency"],
        "INVALID",
        id="mixed-currencies",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(stock=-1)]},
        [*V0, "stock"],
        "INVALID",
        id="negative-stock",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input(moq=0, tiers=[(0, "5.00")])]},
        [*V0, "minimumOrderQuantity"],
        "INVALID",
        id="moq-zero",
    ),
    pytest.param(
        lambda c: {"variants": [{**variant_input(), "sku": " "}]},
        [*V0, "sku"],
        "INVALID",
        id="blank-sku",
    ),
    pytest.param(
        lambda c: {"variants": [variant_input() for _ in range(101)]},
        ["input", "variants"],
        "INVALID",
        id="101-variants",
    ),
]


@pytest.mark.parametrize(("change", "field", "code"), INVALID_INPUTS)
async def test_create_product_refuses_invalid_input(
    client, services, cats, seller, change, field, code
):
    data = product_input(cats["child-b"], **change({"seller": seller}))
    payload = await create_raw(client, seller.token, data)
    assert payload["product"] is None
    assert problems(payload) == [(field, code)], payload["userErrors"]
    assert all(error["message"] for error in payload["userErrors"])
    assert await stored_counts(services, seller) == (0, 0)


async def test_create_product_accepts_100_variants(client, services, cats, seller):
    variants = [variant_input() for _ in range(100)]
    payload = await create_raw(client, seller.token, product_input(cats["root"], variants=variants))
    assert payload["userErrors"] == []
    assert len(payload["product"]["variants"]) == 100
    assert await stored_counts(services, seller) == (1, 100)


async def test_create_product_refuses_a_sku_the_seller_already_uses(client, services, cats, seller):
    sku = f"TAKEN-{uuid.uuid4().hex[:8]}"
    await create_product(client, seller.token, cats["root"], variants=[variant_input(sku)])
    data = product_input(cats["root"], variants=[variant_input(), variant_input(sku)])
    payload = await create_raw(client, seller.token, data)
    assert payload["product"] is None
    assert problems(payload) == [(["input", "variants", "1", "sku"], "DUPLICATE")]
    assert await stored_counts(services, seller) == (1, 1)


async def test_another_seller_may_reuse_a_sku(client, services, cats, seller):
    other = await register(client, seller=True)
    sku = f"SHARED-{uuid.uuid4().hex[:8]}"
    first = await create_product(client, seller.token, cats["root"], variants=[variant_input(sku)])
    second = await create_product(client, other.token, cats["root"], variants=[variant_input(sku)])
    assert first["id"] != second["id"]
    assert first["variants"][0]["sku"] == second["variants"][0]["sku"] == sku
    assert await stored_counts(services, seller) == (1, 1)
    assert await stored_counts(services, other) == (1, 1)


async def test_unsupported_currency_variable_is_a_top_level_error(client, services, cats, seller):
    data = product_input(cats["root"], variants=[variant_input(currency="XYZ")])
    body = await gql(
        client, CREATE_PRODUCT, {"input": data}, token=seller.token, expect_errors=True
    )
    assert body.get("data") is None
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    assert "XYZ" in body["errors"][0]["message"]
    assert await stored_counts(services, seller) == (0, 0)


async def test_create_product_needs_a_seller(client, cats):
    buyer = await register(client, buyer=True)
    data = product_input(cats["root"])
    body = await gql(client, CREATE_PRODUCT, {"input": data}, token=buyer.token, expect_errors=True)
    assert top_codes(body) == ["FORBIDDEN"]
    body = await gql(client, CREATE_PRODUCT, {"input": data}, expect_errors=True)
    assert top_codes(body) == ["UNAUTHENTICATED"]


# --- draft visibility ------------------------------------------------------------------------


async def test_draft_is_seen_only_by_its_seller(client, cats, seller):
    draft = await create_product(client, seller.token, cats["root"], status="DRAFT")
    variant_id = draft["variants"][0]["id"]
    other = await register(client, seller=True, buyer=True)
    await create_product(client, other.token, cats["root"], status="DRAFT")  # other's own draft

    body = await gql(client, PRODUCT, {"id": draft["id"]}, token=seller.token)
    assert body["data"]["product"] == {"id": draft["id"], "name": draft["name"], "status": "DRAFT"}
    assert body["data"]["node"] == {"id": draft["id"], "name": draft["name"], "status": "DRAFT"}
    body = await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": variant_id})
    assert body["data"]["node"] is None
    mine = await listed_ids(
        client, seller.token, filter={"status": "DRAFT", "sellerId": seller.company_id}
    )
    assert mine == [draft["id"]]
    drafts = await listed_ids(client, seller.token, filter={"status": "DRAFT"})
    assert drafts == [draft["id"]]

    for token in (other.token, None):
        body = await gql(client, PRODUCT, {"id": draft["id"]}, token=token)
        assert body["data"] == {"product": None, "node": None}
        body = await gql(
            client, "query($id: ID!) { node(id: $id) { id } }", {"id": variant_id}, token=token
        )
        assert body["data"]["node"] is None
        assert await listed_ids(client, token, filter={"sellerId": seller.company_id}) == []
    others = await listed_ids(
        client, other.token, filter={"status": "DRAFT", "sellerId": seller.company_id}
    )
    assert others == []
    assert draft["id"] not in await listed_ids(client, other.token, filter={"status": "DRAFT"})
    # Variant of one's own draft is reachable by its seller.
    body = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": variant_id}, token=seller.token
    )
    assert body["data"]["node"] == {"id": variant_id}

    body = await listing(client, None, True, first=10, filter={"status": "DRAFT"})
    assert top_codes(body) == ["BAD_USER_INPUT"]


# --- updateProduct ---------------------------------------------------------------------------


async def test_update_product_changes_fields_and_upserts_variants(client, services, cats, seller):
    old_word, new_word = word(), word()
    sku = f"UPD-{uuid.uuid4().hex[:8]}"
    product = await create_product(
        client,
        seller.token,
        cats["root"],
        name=f"Old {old_word} name",
        status="DRAFT",
        variants=[variant_input(sku, tiers=[(1, "10.00"), (10, "9.00")])],
    )
    added = f"ADD-{uuid.uuid4().hex[:8]}"
    body = await gql(
        client,
        UPDATE,
        {
            "id": product["id"],
            "input": {
                "name": f"New {new_word} name",
                "description": "Now with a longer warranty.",
                "status": "ACTIVE",
                "variants": [
                    variant_input(sku, tiers=[(1, "12.00"), (20, "7.50")]),
                    variant_input(added, tiers=[(1, "20.00")]),
                ],
            },
        },
        token=seller.token,
    )
    payload = body["data"]["updateProduct"]
    assert payload["userErrors"] == []
    updated = payload["product"]
    assert updated["name"] == f"New {new_word} name"
    assert updated["description"] == "Now with a longer warranty."
    assert updated["status"] == "ACTIVE"
    assert updated["priceRange"] == {"min": money("7.50", "EUR"), "max": money("20.00", "EUR")}
    variants = {v["sku"]: v for v in updated["variants"]}
    assert list(variants) == [sku, added]
    assert variants[sku]["id"] == product["variants"][0]["id"]  # updated in place, not replaced
    assert variants[sku]["priceTiers"] == [
        {"minQuantity": 1, "unitPrice": money("12.00", "EUR")},
        {"minQuantity": 20, "unitPrice": money("7.50", "EUR")},
    ]
    assert variants[added]["priceTiers"] == [{"minQuantity": 1, "unitPrice": money("20.00", "EUR")}]
    assert await stored_counts(services, seller) == (1, 2)

    # Now ACTIVE: public, and found by its new name only (the search document followed).
    body = await gql(client, DETAIL, {"id": product["id"]})
    assert body["data"]["product"]["priceRange"]["min"] == money("7.50", "EUR")
    mine = {"sellerId": seller.company_id}
    assert await listed_ids(client, filter={**mine, "query": new_word}) == [product["id"]]
    assert await listed_ids(client, filter={**mine, "query": old_word}) == []

    # A partial update leaves the rest alone.
    body = await gql(
        client, UPDATE, {"id": product["id"], "input": {"status": "ARCHIVED"}}, token=seller.token
    )
    payload = body["data"]["updateProduct"]
    assert payload["userErrors"] == []
    assert payload["product"]["name"] == f"New {new_word} name"
    assert payload["product"]["status"] == "ARCHIVED"
    assert len(payload["product"]["variants"]) == 2


async def test_update_product_validates_variants(client, services, cats, seller):
    product = await create_product(client, seller.token, cats["root"])
    body = await gql(
        client,
        UPDATE,
        {
            "id": product["id"],
            "input": {
                "name": " ",
                "variants": [variant_input(currency="USD"), variant_input(tiers=[(1, "0.001")])],
            },
        },
        token=seller.token,
    )
    payload = body["data"]["updateProduct"]
    assert payload["product"] is None
    assert sorted(problems(payload)) == sorted(
        [
            (["input", "name"], "INVALID"),
            (["input", "variants", "0", "currency"], "INVALID"),
            (["input", "variants", "1", "priceTiers", "0", "unitPrice"], "INVALID"),
        ]
    )
    body = await gql(client, DETAIL, {"id": product["id"]})
    assert body["data"]["product"]["name"] == product["name"]
    assert await stored_counts(services, seller) == (1, 1)


async def test_update_product_refuses_a_sku_of_another_product(client, cats, seller):
    sku = f"OTHER-{uuid.uuid4().hex[:8]}"
    await create_product(client, seller.token, cats["root"], variants=[variant_input(sku)])
    product = await create_product(client, seller.token, cats["root"])
    body = await gql(
        client,
        UPDATE,
        {"id": product["id"], "input": {"variants": [variant_input(sku)]}},
        token=seller.token,
    )
    payload = body["data"]["updateProduct"]
    assert problems(payload) == [(["input", "variants", "0", "sku"], "DUPLICATE")]
    body = await gql(client, DETAIL, {"id": product["id"]})
    assert len(body["data"]["product"]["variants"]) == 1


async def test_update_of_another_sellers_product_is_not_found(client, cats, seller):
    product = await create_product(client, seller.token, cats["root"], name=f"Mine {word()}")
    intruder = await register(client, seller=True)
    body = await gql(
        client,
        UPDATE,
        {"id": product["id"], "input": {"name": "Hijacked", "status": "ARCHIVED"}},
        token=intruder.token,
    )
    payload = body["data"]["updateProduct"]
    assert payload["product"] is None
    assert problems(payload) == [(["id"], "NOT_FOUND")]
    body = await gql(client, DETAIL, {"id": product["id"]})
    assert body["data"]["product"]["name"] == product["name"]
    assert body["data"]["product"]["status"] == "ACTIVE"

    buyer = await register(client, buyer=True)
    body = await gql(
        client,
        UPDATE,
        {"id": product["id"], "input": {"name": "Hijacked"}},
        token=buyer.token,
        expect_errors=True,
    )
    assert top_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    body = await gql(client, DETAIL, {"id": product["id"]})
    assert body["data"]["product"]["name"] == product["name"]


# --- setStock --------------------------------------------------------------------------------


async def test_set_stock_and_in_stock_filter(client, cats, seller):
    stocked = await create_product(
        client, seller.token, cats["root"], variants=[variant_input(stock=5)]
    )
    empty = await create_product(
        client, seller.token, cats["root"], variants=[variant_input(stock=None)]
    )
    stocked_variant = stocked["variants"][0]["id"]
    empty_variant = empty["variants"][0]["id"]
    mine = {"sellerId": seller.company_id}
    assert await listed_ids(client, filter={**mine, "inStock": True}) == [stocked["id"]]
    assert await listed_ids(client, filter={**mine, "inStock": False}) == [empty["id"]]

    body = await gql(
        client, SET_STOCK, {"variantId": empty_variant, "quantity": 7}, token=seller.token
    )
    payload = body["data"]["setStock"]
    assert payload["userErrors"] == []
    assert payload["variant"]["availableQuantity"] == 7
    body = await gql(
        client, SET_STOCK, {"variantId": stocked_variant, "quantity": 0}, token=seller.token
    )
    assert body["data"]["setStock"]["variant"]["availableQuantity"] == 0
    assert await listed_ids(client, filter={**mine, "inStock": True}) == [empty["id"]]
    assert await listed_ids(client, filter={**mine, "inStock": False}) == [stocked["id"]]

    body = await gql(
        client, SET_STOCK, {"variantId": empty_variant, "quantity": -1}, token=seller.token
    )
    payload = body["data"]["setStock"]
    assert payload["variant"] is None
    assert problems(payload) == [(["quantity"], "INVALID")]

    other = await register(client, seller=True)
    body = await gql(
        client, SET_STOCK, {"variantId": empty_variant, "quantity": 99}, token=other.token
    )
    payload = body["data"]["setStock"]
    assert payload["variant"] is None
    assert problems(payload) == [(["variantId"], "NOT_FOUND")]
    body = await gql(client, SET_STOCK, {"variantId": "garbage", "quantity": 1}, token=seller.token)
    assert problems(body["data"]["setStock"]) == [(["variantId"], "NOT_FOUND")]

    body = await gql(client, VARIANT_STOCK, {"id": empty_variant})
    assert body["data"]["node"]["availableQuantity"] == 7


# --- listing: search, filters ----------------------------------------------------------------


async def test_full_text_search(client, cats, seller):
    name_word, description_word = word(), word()
    by_name = await create_product(
        client, seller.token, cats["root"], name=f"Heavy {name_word} bracket"
    )
    sku = f"ZQ-{uuid.uuid4().hex[:10]}"
    by_sku = await create_product(
        client, seller.token, cats["root"], name="Plain widget", variants=[variant_input(sku)]
    )
    by_description = await create_product(
        client,
        seller.token,
        cats["root"],
        name="Plain gadget",
        description=f"Treated with a {description_word} coating against rust.",
    )
    mine = {"sellerId": seller.company_id}
    assert await listed_ids(client, filter={**mine, "query": name_word}) == [by_name["id"]]
    assert await listed_ids(client, filter={**mine, "query": name_word.upper()}) == [by_name["id"]]
    assert await listed_ids(client, filter={**mine, "query": sku}) == [by_sku["id"]]
    assert await listed_ids(client, filter={**mine, "query": sku.lower()}) == [by_sku["id"]]
    assert await listed_ids(client, filter={**mine, "query": description_word}) == [
        by_description["id"]
    ]
    assert await listed_ids(client, filter={**mine, "query": word()}) == []
    # LIKE wildcards in the text are literal characters, not patterns.
    for wildcard in ("%", "_", "P%", "Pl_in%"):
        assert await listed_ids(client, filter={**mine, "query": wildcard}) == [], wildcard
    # Blank text is no filter at all.
    assert len(await listed_ids(client, filter={**mine, "query": "  "})) == 3
    body = await listing(client, None, True, first=5, filter={"query": "x" * 201})
    assert top_codes(body) == ["BAD_USER_INPUT"]


async def test_category_filter_includes_descendants(client, cats, seller):
    deep = await create_product(client, seller.token, cats["grandchild"])
    sibling = await create_product(client, seller.token, cats["child-b"])
    assert sorted(await listed_ids(client, filter={"categoryId": cats["root"]})) == sorted(
        [deep["id"], sibling["id"]]
    )
    assert await listed_ids(client, filter={"categoryId": cats["child-a"]}) == [deep["id"]]
    assert await listed_ids(client, filter={"categoryId": cats["grandchild"]}) == [deep["id"]]
    assert await listed_ids(client, filter={"categoryId": cats["child-b"]}) == [sibling["id"]]
    body = await listing(client, None, True, first=5, filter={"categoryId": seller.company_id})
    assert top_codes(body) == ["BAD_USER_INPUT"]


async def test_seller_filter(client, cats, seller):
    other = await register(client, seller=True)
    mine = await create_product(client, seller.token, cats["root"])
    theirs = await create_product(client, other.token, cats["root"])
    assert await listed_ids(client, filter={"sellerId": seller.company_id}) == [mine["id"]]
    assert await listed_ids(client, filter={"sellerId": other.company_id}) == [theirs["id"]]
    both = await listed_ids(client, filter={"categoryId": cats["root"]})
    assert sorted(both) == sorted([mine["id"], theirs["id"]])


async def test_price_filters_with_and_without_conversion(client, services, cats, seller):
    await set_fx_rate(services, "GBP", "CHF", "1.25")

    async def make(currency: str, price: str) -> str:
        variant = variant_input(currency=currency, tiers=[(1, price)])
        return (await create_product(client, seller.token, cats["root"], variants=[variant]))["id"]

    gbp_8 = await make("GBP", "8.00")  # 10.00 CHF
    chf_12 = await make("CHF", "12.00")  # 9.60 GBP
    gbp_4 = await make("GBP", "4.00")  # 5.00 CHF
    chf_30 = await make("CHF", "30.00")  # 24.00 GBP

    async def within(currency: str, low: str | None, high: str | None) -> set[str]:
        bounds = {"minPrice": low, "maxPrice": high, "sellerId": seller.company_id}
        return set(await listed_ids(client, filter=bounds, currency=currency))

    assert await within("CHF", "9", None) == {gbp_8, chf_12, chf_30}
    assert await within("CHF", None, "10") == {gbp_8, gbp_4}
    assert await within("CHF", "10.00", "10.00") == {gbp_8}
    assert await within("CHF", "10.01", "29.99") == {chf_12}
    assert await within("CHF", "31", None) == set()
    # The other way round, through the inverse of the same rate.
    assert await within("GBP", "8", None) == {gbp_8, chf_12, chf_30}
    assert await within("GBP", None, "5") == {gbp_4}
    assert await within("GBP", "9.60", "9.60") == {chf_12}

    for bad in ({"minPrice": "5"}, {"maxPrice": "5"}):
        body = await listing(
            client, None, True, first=5, filter={**bad, "sellerId": seller.company_id}
        )
        assert top_codes(body) == ["BAD_USER_INPUT"]
        assert "currency" in body["errors"][0]["message"]
    body = await listing(client, None, True, first=5, currency="CHF", filter={"minPrice": "-1"})
    assert top_codes(body) == ["BAD_USER_INPUT"]


# --- listing: sorts and pages ----------------------------------------------------------------


async def test_sorts(client, services, cats, seller):
    await set_fx_rate(services, "GBP", "CHF", "1.25")
    created = {}
    for name, currency, price in (
        ("Bravo", "CHF", "20.00"),
        ("Alpha", "CHF", "10.00"),
        ("Echo", "ISK", "500"),  # no rate to CHF: sorts after every priced product
        ("Delta", "GBP", "12.00"),  # 15.00 CHF
        ("Charlie", "CHF", "30.00"),
    ):
        variant = variant_input(currency=currency, tiers=[(1, price)])
        product = await create_product(
            client, seller.token, cats["root"], name=f"{name} {word()}", variants=[variant]
        )
        created[name] = product["id"]

    async def order(sort: str, currency: str | None = None) -> list[str]:
        ids = await listed_ids(
            client, filter={"sellerId": seller.company_id}, sort=sort, currency=currency
        )
        names = {v: k for k, v in created.items()}
        return [names[i] for i in ids]

    assert await order("NAME") == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    assert await order("NEWEST") == ["Charlie", "Delta", "Echo", "Alpha", "Bravo"]
    assert await order("PRICE_ASC", "CHF") == ["Alpha", "Delta", "Bravo", "Charlie", "Echo"]
    assert await order("PRICE_DESC", "CHF") == ["Charlie", "Bravo", "Delta", "Alpha", "Echo"]
    body = await listing(
        client, None, True, first=5, sort="PRICE_ASC", filter={"sellerId": seller.company_id}
    )
    assert top_codes(body) == ["BAD_USER_INPUT"]


async def _walk_forward(client: Any, size: int, **variables: Any) -> list[str]:
    seen: list[str] = []
    after = None
    for page_number in range(50):
        page = await listing(client, first=size, after=after, **variables)
        assert page["pageInfo"]["hasPreviousPage"] is (page_number > 0)
        seen += ids_of(page)
        if page["edges"]:
            assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        assert len(page["edges"]) == size
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("pagination did not end")


async def _walk_backward(client: Any, size: int, **variables: Any) -> list[str]:
    seen: list[str] = []
    before = None
    for page_number in range(50):
        page = await listing(client, last=size, before=before, **variables)
        assert page["pageInfo"]["hasNextPage"] is (page_number > 0)
        seen = ids_of(page) + seen
        if not page["pageInfo"]["hasPreviousPage"]:
            return seen
        assert len(page["edges"]) == size
        before = page["pageInfo"]["startCursor"]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    ("sort", "currency"),
    [("NEWEST", None), ("NAME", None), ("PRICE_ASC", "EUR"), ("PRICE_DESC", "EUR"), (None, None)],
)
async def test_pagination_walks_every_product_once(client, cats, seller, sort, currency):
    prices = ["10.00", "12.00", "12.00", "9.00", "30.00"]  # a tie, to page through equal keys
    for price in prices:
        await create_product(
            client, seller.token, cats["root"], variants=[variant_input(tiers=[(1, price)])]
        )
    variables = {"filter": {"sellerId": seller.company_id}, "sort": sort, "currency": currency}
    whole = await listing(client, first=100, **variables)
    everything = ids_of(whole)
    assert whole["totalCount"] == len(everything) == 5
    assert whole["pageInfo"]["hasNextPage"] is False

    forward = await _walk_forward(client, 2, **variables)
    assert forward == everything
    backward = await _walk_backward(client, 2, **variables)
    assert backward == everything

    page = await listing(client, first=2, **variables)
    assert page["totalCount"] == 5
    page = await listing(client, first=2, after=page["pageInfo"]["endCursor"], **variables)
    assert page["totalCount"] == 5
    assert ids_of(page) == everything[2:4]
    page = await listing(client, last=2, before=page["pageInfo"]["startCursor"], **variables)
    assert ids_of(page) == everything[0:2]
    assert page["pageInfo"]["hasPreviousPage"] is False
    assert page["pageInfo"]["hasNextPage"] is True
    assert (await listing(client, first=0, **variables))["edges"] == []


async def test_cursor_of_another_sort_is_refused(client, cats, seller):
    for _ in range(3):
        await create_product(client, seller.token, cats["root"])
    mine = {"sellerId": seller.company_id}
    by_name = await listing(client, first=1, filter=mine, sort="NAME")
    cursor = by_name["pageInfo"]["endCursor"]
    body = await listing(client, None, True, first=1, after=cursor, filter=mine, sort="NEWEST")
    assert top_codes(body) == ["BAD_USER_INPUT"]
    body = await listing(client, None, True, last=1, before=cursor, filter=mine, sort="NEWEST")
    assert top_codes(body) == ["BAD_USER_INPUT"]
    by_price = await listing(client, first=1, filter=mine, sort="PRICE_ASC", currency="EUR")
    cursor = by_price["pageInfo"]["endCursor"]
    body = await listing(
        client, None, True, first=1, after=cursor, filter=mine, sort="PRICE_ASC", currency="CHF"
    )
    assert top_codes(body) == ["BAD_USER_INPUT"]
    body = await listing(client, None, True, first=1, after="bm90IGEgY3Vyc29y", filter=mine)
    assert top_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"first": -1},
        {"first": 101},
        {"first": 100000},
        {"last": -1},
        {"last": 101},
        {"first": 1, "last": 1},
    ],
)
async def test_page_size_limits(client, arguments):
    body = await listing(client, None, True, **arguments)
    assert top_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] is None


# --- prices ----------------------------------------------------------------------------------

PRICES = """
query Prices($id: ID!, $to: CurrencyCode!) {
  product(id: $id) {
    priceRange(currency: $to) { min { amount currency } max { amount currency } }
    variants {
      priceTiers(currency: $to) { minQuantity unitPrice { amount currency } }
      own: priceTiers { minQuantity unitPrice { amount currency } }
    }
  }
}
"""


@pytest.mark.parametrize(("currency", "rate"), [("JPY", "10"), ("KWD", "0.25"), ("EUR", "1.07")])
async def test_price_tiers_convert_half_even(client, services, cats, seller, currency, rate):
    await set_fx_rate(services, "CHF", currency, rate)
    tiers = [(1, "1.25"), (10, "1.05"), (100, "0.85")]
    product = await create_product(
        client,
        seller.token,
        cats["root"],
        variants=[variant_input(currency="CHF", tiers=tiers)],
    )
    body = await gql(client, PRICES, {"id": product["id"], "to": currency})
    found = body["data"]["product"]
    variant = found["variants"][0]
    assert variant["priceTiers"] == [
        {"minQuantity": q, "unitPrice": money(converted(p, rate, currency), currency)}
        for q, p in tiers
    ]
    assert variant["own"] == [{"minQuantity": q, "unitPrice": money(p, "CHF")} for q, p in tiers]
    assert found["priceRange"] == {
        "min": money(converted("0.85", rate, currency), currency),
        "max": money(converted("1.25", rate, currency), currency),
    }


async def test_half_even_is_not_half_up(client, services, cats, seller):
    # 1.05 CHF * 10 = 10.5 JPY -> 10; 1.25 * 0.25 = 0.3125 KWD -> 0.312 (half-up would differ).
    await set_fx_rate(services, "CHF", "JPY", "10")
    await set_fx_rate(services, "CHF", "KWD", "0.25")
    product = await create_product(
        client,
        seller.token,
        cats["root"],
        variants=[variant_input(currency="CHF", tiers=[(1, "1.25"), (2, "1.05")])],
    )
    body = await gql(client, PRICES, {"id": product["id"], "to": "JPY"})
    tiers = body["data"]["product"]["variants"][0]["priceTiers"]
    assert [t["unitPrice"]["amount"] for t in tiers] == ["12", "10"]
    body = await gql(client, PRICES, {"id": product["id"], "to": "KWD"})
    tiers = body["data"]["product"]["variants"][0]["priceTiers"]
    assert [t["unitPrice"]["amount"] for t in tiers] == ["0.312", "0.262"]


UNIT_PRICES = """
query Unit($id: ID!) {
  product(id: $id) {
    variants {
      q1: unitPrice(quantity: 1) { amount }
      q4: unitPrice(quantity: 4) { amount }
      q5: unitPrice(quantity: 5) { amount }
      q9: unitPrice(quantity: 9) { amount }
      q10: unitPrice(quantity: 10) { amount }
      q49: unitPrice(quantity: 49) { amount }
      q50: unitPrice(quantity: 50) { amount }
      q1000000: unitPrice(quantity: 1000000) { amount currency }
    }
  }
}
"""


async def test_unit_price_picks_the_tier_at_its_boundaries(client, cats, seller):
    tiers = [(5, "10.00"), (10, "9.00"), (50, "8.00")]
    product = await create_product(
        client, seller.token, cats["root"], variants=[variant_input(moq=5, tiers=tiers)]
    )
    body = await gql(client, UNIT_PRICES, {"id": product["id"]})
    variant = body["data"]["product"]["variants"][0]
    assert {key: value["amount"] for key, value in variant.items()} == {
        "q1": "10.00",  # below the minimum order quantity: the first tier is quoted
        "q4": "10.00",
        "q5": "10.00",
        "q9": "10.00",
        "q10": "9.00",
        "q49": "9.00",
        "q50": "8.00",
        "q1000000": "8.00",
    }
    assert variant["q1000000"]["currency"] == "EUR"

    for quantity in (0, -3):
        body = await gql(
            client,
            "query($id: ID!, $q: Int!) { product(id: $id) { variants { unitPrice(quantity: $q)"
            " { amount } } } }",
            {"id": product["id"], "q": quantity},
            expect_errors=True,
        )
        assert top_codes(body) == ["BAD_USER_INPUT"]


NESTED = """
query Nested($filter: ProductFilter, $currency: CurrencyCode) {
  products(first: 10, filter: $filter, currency: $currency) {
    edges { node {
      priceRange { min { amount currency } max { amount currency } }
      variants {
        priceTiers { minQuantity unitPrice { amount currency } }
        kwd: priceTiers(currency: KWD) { unitPrice { amount currency } }
        unitPrice(quantity: 10) { amount currency }
        sellerPrice: unitPrice(quantity: 10, currency: CHF) { amount currency }
      }
    } }
  }
}
"""


async def test_listing_currency_is_the_default_for_nested_prices(client, services, cats, seller):
    await set_fx_rate(services, "CHF", "JPY", "163.7")
    await set_fx_rate(services, "CHF", "KWD", "0.347")
    tiers = [(1, "10.95"), (10, "9.45")]
    await create_product(
        client, seller.token, cats["root"], variants=[variant_input(currency="CHF", tiers=tiers)]
    )
    body = await gql(client, NESTED, {"filter": {"sellerId": seller.company_id}, "currency": "JPY"})
    node = body["data"]["products"]["edges"][0]["node"]
    jpy = {p: money(converted(p, "163.7", "JPY"), "JPY") for _, p in tiers}
    kwd = {p: money(converted(p, "0.347", "KWD"), "KWD") for _, p in tiers}
    assert node["priceRange"] == {"min": jpy["9.45"], "max": jpy["10.95"]}
    variant = node["variants"][0]
    assert variant["priceTiers"] == [{"minQuantity": q, "unitPrice": jpy[p]} for q, p in tiers]
    assert [t["unitPrice"] for t in variant["kwd"]] == [kwd["10.95"], kwd["9.45"]]
    assert variant["unitPrice"] == jpy["9.45"]
    assert variant["sellerPrice"] == money("9.45", "CHF")

    body = await gql(client, NESTED, {"filter": {"sellerId": seller.company_id}})
    node = body["data"]["products"]["edges"][0]["node"]
    assert node["priceRange"] == {"min": money("9.45", "CHF"), "max": money("10.95", "CHF")}
    assert node["variants"][0]["unitPrice"] == money("9.45", "CHF")


async def test_currency_without_a_rate_is_a_clear_error(client, cats, seller):
    product = await create_product(
        client,
        seller.token,
        cats["root"],
        variants=[variant_input(currency="CHF", tiers=[(1, "5.00")])],
    )
    body = await gql(client, PRICES, {"id": product["id"], "to": "ISK"}, expect_errors=True)
    assert body["errors"], body
    assert set(top_codes(body)) == {"BAD_USER_INPUT"}
    assert "exchange rate" in body["errors"][0]["message"]
    body = await gql(
        client,
        NESTED.replace("kwd: priceTiers(currency: KWD)", "kwd: priceTiers"),
        {"filter": {"sellerId": seller.company_id}, "currency": "ISK"},
        expect_errors=True,
    )
    assert body["errors"], body
    assert set(top_codes(body)) == {"BAD_USER_INPUT"}
    body = await listing(
        client,
        None,
        True,
        first=5,
        currency="ISK",
        filter={"sellerId": seller.company_id, "minPrice": "1"},
    )
    # A bound in a currency no product's currency converts to matches nothing (no error needed).
    assert body.get("errors") is None
    assert body["data"]["products"]["edges"] == []


# --- categories ------------------------------------------------------------------------------

CATEGORIES = """
{ categories { id name slug children { id name children { id name children { id } } } } }
"""


async def test_categories_tree_and_node(client, cats):
    body = await gql(client, CATEGORIES)
    roots = {root["id"]: root for root in body["data"]["categories"]}
    assert cats["root"] in roots
    for name in ("child-a", "grandchild", "child-b"):
        assert cats[name] not in roots
    root = roots[cats["root"]]
    assert root["name"].startswith("root ")
    assert [child["id"] for child in root["children"]] == [cats["child-a"], cats["child-b"]]
    child_a, child_b = root["children"]
    assert [g["id"] for g in child_a["children"]] == [cats["grandchild"]]
    assert child_a["children"][0]["children"] == []
    assert child_b["children"] == []

    body = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id ... on Category { name slug parent { id } "
        "children { id } } } }",
        {"id": cats["child-a"]},
    )
    node = body["data"]["node"]
    assert node["id"] == cats["child-a"]
    assert node["name"].startswith("child-a ")
    assert node["parent"] == {"id": cats["root"]}
    assert node["children"] == [{"id": cats["grandchild"]}]
    body = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": to_global_id("Category", uuid.uuid4())},
    )
    assert body["data"]["node"] is None


async def test_relevance_pagination_walks_every_match_once(client, cats, seller):
    shared = word()
    matches = []
    for name, description in (
        (f"{shared} {shared} clamp", f"The {shared} clamp."),
        (f"Steel {shared}", "Plain steel."),
        ("Steel clamp", f"Works with any {shared}."),
        (f"{shared} hook", "A hook."),
        (f"Brass {shared}", "Plain brass."),
    ):
        product = await create_product(
            client, seller.token, cats["root"], name=name, description=description
        )
        matches.append(product["id"])
    await create_product(client, seller.token, cats["root"], name="Unrelated thing")
    variables: dict[str, Any] = {"filter": {"sellerId": seller.company_id, "query": shared}}
    whole = await listing(client, first=100, **variables)
    everything = ids_of(whole)
    assert sorted(everything) == sorted(matches)
    assert whole["totalCount"] == 5
    assert everything == ids_of(await listing(client, first=100, sort="RELEVANCE", **variables))
    assert await _walk_forward(client, 2, **variables) == everything
    assert await _walk_backward(client, 2, **variables) == everything


# --- SKU case and stored quantity rules --------------------------------------------------------

QUANTITY_RULES = """
query Rules($id: ID!) {
  product(id: $id) { variants { sku minimumOrderQuantity orderIncrement } }
}
"""


async def test_skus_are_unique_per_seller_ignoring_case(client, services, cats, seller):
    sku = f"case-{uuid.uuid4().hex[:8]}"
    await create_product(client, seller.token, cats["root"], variants=[variant_input(sku)])
    payload = await create_raw(
        client, seller.token, product_input(cats["root"], variants=[variant_input(sku.upper())])
    )
    assert problems(payload) == [(["input", "variants", "0", "sku"], "DUPLICATE")]
    assert await stored_counts(services, seller) == (1, 1)


async def test_an_update_matches_a_sku_ignoring_case_and_keeps_its_spelling(client, cats, seller):
    sku = f"mixed-{uuid.uuid4().hex[:8]}"
    product = await create_product(
        client, seller.token, cats["root"], variants=[variant_input(sku)]
    )
    body = await gql(
        client,
        UPDATE,
        {
            "id": product["id"],
            "input": {"variants": [variant_input(sku.upper(), tiers=[(1, "3.00")])]},
        },
        token=seller.token,
    )
    variants = body["data"]["updateProduct"]["product"]["variants"]
    assert [(v["sku"], v["priceTiers"][0]["unitPrice"]["amount"]) for v in variants] == [
        (sku, "3.00")
    ]


async def test_an_update_without_quantity_rules_keeps_the_stored_ones(client, cats, seller):
    sku = f"rules-{uuid.uuid4().hex[:8]}"
    created = variant_input(sku, moq=10, tiers=[(10, "5.00")])
    created["orderIncrement"] = 5
    product = await create_product(client, seller.token, cats["root"], variants=[created])
    changed = variant_input(sku, tiers=[(10, "4.00"), (50, "3.50")])
    del changed["minimumOrderQuantity"]
    body = await gql(
        client, UPDATE, {"id": product["id"], "input": {"variants": [changed]}}, token=seller.token
    )
    assert body["data"]["updateProduct"]["userErrors"] == []
    rules = await gql(client, QUANTITY_RULES, {"id": product["id"]}, token=seller.token)
    assert rules["data"]["product"]["variants"] == [
        {"sku": sku, "minimumOrderQuantity": 10, "orderIncrement": 5}
    ]


async def test_a_bad_minimum_is_reported_once(client, cats, seller):
    data = product_input(cats["root"], variants=[variant_input(moq=0, tiers=[(1, "2.00")])])
    payload = await create_raw(client, seller.token, data)
    assert problems(payload) == [(["input", "variants", "0", "minimumOrderQuantity"], "INVALID")]


# --- forged cursors and price bounds ------------------------------------------------------------


def forge_cursor(cursor: str, index: int, value: Any) -> str:
    """A well-formed cursor of the same list whose sort key `index` is replaced by `value`."""
    payload = orjson.loads(base64.urlsafe_b64decode(cursor))
    payload[1 + index] = value
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


NOT_A_SCALAR = [{"a": 1}, [1], None, True]
NOT_A_STRING = [*NOT_A_SCALAR, 1, 1.5]
BAD_UUIDS = [*NOT_A_STRING, "not-a-uuid", ""]
# Per sort: the wrong values for each sort key (the last key is always the product's UUID).
FORGED_KEYS: dict[str, list[list[Any]]] = {
    "NEWEST": [
        [
            *NOT_A_STRING,
            "yesterday",
            "2026-01-01T00:00:00",  # naive
            "99999-01-01T00:00:00+00:00",
            "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
            "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        ],
        BAD_UUIDS,
    ],
    "NAME": [[*NOT_A_STRING, "nul \x00 inside", "x" * 201], BAD_UUIDS],
    "PRICE_ASC": [
        [*NOT_A_STRING, "ten", "NaN", "Infinity", "-Infinity", "1e999999", "1e-999999", "1e40"],
        BAD_UUIDS,
    ],
    "PRICE_DESC": [[*NOT_A_STRING, "sNaN", "1e99999"], BAD_UUIDS],
    "RELEVANCE": [[*NOT_A_SCALAR, "0.5", "NaN"], BAD_UUIDS],
}


@pytest.mark.parametrize("sort", list(FORGED_KEYS))
async def test_forged_cursor_values_are_refused(client, cats, seller, sort):
    term = word()
    for _ in range(2):
        await create_product(client, seller.token, cats["root"], name=f"{term} {word()}")
    variables: dict[str, Any] = {"filter": {"sellerId": seller.company_id}, "sort": sort}
    if sort.startswith("PRICE"):
        variables["currency"] = "EUR"
    if sort == "RELEVANCE":
        variables["filter"]["query"] = term
    page = await listing(client, first=1, **variables)
    genuine = page["pageInfo"]["endCursor"]
    assert len(ids_of(await listing(client, first=5, after=genuine, **variables))) == 1
    for index, forged_values in enumerate(FORGED_KEYS[sort]):
        for value in forged_values:
            forged = forge_cursor(genuine, index, value)
            for arguments in ({"first": 5, "after": forged}, {"last": 5, "before": forged}):
                body = await listing(client, None, True, **arguments, **variables)
                assert top_codes(body) == ["BAD_USER_INPUT"], (index, value, body)
                assert body["errors"][0]["message"] == "the cursor is malformed"


@pytest.mark.parametrize(
    ("bound", "currency"),
    [
        ("1e30", "EUR"),
        ("1e999999", "EUR"),
        ("1e99999", "EUR"),
        ("1000000000.01", "EUR"),
        ("NaN", "EUR"),
        ("Infinity", "EUR"),
        ("-Infinity", "EUR"),
        ("10.001", "EUR"),
        ("1e-99999", "EUR"),
        ("0.5", "JPY"),
        ("0.0005", "KWD"),
    ],
)
@pytest.mark.parametrize("name", ["minPrice", "maxPrice"])
async def test_out_of_range_price_bounds_are_refused(client, seller, bound, currency, name):
    body = await listing(
        client,
        None,
        True,
        first=5,
        currency=currency,
        filter={name: bound, "sellerId": seller.company_id},
    )
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    message = body["errors"][0]["message"]
    # Named by the listing's own check (filter.minPrice), or by the variable coercion
    # ("$filter ... at .minPrice") for a value no Decimal is written as (1e30, NaN).
    assert f"filter.{name}" in message or ("$filter" in message and f".{name}:" in message)
    # A coercion failure is a request error: no `data` entry at all (GraphQL over HTTP).
    assert body.get("data") is None


async def test_price_bounds_at_the_limits_are_accepted(client, cats, seller):
    product = await create_product(client, seller.token, cats["root"])
    mine = {"sellerId": seller.company_id}
    for currency, low, high in (("EUR", "0", "1000000000"), ("EUR", "10.00", "1000000000.00")):
        filters = {**mine, "minPrice": low, "maxPrice": high}
        assert await listed_ids(client, filter=filters, currency=currency) == [product["id"]]


# --- slugs and the variant limit ----------------------------------------------------------------


async def test_concurrent_creates_with_one_name_get_distinct_slugs(client, cats, seller):
    name = f"Popular {word()} widget"
    bodies = await asyncio.gather(
        *(
            gql(
                client,
                CREATE_PRODUCT,
                {"input": product_input(cats["root"], name=name)},
                token=seller.token,
            )
            for _ in range(30)
        )
    )
    payloads = [body["data"]["createProduct"] for body in bodies]
    assert all(payload["userErrors"] == [] for payload in payloads), payloads
    slugs = {payload["product"]["slug"] for payload in payloads}
    assert len(slugs) == 30
    for payload in payloads:
        # The slug is derived from the product alone: it says nothing about other products.
        key = key_of(payload["product"]["id"], "Product")
        assert key is not None
        assert payload["product"]["slug"] == f"{slugify(name)}-{key.hex[:10]}"


async def test_a_name_taken_by_another_sellers_draft_is_not_revealed(client, cats, seller):
    name = f"Secret {word()} gadget"
    other = await register(client, seller=True)
    await create_product(client, other.token, cats["root"], name=name, status="DRAFT")
    mine = await create_product(client, seller.token, cats["root"], name=name)
    alone = await create_product(client, seller.token, cats["root"], name=f"Lonely {word()}")
    # Same shape whether or not the name was taken before.
    for product in (mine, alone):
        key = key_of(product["id"], "Product")
        assert key is not None
        assert product["slug"].endswith(f"-{key.hex[:10]}")


async def test_updates_cannot_grow_a_product_past_100_variants(client, services, cats, seller):
    skus = [f"GROW-{uuid.uuid4().hex[:8]}-{i}" for i in range(60)]
    product = await create_product(
        client, seller.token, cats["root"], variants=[variant_input(sku) for sku in skus]
    )

    async def update(variants: list[dict[str, Any]]) -> dict[str, Any]:
        body = await gql(
            client,
            UPDATE,
            {"id": product["id"], "input": {"variants": variants}},
            token=seller.token,
        )
        payload: dict[str, Any] = body["data"]["updateProduct"]
        return payload

    payload = await update([variant_input() for _ in range(41)])
    assert payload["product"] is None
    assert problems(payload) == [(["input", "variants"], "INVALID")]
    assert "100" in payload["userErrors"][0]["message"]
    assert await stored_counts(services, seller) == (1, 60)

    # Known SKUs do not count twice: 1 update + 40 new SKUs fill the product to exactly 100.
    payload = await update([variant_input(skus[0].lower()), *(variant_input() for _ in range(40))])
    assert payload["userErrors"] == []
    assert len(payload["product"]["variants"]) == 100
    payload = await update([variant_input()])
    assert problems(payload) == [(["input", "variants"], "INVALID")]
    payload = await update([variant_input(sku, tiers=[(1, "7.00")]) for sku in skus[:5]])
    assert payload["userErrors"] == []
    assert await stored_counts(services, seller) == (1, 100)


# --- setStock with a warehouse ----------------------------------------------------------------

SET_STOCK_IN = """
mutation SetStock($variantId: ID!, $quantity: Int!, $warehouseId: ID) {
  setStock(variantId: $variantId, quantity: $quantity, warehouseId: $warehouseId) {
    variant { id availableQuantity }
    userErrors { field message code }
  }
}
"""


async def test_set_stock_in_a_named_warehouse(client, services, cats, seller):
    product = await create_product(
        client, seller.token, cats["root"], variants=[variant_input(stock=None)]
    )
    variant_id = product["variants"][0]["id"]
    seller_key = key_of(seller.company_id, "Company")
    async with services.sessions() as session:
        default = await session.scalar(
            select(Warehouse.id).where(Warehouse.company_id == seller_key, Warehouse.is_default)
        )
    assert default is not None
    warehouse_id = to_global_id("Warehouse", default)
    variables = {"variantId": variant_id, "quantity": 4, "warehouseId": warehouse_id}
    body = await gql(client, SET_STOCK_IN, variables, token=seller.token)
    assert body["data"]["setStock"]["variant"]["availableQuantity"] == 4
    other = await register(client, seller=True)
    foreign = await create_product(client, other.token, cats["root"])
    for wrong in ("garbage", to_global_id("Warehouse", uuid.uuid4()), seller.company_id):
        variables = {"variantId": variant_id, "quantity": 1, "warehouseId": wrong}
        body = await gql(client, SET_STOCK_IN, variables, token=seller.token)
        assert problems(body["data"]["setStock"]) == [(["warehouseId"], "NOT_FOUND")]
    variables = {
        "variantId": foreign["variants"][0]["id"],
        "quantity": 1,
        "warehouseId": warehouse_id,
    }
    body = await gql(client, SET_STOCK_IN, variables, token=other.token)
    assert problems(body["data"]["setStock"]) == [(["warehouseId"], "NOT_FOUND")]


MAXIMUM = """
query Max($id: ID!) { product(id: $id) { variants { sku maximumOrderQuantity } } }
"""


async def test_a_maximum_per_line_is_set_kept_cleared_and_enforced(client, cats, seller):
    sku = f"cap-{uuid.uuid4().hex[:8]}"
    capped = variant_input(sku, moq=5, tiers=[(5, "2.00")])
    capped["maximumOrderQuantity"] = 40
    product = await create_product(client, seller.token, cats["root"], variants=[capped])

    async def maximum() -> int | None:
        body = await gql(client, MAXIMUM, {"id": product["id"]}, token=seller.token)
        value: int | None = body["data"]["product"]["variants"][0]["maximumOrderQuantity"]
        return value

    assert await maximum() == 40
    buyer = await register(client, buyer=True)
    add = "mutation($v: ID!) { addToCart(variantId: $v, quantity: 45) { userErrors { code } } }"
    body = await gql(client, add, {"v": product["variants"][0]["id"]}, token=buyer.token)
    assert body["data"]["addToCart"]["userErrors"] == [{"code": "ABOVE_MAXIMUM_QUANTITY"}]
    # Left out of an update: kept.
    unchanged = variant_input(sku, moq=5, tiers=[(5, "1.90")])
    await gql(
        client,
        UPDATE,
        {"id": product["id"], "input": {"variants": [unchanged]}},
        token=seller.token,
    )
    assert await maximum() == 40
    # Explicitly null: removed.
    cleared = {**unchanged, "maximumOrderQuantity": None}
    await gql(
        client, UPDATE, {"id": product["id"], "input": {"variants": [cleared]}}, token=seller.token
    )
    assert await maximum() is None


async def test_a_maximum_below_the_minimum_is_refused(client, cats, seller):
    data = product_input(
        cats["root"], variants=[{**variant_input(moq=10), "maximumOrderQuantity": 5}]
    )
    payload = await create_raw(client, seller.token, data)
    assert problems(payload) == [(["input", "variants", "0", "maximumOrderQuantity"], "INVALID")]


async def test_update_product_refuses_stock_below_what_orders_reserve(
    client, services, cats, seller
):
    from tests.api.test_checkout import place_order, stock_of

    specs = [variant_input(f"RSV-{uuid.uuid4().hex[:8]}-{n}", stock=10) for n in range(2)]
    product = await create_product(client, seller.token, cats["root"], variants=specs)
    first, second = (variant["id"] for variant in product["variants"])
    buyer = await register(client, buyer=True)
    await place_order(client, buyer, [(second, 4)])
    assert await stock_of(services, second) == (10, 4, 4)

    lowered = [{**specs[0], "stock": 2}, {**specs[1], "stock": 3}]
    variables = {"id": product["id"], "input": {"variants": lowered}}
    body = await gql(client, UPDATE, variables, token=seller.token)
    payload = body["data"]["updateProduct"]
    assert payload["product"] is None
    assert problems(payload) == [(["input", "variants", "1", "stock"], "CONFLICT")]
    assert "4 units are reserved" in payload["userErrors"][0]["message"]
    # Nothing written, not even the first variant's valid stock.
    assert await stock_of(services, first) == (10, 0, 0)
    assert await stock_of(services, second) == (10, 4, 4)

    # Exactly what is reserved is fine.
    lowered = [{**specs[0], "stock": 2}, {**specs[1], "stock": 4}]
    variables = {"id": product["id"], "input": {"variants": lowered}}
    body = await gql(client, UPDATE, variables, token=seller.token)
    assert body["data"]["updateProduct"]["userErrors"] == []
    assert await stock_of(services, first) == (2, 0, 0)
    assert await stock_of(services, second) == (4, 4, 4)
