"""Contract price lists and exchange rates through the API: who pays what, who sees which list,
every refused input (with the database unchanged), and platform admins setting rates.

Each test makes its own companies. The FX pair set here (CZK -> PLN) is priced in by no other
test, so the rates these tests write change nobody else's conversions.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from auth.passwords import hash_password
from db.models import Company, FxRate, Membership, PriceList, PriceListEntry, User
from domain.identity import MemberRole
from resolvers.global_ids import key_of, to_global_id
from tests.support import (
    PASSWORD,
    Account,
    add_category_tree,
    create_product,
    gql,
    register,
    variant_input,
)

CREATE_LIST = """
mutation Create($input: CreatePriceListInput!) {
  createPriceList(input: $input) {
    priceList {
      id name currency validFrom validTo
      seller { id } buyer { id }
      entries { minQuantity unitPrice { amount currency } variant { id } }
    }
    userErrors { field message code }
  }
}
"""

SET_ENTRIES = """
mutation Set($id: ID!, $entries: [PriceListEntryInput!]!) {
  setPriceListEntries(priceListId: $id, entries: $entries) {
    priceList { id entries { minQuantity unitPrice { amount currency } variant { id sku } } }
    userErrors { field message code }
  }
}
"""

DELETE_LIST = """
mutation Delete($id: ID!) {
  deletePriceList(id: $id) { deletedId userErrors { field message code } }
}
"""

PRICE_LISTS = """
query Lists($first: Int, $after: String) {
  priceLists(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name } }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) { id ... on PriceList { name seller { id } buyer { id } entries { minQuantity } } }
}
"""

VARIANT_PRICES = """
query Prices($id: ID!) {
  node(id: $id) {
    ... on ProductVariant {
      q5: unitPrice(quantity: 5) { amount currency }
      q10: unitPrice(quantity: 10) { amount currency }
      q49: unitPrice(quantity: 49) { amount currency }
      q50: unitPrice(quantity: 50) { amount currency }
    }
  }
}
"""

LISTED_PRICES = """
query Listed($seller: ID!, $first: Int) {
  products(first: $first, filter: {sellerId: $seller}) {
    edges { node { variants {
      id
      q5: unitPrice(quantity: 5) { amount currency }
      q10: unitPrice(quantity: 10) { amount currency }
      q49: unitPrice(quantity: 49) { amount currency }
      q50: unitPrice(quantity: 50) { amount currency }
    } } }
  }
}
"""

SET_FX = """
mutation Fx($base: CurrencyCode!, $quote: CurrencyCode!, $rate: Decimal!, $at: DateTime) {
  setFxRate(base: $base, quote: $quote, rate: $rate, effectiveAt: $at) {
    fxRate { base quote rate effectiveAt }
    userErrors { field message code }
  }
}
"""

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken userErrors { code } }
}
"""

# The variant every test prices: a minimum of 5, tiers 10.00 from 5 on and 9.00 from 20 on.
TIERS = [(5, "10.00"), (20, "9.00")]
TIER_PRICES = {"q5": "10.00", "q10": "10.00", "q49": "9.00", "q50": "9.00"}


# --- helpers ---------------------------------------------------------------------------------


def today() -> Any:
    return datetime.now(UTC).date()


def problems(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(error["field"], error["code"]) for error in payload["userErrors"]]


def top_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


def amounts(prices: dict[str, Any]) -> dict[str, str]:
    return {name: price["amount"] for name, price in prices.items()}


_CATEGORY: list[str] = []


@pytest.fixture(autouse=True)
async def _category(services: Any) -> None:
    """One category for every product of this module, made on first use."""
    if not _CATEGORY:
        _CATEGORY.append((await add_category_tree(services))["child-b"])


async def variant_of(client: Any, seller: Account, *, currency: str = "EUR") -> str:
    """A new active product of the seller with one variant (moq 5, TIERS); its global ID."""
    product = await create_product(
        client,
        seller.token,
        _CATEGORY[0],
        variants=[variant_input(currency=currency, moq=5, tiers=TIERS)],
    )
    variant_id: str = product["variants"][0]["id"]
    return variant_id


async def create_list(
    client: Any,
    seller: Account,
    buyer_id: str,
    *,
    name: str = "Frame agreement 2026",
    currency: str = "EUR",
    valid_from: Any = None,
    valid_to: Any = None,
) -> dict[str, Any]:
    data = {
        "buyerId": buyer_id,
        "name": name,
        "currency": currency,
        "validFrom": str(valid_from or today()),
        "validTo": str(valid_to) if valid_to else None,
    }
    body = await gql(client, CREATE_LIST, {"input": data}, token=seller.token)
    payload: dict[str, Any] = body["data"]["createPriceList"]
    return payload


async def new_list(client: Any, seller: Account, buyer: Account, **options: Any) -> str:
    payload = await create_list(client, seller, buyer.company_id, **options)
    assert payload["userErrors"] == [], payload["userErrors"]
    list_id: str = payload["priceList"]["id"]
    return list_id


def entry(variant_id: str, min_quantity: int, unit_price: str) -> dict[str, Any]:
    return {"variantId": variant_id, "minQuantity": min_quantity, "unitPrice": unit_price}


async def set_entries(
    client: Any, seller: Account, list_id: str, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    body = await gql(client, SET_ENTRIES, {"id": list_id, "entries": entries}, token=seller.token)
    payload: dict[str, Any] = body["data"]["setPriceListEntries"]
    return payload


async def prices_seen(client: Any, variant_id: str, token: str | None) -> dict[str, str]:
    body = await gql(client, VARIANT_PRICES, {"id": variant_id}, token=token)
    return amounts(body["data"]["node"])


async def listed_prices(client: Any, seller: Account, token: str | None) -> dict[str, str]:
    """The variant's prices as the catalog listing (the look-ahead path) shows them."""
    body = await gql(client, LISTED_PRICES, {"seller": seller.company_id}, token=token)
    variants = [v for edge in body["data"]["products"]["edges"] for v in edge["node"]["variants"]]
    assert len(variants) == 1
    return amounts({k: v for k, v in variants[0].items() if k != "id"})


async def stored_lists(services: Any, seller: Account) -> list[tuple[Any, ...]]:
    """Every list of a seller with its entries, straight from the database."""
    seller_key = key_of(seller.company_id, "Company")
    async with services.sessions() as session:
        lists = (
            await session.execute(
                select(PriceList.id, PriceList.name, PriceList.valid_to)
                .where(PriceList.seller_id == seller_key)
                .order_by(PriceList.id)
            )
        ).all()
        entries = (
            await session.execute(
                select(
                    PriceListEntry.price_list_id,
                    PriceListEntry.variant_id,
                    PriceListEntry.min_quantity,
                    PriceListEntry.unit_price_minor,
                )
                .join(PriceList, PriceList.id == PriceListEntry.price_list_id)
                .where(PriceList.seller_id == seller_key)
                .order_by(PriceListEntry.price_list_id, PriceListEntry.min_quantity)
            )
        ).all()
    return [tuple(row) for row in lists] + [tuple(row) for row in entries]


async def count_fx_rates(services: Any) -> int:
    async with services.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(FxRate)) or 0)


async def platform_admin(client: Any, services: Any) -> str:
    """A user of the platform operator's company, signed in; their access token."""
    company_id, user_id = uuid.uuid4(), uuid.uuid4()
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    async with services.sessions() as session, session.begin():
        await session.execute(
            insert(Company).values(
                id=company_id,
                name="Marketplace operator",
                country="DE",
                default_currency="EUR",
                is_platform=True,
            )
        )
        await session.execute(
            insert(User).values(
                id=user_id, email=email, name="Admin", password_hash=await hash_password(PASSWORD)
            )
        )
        await session.execute(
            insert(Membership).values(user_id=user_id, company_id=company_id, role=MemberRole.OWNER)
        )
    body = await gql(client, LOGIN, {"email": email, "password": PASSWORD})
    token: str = body["data"]["login"]["accessToken"]
    return token


# --- who pays what ---------------------------------------------------------------------------


async def test_a_buyer_pays_its_contract_prices_and_everyone_else_the_tiers(client):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    other_buyer = await register(client, buyer=True)
    variant_id = await variant_of(client, seller)
    list_id = await new_list(client, seller, buyer)

    payload = await set_entries(
        client, seller, list_id, [entry(variant_id, 50, "6.00"), entry(variant_id, 10, "7.50")]
    )
    assert payload["userErrors"] == []
    assert [
        (e["minQuantity"], e["unitPrice"], e["variant"]["id"])
        for e in payload["priceList"]["entries"]
    ] == [
        (10, {"amount": "7.50", "currency": "EUR"}, variant_id),
        (50, {"amount": "6.00", "currency": "EUR"}, variant_id),
    ]

    # Below the first break the tier applies; from each break on, the contract.
    contract = {"q5": "10.00", "q10": "7.50", "q49": "7.50", "q50": "6.00"}
    assert await prices_seen(client, variant_id, buyer.token) == contract
    assert await listed_prices(client, seller, buyer.token) == contract
    for token in (other_buyer.token, None, seller.token):
        assert await prices_seen(client, variant_id, token) == TIER_PRICES
        assert await listed_prices(client, seller, token) == TIER_PRICES


async def test_a_list_of_another_seller_never_prices_a_variant(client, services):
    """Defence in depth: even a row that bypassed setPriceListEntries' ownership check (written
    straight to the database) does not change what the buyer pays for another seller's variant."""
    seller = await register(client, seller=True)
    intruder = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    variant_id = await variant_of(client, seller)
    list_key = uuid.uuid4()
    async with services.sessions() as session, session.begin():
        await session.execute(
            insert(PriceList).values(
                id=list_key,
                seller_id=key_of(intruder.company_id, "Company"),
                buyer_id=key_of(buyer.company_id, "Company"),
                name="Not theirs to price",
                currency="EUR",
                valid_from=today(),
            )
        )
        await session.execute(
            insert(PriceListEntry).values(
                price_list_id=list_key,
                variant_id=key_of(variant_id, "ProductVariant"),
                min_quantity=5,
                unit_price_minor=100,
            )
        )
    assert await prices_seen(client, variant_id, buyer.token) == TIER_PRICES
    assert await listed_prices(client, seller, buyer.token) == TIER_PRICES


async def test_expired_and_future_lists_are_ignored(client):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    variant_id = await variant_of(client, seller)
    expired = await new_list(
        client,
        seller,
        buyer,
        valid_from=today() - timedelta(days=30),
        valid_to=today() - timedelta(days=1),
    )
    future = await new_list(client, seller, buyer, valid_from=today() + timedelta(days=1))
    for list_id in (expired, future):
        payload = await set_entries(client, seller, list_id, [entry(variant_id, 5, "1.00")])
        assert payload["userErrors"] == []
    assert await prices_seen(client, variant_id, buyer.token) == TIER_PRICES
    assert await listed_prices(client, seller, buyer.token) == TIER_PRICES

    # A list valid through today (both ends inclusive) applies.
    today_only = await new_list(client, seller, buyer, valid_from=today(), valid_to=today())
    await set_entries(client, seller, today_only, [entry(variant_id, 5, "2.00")])
    assert (await prices_seen(client, variant_id, buyer.token))["q5"] == "2.00"


async def test_the_most_recently_created_valid_list_applies(client):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    variant_id = await variant_of(client, seller)
    older = await new_list(client, seller, buyer, name="Older")
    newer = await new_list(client, seller, buyer, name="Newer")
    await set_entries(client, seller, newer, [entry(variant_id, 5, "8.00")])
    await set_entries(client, seller, older, [entry(variant_id, 5, "7.00")])
    prices = await prices_seen(client, variant_id, buyer.token)
    assert prices == {"q5": "8.00", "q10": "8.00", "q49": "8.00", "q50": "8.00"}

    # Deleting the newer list brings the older one back into force.
    body = await gql(client, DELETE_LIST, {"id": newer}, token=seller.token)
    assert body["data"]["deletePriceList"] == {"deletedId": newer, "userErrors": []}
    assert (await prices_seen(client, variant_id, buyer.token))["q5"] == "7.00"
    await gql(client, DELETE_LIST, {"id": older}, token=seller.token)
    assert await prices_seen(client, variant_id, buyer.token) == TIER_PRICES


async def test_a_buyers_catalog_page_costs_one_contract_statement_whatever_its_size(
    client, statement_counter
):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    list_id = await new_list(client, seller, buyer)
    variants = [await variant_of(client, seller) for _ in range(6)]
    await set_entries(client, seller, list_id, [entry(v, 10, "7.00") for v in variants])

    async def statements(first: int) -> int:
        statement_counter.reset()
        body = await gql(
            client, LISTED_PRICES, {"seller": seller.company_id, "first": first}, token=buyer.token
        )
        statement_counter.active = False
        edges = body["data"]["products"]["edges"]
        assert len(edges) == first
        assert all(edge["node"]["variants"][0]["q10"]["amount"] == "7.00" for edge in edges)
        return statement_counter.count

    few, many = await statements(2), await statements(6)
    assert few == many
    # page, variants, tiers, contract breaks.
    assert many <= 4, statement_counter.statements


# --- visibility ------------------------------------------------------------------------------


async def test_a_list_is_seen_by_its_seller_and_its_buyer_only(client):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    third = await register(client, buyer=True, seller=True)
    variant_id = await variant_of(client, seller)
    list_id = await new_list(client, seller, buyer, name="Only us two")
    await set_entries(client, seller, list_id, [entry(variant_id, 5, "9.50")])

    for party in (seller, buyer):
        body = await gql(client, NODE, {"id": list_id}, token=party.token)
        assert body["data"]["node"] == {
            "id": list_id,
            "name": "Only us two",
            "seller": {"id": seller.company_id},
            "buyer": {"id": buyer.company_id},
            "entries": [{"minQuantity": 5}],
        }
        body = await gql(client, PRICE_LISTS, {"first": 10}, token=party.token)
        assert [edge["node"]["id"] for edge in body["data"]["priceLists"]["edges"]] == [list_id]
        assert body["data"]["priceLists"]["totalCount"] == 1

    for token in (third.token, None):
        body = await gql(client, NODE, {"id": list_id}, token=token)
        assert body["data"]["node"] is None
        body = await gql(client, PRICE_LISTS, {"first": 10}, token=token)
        assert body["data"]["priceLists"]["edges"] == []
        assert body["data"]["priceLists"]["totalCount"] == 0


async def test_price_lists_page_newest_first(client):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    ids = [await new_list(client, seller, buyer, name=f"List {n}") for n in range(5)]
    seen: list[str] = []
    after = None
    while True:
        body = await gql(client, PRICE_LISTS, {"first": 2, "after": after}, token=seller.token)
        connection = body["data"]["priceLists"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == list(reversed(ids))

    body = await gql(client, PRICE_LISTS, {"first": 101}, token=seller.token, expect_errors=True)
    assert top_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(
        client, PRICE_LISTS, {"after": "bm9wZQ=="}, token=seller.token, expect_errors=True
    )
    assert top_codes(body) == ["BAD_USER_INPUT"]


# --- createPriceList validation --------------------------------------------------------------

BUYER_ID = ["input", "buyerId"]


async def test_create_refuses_bad_input_and_stores_nothing(client, services):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    only_sells = await register(client, seller=True)
    before = await stored_lists(services, seller)
    cases: list[tuple[dict[str, Any], list[str], str]] = [
        ({"buyer_id": to_global_id("Company", uuid.uuid4())}, BUYER_ID, "NOT_FOUND"),
        ({"buyer_id": "not-an-id"}, BUYER_ID, "NOT_FOUND"),
        ({"buyer_id": buyer.user_id}, BUYER_ID, "NOT_FOUND"),  # a User's ID, not a Company's
        ({"buyer_id": seller.company_id}, BUYER_ID, "INVALID"),
        ({"buyer_id": only_sells.company_id}, BUYER_ID, "INVALID"),
        ({"name": ""}, ["input", "name"], "INVALID"),
        ({"name": "   "}, ["input", "name"], "INVALID"),
        ({"name": "x" * 121}, ["input", "name"], "INVALID"),
        (
            {"valid_from": today(), "valid_to": today() - timedelta(days=1)},
            ["input", "validTo"],
            "INVALID",
        ),
    ]
    for changes, path, code in cases:
        options = {key: value for key, value in changes.items() if key != "buyer_id"}
        payload = await create_list(
            client, seller, changes.get("buyer_id", buyer.company_id), **options
        )
        assert payload["priceList"] is None, changes
        assert problems(payload) == [(path, code)], changes
    assert await stored_lists(services, seller) == before == []

    # 120 characters is fine, and validTo may equal validFrom.
    payload = await create_list(client, seller, buyer.company_id, name="x" * 120, valid_to=today())
    assert payload["userErrors"] == []
    assert payload["priceList"]["validTo"] == str(today())


async def test_an_unknown_currency_is_refused_before_execution(client):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    body = await gql(
        client,
        CREATE_LIST,
        {
            "input": {
                "buyerId": buyer.company_id,
                "name": "X",
                "currency": "XXY",
                "validFrom": str(today()),
            }
        },
        token=seller.token,
        expect_errors=True,
    )
    assert body.get("data") is None
    assert body["errors"]


async def test_only_sellers_create_lists(client):
    buyer = await register(client, buyer=True)
    other = await register(client, buyer=True)
    data = {"buyerId": other.company_id, "name": "X", "currency": "EUR", "validFrom": str(today())}
    body = await gql(client, CREATE_LIST, {"input": data}, token=buyer.token, expect_errors=True)
    assert top_codes(body) == ["FORBIDDEN"]
    body = await gql(client, CREATE_LIST, {"input": data}, expect_errors=True)
    assert top_codes(body) == ["UNAUTHENTICATED"]


# --- setPriceListEntries validation ----------------------------------------------------------

E0 = ["entries", "0"]


async def test_set_entries_refuses_bad_input_and_changes_nothing(client, services):
    seller = await register(client, seller=True)
    other_seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    variant_id = await variant_of(client, seller)
    usd_variant = await variant_of(client, seller, currency="USD")
    foreign_variant = await variant_of(client, other_seller)
    list_id = await new_list(client, seller, buyer)
    payload = await set_entries(client, seller, list_id, [entry(variant_id, 10, "8.00")])
    assert payload["userErrors"] == []
    before = await stored_lists(services, seller)

    cases: list[tuple[list[dict[str, Any]], list[tuple[list[str], str]]]] = [
        ([entry(foreign_variant, 10, "1.00")], [([*E0, "variantId"], "NOT_FOUND")]),
        (
            [entry(to_global_id("ProductVariant", uuid.uuid4()), 10, "1.00")],
            [([*E0, "variantId"], "NOT_FOUND")],
        ),
        ([entry("garbage", 10, "1.00")], [([*E0, "variantId"], "NOT_FOUND")]),
        ([entry(usd_variant, 10, "1.00")], [([*E0, "variantId"], "INVALID")]),
        ([entry(variant_id, 10, "0")], [([*E0, "unitPrice"], "INVALID")]),
        ([entry(variant_id, 10, "-1.00")], [([*E0, "unitPrice"], "INVALID")]),
        ([entry(variant_id, 10, "1.234")], [([*E0, "unitPrice"], "INVALID")]),
        # (NaN, 1e10 and other forms no Decimal is written in are refused by the scalar:
        # tests/api/test_scalars.py.)
        ([entry(variant_id, 10, "10000000000")], [([*E0, "unitPrice"], "INVALID")]),
        ([entry(variant_id, 4, "1.00")], [([*E0, "minQuantity"], "INVALID")]),
        ([entry(variant_id, 2_000_000_000, "1.00")], [([*E0, "minQuantity"], "INVALID")]),
        (
            [entry(variant_id, 10, "1.00"), entry(variant_id, 10, "2.00")],
            [(["entries", "1", "minQuantity"], "DUPLICATE")],
        ),
        (
            # Every mistake is reported, each at its own path; the good entry changes nothing.
            [entry(variant_id, 20, "5.00"), entry(foreign_variant, 5, "0")],
            [
                (["entries", "1", "variantId"], "NOT_FOUND"),
                (["entries", "1", "unitPrice"], "INVALID"),
            ],
        ),
        # A list holds at most 100 entries (a call replaces them all).
        ([entry(variant_id, 5 + n, "1.00") for n in range(101)], [(["entries"], "INVALID")]),
    ]
    for entries, expected in cases:
        payload = await set_entries(client, seller, list_id, entries)
        assert payload["priceList"] is None
        assert problems(payload) == expected, entries[:2]
        assert await stored_lists(services, seller) == before

    # Exactly at the minimum order quantity is fine, and a break per quantity too.
    payload = await set_entries(
        client, seller, list_id, [entry(variant_id, 5, "9.99"), entry(variant_id, 6, "9.98")]
    )
    assert payload["userErrors"] == []
    # 100 entries, the most a list holds, are accepted and all read back.
    payload = await set_entries(
        client, seller, list_id, [entry(variant_id, 5 + n, "1.00") for n in range(100)]
    )
    assert payload["userErrors"] == []
    assert len(payload["priceList"]["entries"]) == 100
    # An empty list clears the entries.
    payload = await set_entries(client, seller, list_id, [])
    assert payload["userErrors"] == []
    assert payload["priceList"]["entries"] == []


async def test_a_kwd_list_takes_kwd_variants_and_three_decimals(client):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    kwd_variant = await variant_of(client, seller, currency="KWD")
    list_id = await new_list(client, seller, buyer, currency="KWD")
    payload = await set_entries(client, seller, list_id, [entry(kwd_variant, 10, "1.234")])
    assert payload["userErrors"] == []
    prices = await prices_seen(client, kwd_variant, buyer.token)
    assert prices["q10"] == "1.234"


async def test_another_sellers_list_reads_as_not_found(client, services):
    seller = await register(client, seller=True)
    intruder = await register(client, seller=True, buyer=True)
    buyer = await register(client, buyer=True)
    variant_id = await variant_of(client, seller)
    intruder_variant = await variant_of(client, intruder)
    list_id = await new_list(client, seller, buyer)
    await set_entries(client, seller, list_id, [entry(variant_id, 10, "8.00")])
    before = await stored_lists(services, seller)

    payload = await set_entries(client, intruder, list_id, [entry(intruder_variant, 5, "1.00")])
    assert payload["priceList"] is None
    assert problems(payload) == [(["priceListId"], "NOT_FOUND")]
    body = await gql(client, DELETE_LIST, {"id": list_id}, token=intruder.token)
    assert body["data"]["deletePriceList"]["deletedId"] is None
    assert problems(body["data"]["deletePriceList"]) == [(["id"], "NOT_FOUND")]
    # The buyer of a list cannot change it either (it is not theirs to set).
    body = await gql(
        client, SET_ENTRIES, {"id": list_id, "entries": []}, token=buyer.token, expect_errors=True
    )
    assert top_codes(body) == ["FORBIDDEN"]
    # Unknown and malformed IDs read the same way.
    for unknown in (to_global_id("PriceList", uuid.uuid4()), "garbage", variant_id):
        payload = await set_entries(client, seller, unknown, [])
        assert problems(payload) == [(["priceListId"], "NOT_FOUND")]
        body = await gql(client, DELETE_LIST, {"id": unknown}, token=seller.token)
        assert problems(body["data"]["deletePriceList"]) == [(["id"], "NOT_FOUND")]
    assert await stored_lists(services, seller) == before
    assert (await prices_seen(client, variant_id, buyer.token))["q10"] == "8.00"


async def test_deleting_a_list_removes_it_and_its_entries(client, services):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    variant_id = await variant_of(client, seller)
    list_id = await new_list(client, seller, buyer)
    await set_entries(client, seller, list_id, [entry(variant_id, 10, "8.00")])
    body = await gql(client, DELETE_LIST, {"id": list_id}, token=seller.token)
    assert body["data"]["deletePriceList"] == {"deletedId": list_id, "userErrors": []}
    assert await stored_lists(services, seller) == []
    body = await gql(client, NODE, {"id": list_id}, token=buyer.token)
    assert body["data"]["node"] is None
    assert await prices_seen(client, variant_id, buyer.token) == TIER_PRICES


# --- exchange rates --------------------------------------------------------------------------

CZK_PRICES = """
query Czk($seller: ID!) {
  products(first: 5, filter: {sellerId: $seller}, currency: PLN) {
    edges { node { variants { unitPrice(quantity: 5) { amount currency } } } }
  }
}
"""


async def pln_price(client: Any, seller: Account) -> dict[str, str]:
    body = await gql(client, CZK_PRICES, {"seller": seller.company_id})
    edges = body["data"]["products"]["edges"]
    price: dict[str, str] = edges[0]["node"]["variants"][0]["unitPrice"]
    return price


async def test_a_platform_admin_sets_rates_and_the_latest_one_until_now_applies(client, services):
    admin = await platform_admin(client, services)
    seller = await register(client, seller=True)
    await variant_of(client, seller, currency="CZK")  # 10.00 CZK from 5 units

    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = await gql(
        client, SET_FX, {"base": "CZK", "quote": "PLN", "rate": "0.17", "at": hour_ago}, token=admin
    )
    payload = body["data"]["setFxRate"]
    assert payload["userErrors"] == []
    assert payload["fxRate"]["base"] == "CZK"
    assert payload["fxRate"]["quote"] == "PLN"
    assert Decimal(payload["fxRate"]["rate"]) == Decimal("0.17")
    assert await pln_price(client, seller) == {"amount": "1.70", "currency": "PLN"}

    # effectiveAt defaults to now: this rate replaces the older one at once.
    body = await gql(client, SET_FX, {"base": "CZK", "quote": "PLN", "rate": "0.18"}, token=admin)
    assert body["data"]["setFxRate"]["userErrors"] == []
    assert await pln_price(client, seller) == {"amount": "1.80", "currency": "PLN"}

    # A rate that starts tomorrow does not apply yet.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = await gql(
        client, SET_FX, {"base": "CZK", "quote": "PLN", "rate": "0.50", "at": tomorrow}, token=admin
    )
    assert body["data"]["setFxRate"]["userErrors"] == []
    assert await pln_price(client, seller) == {"amount": "1.80", "currency": "PLN"}


async def test_only_platform_admins_set_rates(client, services):
    seller = await register(client, seller=True)
    buyer = await register(client, buyer=True)
    before = await count_fx_rates(services)
    variables = {"base": "CZK", "quote": "PLN", "rate": "99"}
    for token in (seller.token, buyer.token):
        body = await gql(client, SET_FX, variables, token=token, expect_errors=True)
        assert top_codes(body) == ["FORBIDDEN"]
    body = await gql(client, SET_FX, variables, expect_errors=True)
    assert top_codes(body) == ["UNAUTHENTICATED"]
    assert await count_fx_rates(services) == before


@pytest.mark.parametrize(
    ("base", "quote", "rate", "path"),
    [
        ("CZK", "PLN", "0", ["rate"]),
        ("CZK", "PLN", "-0.5", ["rate"]),
        ("CZK", "PLN", "1000000000000", ["rate"]),
        ("CZK", "PLN", "1000000000000.0", ["rate"]),
        ("CZK", "PLN", "0.0000000000001", ["rate"]),
        ("PLN", "PLN", "1", ["quote"]),
    ],
)
async def test_bad_rates_are_user_errors_and_store_nothing(
    client, services, base, quote, rate, path
):
    admin = await platform_admin(client, services)
    before = await count_fx_rates(services)
    body = await gql(client, SET_FX, {"base": base, "quote": quote, "rate": rate}, token=admin)
    payload = body["data"]["setFxRate"]
    assert payload["fxRate"] is None
    assert problems(payload) == [(path, "INVALID")]
    assert await count_fx_rates(services) == before


async def test_the_largest_and_finest_rates_are_accepted(client, services):
    admin = await platform_admin(client, services)
    for rate in ("999999999999.999999999999", "0.000000000001"):
        at = (datetime.now(UTC) - timedelta(days=365, seconds=len(rate))).isoformat()
        body = await gql(
            client, SET_FX, {"base": "CZK", "quote": "PLN", "rate": rate, "at": at}, token=admin
        )
        payload = body["data"]["setFxRate"]
        assert payload["userErrors"] == []
        assert Decimal(payload["fxRate"]["rate"]) == Decimal(rate)
