"""Quotes (RFQ) over HTTP: the negotiation from request to order, declines, cancels, expiry,
idempotent and racing accepts, refusals that write nothing, who sees what, lists, batching."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from db.models import (
    Order,
    OrderLine,
    OutboxEvent,
    Product,
    Quote,
    QuoteLine,
    QuoteRequest,
    QuoteRequestLine,
)
from domain.catalog import ProductStatus
from resolvers.global_ids import key_of
from resolvers.quote_expiry import expire_due_quotes
from tests.api.test_checkout import ADDRESS, offer, stock_of
from tests.support import (
    Account,
    add_category_tree,
    create_product,
    gql,
    register,
    variant_input,
)

ERRORS = "userErrors { field message code }"
REQUEST_FIELDS = """
id status currency note neededBy closeReason createdAt
buyer { id } seller { id } requestedBy { email }
lines { quantity variant { id } targetUnitPrice { amount currency } }
quotes { id version status proposedBy }
order { id number }
"""
QUOTE_FIELDS = """
id status version proposedBy currency validUntil note
total { amount currency }
lines { quantity variant { id } unitPrice { amount currency } lineTotal { amount currency } }
quoteRequest { id status }
"""
REQUEST_QUOTE = f"""
mutation Ask($input: QuoteRequestInput!) {{
  requestQuote(input: $input) {{ quoteRequest {{ {REQUEST_FIELDS} }} {ERRORS} }}
}}
"""
SUBMIT = f"""
mutation Submit($id: ID!, $input: QuoteInput!) {{
  submitQuote(requestId: $id, input: $input) {{ quote {{ {QUOTE_FIELDS} }} {ERRORS} }}
}}
"""
ACCEPT = f"""
mutation Accept($id: ID!, $address: AddressInput!) {{
  acceptQuote(quoteId: $id, shippingAddress: $address) {{
    order {{
      id number status currency total {{ amount currency }} placedBy {{ email }}
      lines {{ quantity unitPrice {{ amount currency }} lineTotal {{ amount }} variant {{ id }} }}
      history {{ status }} shippingAddress {{ city }}
    }}
    {ERRORS}
  }}
}}
"""
DECLINE = f"""
mutation Decline($id: ID!, $reason: String) {{
  declineQuote(quoteId: $id, reason: $reason) {{ quote {{ {QUOTE_FIELDS} }} {ERRORS} }}
}}
"""
CANCEL = f"""
mutation Cancel($id: ID!, $reason: String) {{
  cancelQuoteRequest(requestId: $id, reason: $reason) {{
    quoteRequest {{ {REQUEST_FIELDS} }} {ERRORS}
  }}
}}
"""
READ = f"query Read($id: ID!) {{ quoteRequest(id: $id) {{ {REQUEST_FIELDS} }} }}"
NODE = """
query Node($id: ID!) {
  node(id: $id) { id ... on QuoteRequest { status } ... on Quote { version } }
}
"""
ORDER_NODE = "query Node($id: ID!) { node(id: $id) { id ... on Order { number } } }"
LIST = """
query List($first: Int, $after: String, $status: QuoteRequestStatus, $role: OrderRole) {
  quoteRequests(first: $first, after: $after, status: $status, role: $role) {
    totalCount
    edges { cursor node { id status } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


@dataclass
class Market:
    seller: Account
    buyer: Account
    # A company that only buys (so it cannot be asked for a quote).
    other_buyer: Account
    # A company that sells and buys, party to none of the requests below.
    stranger: Account
    # The seller's variants: plain (stock 100, any quantity), and one with rules (minimum 10,
    # steps of 5, at most 50).
    plain: list[str]
    ruled: str
    # The stranger's own variant, a draft and an archived variant of the seller's.
    foreign: str
    draft: str
    archived: str


@pytest.fixture(scope="module")
async def market(app, services) -> Market:
    transport = httpx.ASGITransport(app=app, client=("10.77.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        seller, buyer, other_buyer, stranger = await asyncio.gather(
            register(client, seller=True),
            register(client, buyer=True),
            register(client, buyer=True),
            register(client, seller=True, buyer=True),
        )
        shop = await offer(client, services, products=3, seller=seller)
        categories = await add_category_tree(services)
        ruled = await create_product(
            client,
            seller.token,
            categories["root"],
            variants=[
                {
                    **variant_input(moq=10, tiers=[(10, "4.00")], stock=1000),
                    "orderIncrement": 5,
                    "maximumOrderQuantity": 50,
                }
            ],
        )
        foreign = await offer(client, services, seller=stranger)
        draft = await create_product(client, seller.token, categories["root"], status="DRAFT")
        archived = await create_product(client, seller.token, categories["root"])
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Product)
            .where(Product.id == key_of(archived["id"], "Product"))
            .values(status=ProductStatus.ARCHIVED)
        )
    return Market(
        seller=seller,
        buyer=buyer,
        other_buyer=other_buyer,
        stranger=stranger,
        plain=shop.variants,
        ruled=ruled["variants"][0]["id"],
        foreign=foreign.variants[0],
        draft=draft["variants"][0]["id"],
        archived=archived["variants"][0]["id"],
    )


# --- helpers -----------------------------------------------------------------------------------


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def ask(
    client: httpx.AsyncClient,
    buyer: Account,
    seller: Account,
    lines: list[tuple[Any, ...]],
    **extra: Any,
) -> dict[str, Any]:
    """(variant, quantity) or (variant, quantity, target unit price) lines."""
    line_inputs = []
    for variant, quantity, *target in lines:
        line_inputs.append({"variantId": variant, "quantity": quantity})
        if target:
            line_inputs[-1]["targetUnitPrice"] = target[0]
    body = await gql(
        client,
        REQUEST_QUOTE,
        {"input": {"sellerId": seller.company_id, "lines": line_inputs, **extra}},
        token=buyer.token,
    )
    payload: dict[str, Any] = body["data"]["requestQuote"]
    return payload


async def opened(client: httpx.AsyncClient, market: Market, lines: Any = None) -> str:
    """A new OPEN request of the market's buyer to its seller; its id."""
    payload = await ask(client, market.buyer, market.seller, lines or [(market.plain[0], 5)])
    assert payload["userErrors"] == [], payload["userErrors"]
    request_id: str = payload["quoteRequest"]["id"]
    return request_id


async def submit(
    client: httpx.AsyncClient,
    who: Account,
    request_id: str,
    lines: list[tuple[str, int, str]],
    *,
    valid_until: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = await gql(
        client,
        SUBMIT,
        {
            "id": request_id,
            "input": {
                "lines": [
                    {"variantId": variant, "quantity": quantity, "unitPrice": price}
                    for variant, quantity, price in lines
                ],
                "validUntil": valid_until or in_days(7),
                **extra,
            },
        },
        token=who.token,
    )
    payload: dict[str, Any] = body["data"]["submitQuote"]
    return payload


async def quoted(
    client: httpx.AsyncClient, market: Market, lines: Any = None, who: Account | None = None
) -> tuple[str, str]:
    """A request with a pending seller quote: (request id, quote id)."""
    request_id = await opened(client, market)
    payload = await submit(
        client, who or market.seller, request_id, lines or [(market.plain[0], 5, "9.00")]
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    return request_id, payload["quote"]["id"]


async def accept(
    client: httpx.AsyncClient, who: Account, quote_id: str, address: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = await gql(
        client, ACCEPT, {"id": quote_id, "address": address or ADDRESS}, token=who.token
    )
    payload: dict[str, Any] = body["data"]["acceptQuote"]
    return payload


async def decline(
    client: httpx.AsyncClient, who: Account, quote_id: str, reason: str | None = None
) -> dict[str, Any]:
    body = await gql(client, DECLINE, {"id": quote_id, "reason": reason}, token=who.token)
    payload: dict[str, Any] = body["data"]["declineQuote"]
    return payload


async def cancel(
    client: httpx.AsyncClient, who: Account, request_id: str, reason: str | None = None
) -> dict[str, Any]:
    body = await gql(client, CANCEL, {"id": request_id, "reason": reason}, token=who.token)
    payload: dict[str, Any] = body["data"]["cancelQuoteRequest"]
    return payload


async def read(client: httpx.AsyncClient, who: Account, request_id: str) -> dict[str, Any] | None:
    body = await gql(client, READ, {"id": request_id}, token=who.token)
    found: dict[str, Any] | None = body["data"]["quoteRequest"]
    return found


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(error["field"], error["code"]) for error in payload["userErrors"]]


def request_key(request_id: str) -> uuid.UUID:
    key = key_of(request_id, "QuoteRequest")
    assert key is not None
    return key


def quote_key(quote_id: str) -> uuid.UUID:
    key = key_of(quote_id, "Quote")
    assert key is not None
    return key


async def quote_events(services: Any, request_id: str) -> list[str]:
    async with services.sessions() as session:
        kinds = await session.scalars(
            select(OutboxEvent.kind)
            .where(OutboxEvent.channel == f"quote_request:{request_key(request_id)}")
            .order_by(OutboxEvent.id)
        )
        return list(kinds)


async def written(services: Any) -> dict[str, int]:
    """Rows of every table a quote mutation writes (the whole database: tests run one at a
    time, so any change between two calls is the mutation's)."""
    tables = {
        "requests": QuoteRequest,
        "request_lines": QuoteRequestLine,
        "quotes": Quote,
        "quote_lines": QuoteLine,
        "orders": Order,
        "order_lines": OrderLine,
        "outbox": OutboxEvent,
    }
    async with services.sessions() as session:
        counts = {
            name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in tables.items()
        }
        counts["pending"] = int(
            await session.scalar(
                select(func.count()).select_from(Quote).where(Quote.status == "PENDING")
            )
            or 0
        )
    return counts


async def set_valid_until(services: Any, quote_id: str, when: datetime) -> None:
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(Quote).where(Quote.id == quote_key(quote_id)).values(valid_until=when)
        )


# --- the negotiation ---------------------------------------------------------------------------


async def test_a_negotiation_ends_in_an_order_at_the_quoted_prices(client, services, market):
    plain, buyer, seller = market.plain, market.buyer, market.seller
    before = (await stock_of(services, plain[1]), await stock_of(services, plain[2]))
    asked = await ask(
        client,
        buyer,
        seller,
        [(plain[1], 20, "8.50"), (plain[2], 4)],
        note="For the Hamburg site",
        neededBy=(date.today() + timedelta(days=30)).isoformat(),
    )
    assert asked["userErrors"] == []
    request = asked["quoteRequest"]
    assert (request["status"], request["currency"], request["note"]) == (
        "OPEN",
        "EUR",
        "For the Hamburg site",
    )
    assert request["buyer"]["id"] == buyer.company_id
    assert request["seller"]["id"] == seller.company_id
    assert request["requestedBy"] == {"email": buyer.email}
    assert [(line["quantity"], line["targetUnitPrice"]) for line in request["lines"]] == [
        (20, {"amount": "8.50", "currency": "EUR"}),
        (4, None),
    ]
    assert (request["quotes"], request["order"]) == ([], None)
    request_id = request["id"]

    first = await submit(client, seller, request_id, [(plain[1], 20, "9.00"), (plain[2], 4, "3")])
    assert first["userErrors"] == []
    assert first["quote"]["status"] == "PENDING"
    assert (first["quote"]["version"], first["quote"]["proposedBy"]) == (1, "SELLER")
    assert first["quote"]["total"] == {"amount": "192.00", "currency": "EUR"}
    assert first["quote"]["quoteRequest"] == {"id": request_id, "status": "QUOTED"}

    counter = await submit(client, buyer, request_id, [(plain[1], 20, "8.50"), (plain[2], 4, "3")])
    assert counter["userErrors"] == []
    assert (counter["quote"]["version"], counter["quote"]["proposedBy"]) == (2, "BUYER")
    assert counter["quote"]["quoteRequest"]["status"] == "OPEN"

    final = await submit(
        client,
        seller,
        request_id,
        [(plain[1], 20, "8.75"), (plain[2], 6, "2.90")],
        note="Free delivery",
    )
    assert final["userErrors"] == []
    quote = final["quote"]
    assert (quote["version"], quote["note"], quote["total"]["amount"]) == (
        3,
        "Free delivery",
        "192.40",
    )
    assert [line["lineTotal"] for line in quote["lines"]] == [
        {"amount": "175.00", "currency": "EUR"},
        {"amount": "17.40", "currency": "EUR"},
    ]

    accepted = await accept(client, buyer, quote["id"])

    assert accepted["userErrors"] == []
    order = accepted["order"]
    assert (order["status"], order["currency"], order["total"]) == (
        "PLACED",
        "EUR",
        {"amount": "192.40", "currency": "EUR"},
    )
    assert [(line["quantity"], line["unitPrice"]["amount"]) for line in order["lines"]] == [
        (20, "8.75"),
        (6, "2.90"),
    ]
    assert [line["variant"]["id"] for line in order["lines"]] == [plain[1], plain[2]]
    assert order["history"] == [{"status": "PLACED"}]
    assert order["placedBy"] == {"email": buyer.email}
    assert order["shippingAddress"] == {"city": "Hamburg"}
    # Stock is reserved exactly as checkout reserves it.
    assert await stock_of(services, plain[1]) == (100, before[0][1] + 20, before[0][2] + 20)
    assert await stock_of(services, plain[2]) == (100, before[1][1] + 6, before[1][2] + 6)

    for party in (buyer, seller):
        seen = await read(client, party, request_id)
        assert seen is not None
        assert seen["status"] == "ACCEPTED"
        assert seen["order"] == {"id": order["id"], "number": order["number"]}
        assert [(q["version"], q["status"], q["proposedBy"]) for q in seen["quotes"]] == [
            (1, "SUPERSEDED", "SELLER"),
            (2, "SUPERSEDED", "BUYER"),
            (3, "ACCEPTED", "SELLER"),
        ]
        body = await gql(client, NODE, {"id": quote["id"]}, token=party.token)
        assert body["data"]["node"] == {"id": quote["id"], "version": 3}
        body = await gql(client, NODE, {"id": request_id}, token=party.token)
        assert body["data"]["node"] == {"id": request_id, "status": "ACCEPTED"}
        body = await gql(client, ORDER_NODE, {"id": order["id"]}, token=party.token)
        assert body["data"]["node"] == {"id": order["id"], "number": order["number"]}
    assert await quote_events(services, request_id) == [
        "REQUESTED",
        "QUOTED",
        "COUNTERED",
        "COUNTERED",
        "ACCEPTED",
    ]
    async with services.sessions() as session:
        placed = (
            await session.execute(
                select(OutboxEvent.kind, OutboxEvent.payload).where(
                    OutboxEvent.channel == f"order:{key_of(order['id'], 'Order')}"
                )
            )
        ).all()
        fx = (
            await session.execute(
                select(OrderLine.fx_rate, OrderLine.source_currency).where(
                    OrderLine.order_id == key_of(order["id"], "Order")
                )
            )
        ).all()
    assert [(kind, payload["previousStatus"], payload["status"]) for kind, payload in placed] == [
        ("ORDER_STATUS_CHANGED", None, "PLACED")
    ]
    assert {(str(rate), currency) for rate, currency in fx} == {("1.000000000000", "EUR")}


async def test_a_quote_in_another_currency_becomes_an_order_in_it(client, services, market):
    request_id = await opened(client, market)
    payload = await submit(
        client, market.seller, request_id, [(market.plain[0], 5, "1250")], currency="JPY"
    )
    assert payload["userErrors"] == []
    assert payload["quote"]["total"] == {"amount": "6250", "currency": "JPY"}
    accepted = await accept(client, market.buyer, payload["quote"]["id"])
    assert accepted["userErrors"] == []
    assert accepted["order"]["total"] == {"amount": "6250", "currency": "JPY"}


async def test_accepting_again_returns_the_same_order_and_writes_nothing(client, services, market):
    _, quote_id = await quoted(client, market)
    first = await accept(client, market.buyer, quote_id)
    assert first["userErrors"] == []
    counts = await written(services)

    again = await accept(client, market.buyer, quote_id)
    elsewhere = await accept(client, market.buyer, quote_id, {**ADDRESS, "city": "Bremen"})

    assert again["userErrors"] == []
    assert again["order"]["id"] == first["order"]["id"]
    assert codes(elsewhere) == [(["shippingAddress"], "CONFLICT")]
    assert elsewhere["order"] is None
    assert await written(services) == counts


async def test_two_accepts_racing_place_one_order(client, services, market):
    request_id, quote_id = await quoted(client, market, [(market.plain[0], 3, "7.00")])
    counts = await written(services)
    stock = await stock_of(services, market.plain[0])

    results = await asyncio.gather(*(accept(client, market.buyer, quote_id) for _ in range(4)))

    assert all(result["userErrors"] == [] for result in results), results
    assert len({result["order"]["id"] for result in results}) == 1
    after = await written(services)
    assert after["orders"] == counts["orders"] + 1
    assert after["outbox"] == counts["outbox"] + 2  # the order's PLACED and the quote's ACCEPTED
    assert await stock_of(services, market.plain[0]) == (100, stock[1] + 3, stock[2] + 3)
    assert (await quote_events(services, request_id)).count("ACCEPTED") == 1


async def test_out_of_stock_on_accept_refuses_and_writes_nothing(client, services, market):
    scarce = await offer(client, services, stock=5, seller=market.seller)
    request_id = await opened(client, market, [(scarce.variants[0], 8)])
    payload = await submit(
        client,
        market.seller,
        request_id,
        [(market.plain[0], 1, "1.00"), (scarce.variants[0], 8, "2.00")],
    )
    assert payload["userErrors"] == []
    counts = await written(services)
    plain_stock = await stock_of(services, market.plain[0])

    refused = await accept(client, market.buyer, payload["quote"]["id"])

    assert refused["order"] is None
    assert codes(refused) == [(["quote", "lines", "1", "quantity"], "OUT_OF_STOCK")]
    assert await written(services) == counts
    assert await stock_of(services, scarce.variants[0]) == (5, 0, 0)
    assert await stock_of(services, market.plain[0]) == plain_stock
    seen = await read(client, market.buyer, request_id)
    assert seen is not None and seen["status"] == "QUOTED"
    assert [q["status"] for q in seen["quotes"]] == ["PENDING"]


# --- declining and cancelling -----------------------------------------------------------------


async def test_the_buyer_declines_a_quote_and_the_negotiation_ends(client, services, market):
    request_id, quote_id = await quoted(client, market)

    declined = await decline(client, market.buyer, quote_id, "Too expensive")

    assert declined["userErrors"] == []
    assert declined["quote"]["status"] == "DECLINED"
    assert declined["quote"]["quoteRequest"] == {"id": request_id, "status": "DECLINED"}
    seen = await read(client, market.seller, request_id)
    assert seen is not None and seen["closeReason"] == "Too expensive"
    assert await quote_events(services, request_id) == ["REQUESTED", "QUOTED", "DECLINED"]
    # Final: nothing moves it any more.
    counts = await written(services)
    assert codes(await accept(client, market.buyer, quote_id)) == [
        (["quoteId"], "INVALID_TRANSITION")
    ]
    late = await submit(client, market.seller, request_id, [(market.plain[0], 5, "8.00")])
    assert codes(late) == [(["requestId"], "INVALID_TRANSITION")]
    assert codes(await cancel(client, market.buyer, request_id)) == [
        (["requestId"], "INVALID_TRANSITION")
    ]
    assert await written(services) == counts


async def test_the_seller_declines_a_counter_offer(client, services, market):
    request_id, _ = await quoted(client, market)
    counter = await submit(client, market.buyer, request_id, [(market.plain[0], 5, "5.00")])
    assert counter["userErrors"] == []
    counter_id = counter["quote"]["id"]
    # Neither accepting a counter-offer nor declining one's own offer is a move.
    assert codes(await accept(client, market.buyer, counter_id)) == [
        (["quoteId"], "INVALID_TRANSITION")
    ]
    assert codes(await decline(client, market.buyer, counter_id)) == [(["quoteId"], "FORBIDDEN")]

    declined = await decline(client, market.seller, counter_id)

    assert declined["userErrors"] == []
    assert declined["quote"]["quoteRequest"]["status"] == "DECLINED"
    assert await quote_events(services, request_id) == [
        "REQUESTED",
        "QUOTED",
        "COUNTERED",
        "DECLINED",
    ]


async def test_the_buyer_cancels_and_the_pending_quote_is_withdrawn(client, services, market):
    request_id, _ = await quoted(client, market)

    cancelled = await cancel(client, market.buyer, request_id, "Bought elsewhere")

    assert cancelled["userErrors"] == []
    request = cancelled["quoteRequest"]
    assert (request["status"], request["closeReason"]) == ("CANCELLED", "Bought elsewhere")
    assert [q["status"] for q in request["quotes"]] == ["WITHDRAWN"]
    assert await quote_events(services, request_id) == ["REQUESTED", "QUOTED", "CANCELLED"]
    # An OPEN request without quotes can be cancelled too.
    fresh = await opened(client, market)
    assert (await cancel(client, market.buyer, fresh))["quoteRequest"]["status"] == "CANCELLED"


async def test_moves_out_of_turn_are_refused(client, services, market):
    request_id = await opened(client, market)
    counts = await written(services)
    # The buyer cannot quote its own OPEN request: it is the seller's move.
    early = await submit(client, market.buyer, request_id, [(market.plain[0], 5, "5.00")])
    assert codes(early) == [(["requestId"], "FORBIDDEN")]
    # acceptQuote and cancelQuoteRequest are for buyers; the seller is refused before anything.
    body = await gql(
        client, CANCEL, {"id": request_id}, token=market.seller.token, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await written(services) == counts


async def test_a_company_that_buys_and_sells_cannot_accept_its_own_quote(client, services, market):
    # The stranger sells to the buyer here: acceptQuote passes its @hasRole(BUYER), but it is
    # the seller of this request.
    variant = market.foreign
    asked = await ask(client, market.buyer, market.stranger, [(variant, 2)])
    request_id = asked["quoteRequest"]["id"]
    payload = await submit(client, market.stranger, request_id, [(variant, 2, "4.00")])
    assert payload["userErrors"] == []
    refused = await accept(client, market.stranger, payload["quote"]["id"])
    assert codes(refused) == [(["quoteId"], "FORBIDDEN")]
    refused = await cancel(client, market.stranger, request_id)
    assert codes(refused) == [(["requestId"], "FORBIDDEN")]


# --- expiry --------------------------------------------------------------------------------


async def test_an_expired_quote_cannot_be_accepted(client, services, market):
    request_id, quote_id = await quoted(client, market)
    await set_valid_until(services, quote_id, datetime.now(UTC) - timedelta(seconds=1))
    counts = await written(services)
    stock = await stock_of(services, market.plain[0])

    refused = await accept(client, market.buyer, quote_id)

    assert refused["order"] is None
    assert codes(refused) == [(["quoteId"], "EXPIRED")]
    # The expiry is recorded (and nothing else): the quote and the request are EXPIRED.
    after = await written(services)
    assert after == {**counts, "outbox": counts["outbox"] + 1, "pending": counts["pending"] - 1}
    assert await stock_of(services, market.plain[0]) == stock
    seen = await read(client, market.buyer, request_id)
    assert seen is not None and seen["status"] == "EXPIRED"
    assert [q["status"] for q in seen["quotes"]] == ["EXPIRED"]
    assert await quote_events(services, request_id) == ["REQUESTED", "QUOTED", "EXPIRED"]
    # Once expired it stays so, whoever expired it (this request or the expiry task).
    assert codes(await accept(client, market.buyer, quote_id)) == [(["quoteId"], "EXPIRED")]
    assert codes(await decline(client, market.buyer, quote_id)) == [(["quoteId"], "EXPIRED")]


async def test_a_due_quote_expires_when_anyone_acts_on_its_request(client, services, market):
    request_id, quote_id = await quoted(client, market)
    await set_valid_until(services, quote_id, datetime.now(UTC) - timedelta(minutes=1))

    late = await submit(client, market.buyer, request_id, [(market.plain[0], 5, "5.00")])

    assert codes(late) == [(["requestId"], "EXPIRED")]
    seen = await read(client, market.seller, request_id)
    assert seen is not None and seen["status"] == "EXPIRED"
    assert [q["status"] for q in seen["quotes"]] == ["EXPIRED"]


async def test_expire_due_quotes_expires_exactly_the_due_ones(client, services, market):
    due_request, due_quote = await quoted(client, market)
    countered_request, _ = await quoted(client, market)
    counter = await submit(client, market.buyer, countered_request, [(market.plain[0], 5, "5")])
    live_request, _ = await quoted(client, market)
    await set_valid_until(services, due_quote, datetime.now(UTC) - timedelta(seconds=1))
    await set_valid_until(services, counter["quote"]["id"], datetime.now(UTC) - timedelta(hours=1))

    expired = await expire_due_quotes(services, batch_size=1)

    assert expired >= 2
    assert await expire_due_quotes(services) == 0
    statuses = {}
    for request_id in (due_request, countered_request, live_request):
        seen = await read(client, market.buyer, request_id)
        assert seen is not None
        statuses[request_id] = (seen["status"], [q["status"] for q in seen["quotes"]])
    assert statuses == {
        due_request: ("EXPIRED", ["EXPIRED"]),
        countered_request: ("EXPIRED", ["SUPERSEDED", "EXPIRED"]),
        live_request: ("QUOTED", ["PENDING"]),
    }
    assert (await quote_events(services, countered_request))[-1] == "EXPIRED"


async def test_concurrent_expiry_runs_expire_each_quote_once(client, services, market):
    quotes = [await quoted(client, market) for _ in range(6)]
    for _, quote_id in quotes:
        await set_valid_until(services, quote_id, datetime.now(UTC) - timedelta(seconds=1))

    counts = await asyncio.gather(*(expire_due_quotes(services, batch_size=2) for _ in range(3)))

    assert sum(counts) == 6
    for request_id, _ in quotes:
        assert await quote_events(services, request_id) == ["REQUESTED", "QUOTED", "EXPIRED"]


# --- refusals: a typed userError at its path, and nothing written ---------------------------

YESTERDAY = (date.today() - timedelta(days=2)).isoformat()


def _request_cases(market: Market) -> list[tuple[dict[str, Any], list[tuple[list[str], str]]]]:
    plain, ruled = market.plain, market.ruled
    line = {"variantId": plain[0], "quantity": 5}
    return [
        ({"lines": []}, [(["input", "lines"], "INVALID")]),
        ({"lines": [line] * 101}, [(["input", "lines"], "INVALID")]),
        (
            {"lines": [{"variantId": "bm9wZQ==", "quantity": 1}]},
            [(["input", "lines", "0", "variantId"], "NOT_FOUND")],
        ),
        (
            {"lines": [{"variantId": market.foreign, "quantity": 1}]},
            [(["input", "lines", "0", "variantId"], "INVALID")],
        ),
        (
            {"lines": [{"variantId": market.draft, "quantity": 1}]},
            [(["input", "lines", "0", "variantId"], "NOT_FOUND")],
        ),
        (
            {"lines": [{"variantId": market.archived, "quantity": 1}]},
            [(["input", "lines", "0", "variantId"], "INVALID")],
        ),
        (
            {"lines": [line, {"variantId": plain[1], "quantity": 1}, line]},
            [(["input", "lines", "2", "variantId"], "DUPLICATE")],
        ),
        (
            {"lines": [{"variantId": ruled, "quantity": 5}]},
            [(["input", "lines", "0", "quantity"], "BELOW_MINIMUM_QUANTITY")],
        ),
        (
            {"lines": [{"variantId": ruled, "quantity": 12}]},
            [(["input", "lines", "0", "quantity"], "INVALID_QUANTITY_INCREMENT")],
        ),
        (
            {"lines": [{"variantId": ruled, "quantity": 55}]},
            [(["input", "lines", "0", "quantity"], "ABOVE_MAXIMUM_QUANTITY")],
        ),
        (
            {"lines": [{"variantId": plain[0], "quantity": 0}]},
            [(["input", "lines", "0", "quantity"], "INVALID")],
        ),
        (
            {"lines": [{**line, "targetUnitPrice": "0"}]},
            [(["input", "lines", "0", "targetUnitPrice"], "INVALID")],
        ),
        (
            {"lines": [{**line, "targetUnitPrice": "1.005"}]},
            [(["input", "lines", "0", "targetUnitPrice"], "INVALID")],
        ),
        (
            {"lines": [{**line, "targetUnitPrice": "12.5"}], "currency": "JPY"},
            [(["input", "lines", "0", "targetUnitPrice"], "INVALID")],
        ),
        (
            {
                "lines": [
                    {"variantId": plain[0], "quantity": 2_000_000, "targetUnitPrice": "1000000000"}
                ]
            },
            [(["input", "lines", "0", "quantity"], "INVALID")],
        ),
        ({"lines": [line], "note": "x" * 2001}, [(["input", "note"], "INVALID")]),
        ({"lines": [line], "neededBy": YESTERDAY}, [(["input", "neededBy"], "INVALID")]),
        ({"lines": [line], "sellerId": "bm9wZQ=="}, [(["input", "sellerId"], "NOT_FOUND")]),
        (
            {"lines": [line], "sellerId": market.buyer.company_id},
            [(["input", "sellerId"], "INVALID")],
        ),
        (
            {"lines": [line], "sellerId": market.other_buyer.company_id},
            [(["input", "sellerId"], "INVALID")],
        ),
        (
            {
                "lines": [
                    {"variantId": plain[0], "quantity": 0},
                    {"variantId": ruled, "quantity": 5, "targetUnitPrice": "-1"},
                ],
                "note": "x" * 2001,
            },
            [
                (["input", "lines", "0", "quantity"], "INVALID"),
                (["input", "lines", "1", "quantity"], "BELOW_MINIMUM_QUANTITY"),
                (["input", "lines", "1", "targetUnitPrice"], "INVALID"),
                (["input", "note"], "INVALID"),
            ],
        ),
    ]


async def test_bad_requests_are_refused_at_their_paths(client, services, market):
    for change, expected in _request_cases(market):
        counts = await written(services)
        body = await gql(
            client,
            REQUEST_QUOTE,
            {"input": {"sellerId": market.seller.company_id, **change}},
            token=market.buyer.token,
        )
        payload = body["data"]["requestQuote"]
        assert (payload["quoteRequest"], codes(payload)) == (None, expected), change.keys()
        assert await written(services) == counts


async def test_a_company_cannot_ask_itself_for_a_quote(client, services, market):
    payload = await ask(client, market.stranger, market.stranger, [(market.foreign, 1)])
    assert codes(payload) == [(["input", "sellerId"], "INVALID")]


def _quote_cases(market: Market) -> list[tuple[dict[str, Any], list[tuple[list[str], str]]]]:
    plain, ruled = market.plain, market.ruled
    line = {"variantId": plain[0], "quantity": 5, "unitPrice": "9.00"}
    at = ["input", "lines", "0"]
    return [
        ({"lines": []}, [(["input", "lines"], "INVALID")]),
        ({"lines": [line] * 101}, [(["input", "lines"], "INVALID")]),
        ({"lines": [{**line, "unitPrice": "0"}]}, [([*at, "unitPrice"], "INVALID")]),
        ({"lines": [{**line, "unitPrice": "-3"}]}, [([*at, "unitPrice"], "INVALID")]),
        ({"lines": [{**line, "unitPrice": "9.001"}]}, [([*at, "unitPrice"], "INVALID")]),
        (
            {"lines": [{**line, "unitPrice": "9.5"}], "currency": "JPY"},
            [([*at, "unitPrice"], "INVALID")],
        ),
        ({"lines": [{**line, "unitPrice": "1000000000.01"}]}, [([*at, "unitPrice"], "INVALID")]),
        (
            # 2 x 10^6 units at 10^9: 2 x 10^17 cents, above the line bound.
            {"lines": [{**line, "quantity": 2_000_000, "unitPrice": "1000000000"}]},
            [([*at, "quantity"], "INVALID")],
        ),
        (
            {
                "lines": [
                    {"variantId": ruled, "quantity": 15, "unitPrice": "1"},
                    {**line, "quantity": 3},
                ]
            },
            [],
        ),
        (
            {"lines": [{"variantId": ruled, "quantity": 9, "unitPrice": "1"}]},
            [([*at, "quantity"], "BELOW_MINIMUM_QUANTITY")],
        ),
        (
            {"lines": [{"variantId": ruled, "quantity": 11, "unitPrice": "1"}]},
            [([*at, "quantity"], "INVALID_QUANTITY_INCREMENT")],
        ),
        (
            {"lines": [{"variantId": ruled, "quantity": 60, "unitPrice": "1"}]},
            [([*at, "quantity"], "ABOVE_MAXIMUM_QUANTITY")],
        ),
        (
            {"lines": [{**line, "variantId": market.foreign}]},
            [([*at, "variantId"], "INVALID")],
        ),
        ({"lines": [line, line]}, [(["input", "lines", "1", "variantId"], "DUPLICATE")]),
        (
            {"lines": [line], "validUntil": in_days(-1)},
            [(["input", "validUntil"], "INVALID")],
        ),
        (
            {"lines": [line], "validUntil": in_days(91)},
            [(["input", "validUntil"], "INVALID")],
        ),
        ({"lines": [line], "note": "n" * 2001}, [(["input", "note"], "INVALID")]),
    ]


async def test_bad_quotes_are_refused_at_their_paths(client, services, market):
    request_id = await opened(client, market)
    for change, expected in _quote_cases(market):
        if not expected:
            continue  # the valid one is submitted last, below
        counts = await written(services)
        body = await gql(
            client,
            SUBMIT,
            {"id": request_id, "input": {"validUntil": in_days(3), **change}},
            token=market.seller.token,
        )
        payload = body["data"]["submitQuote"]
        assert (payload["quote"], codes(payload)) == (None, expected), change.keys()
        assert await written(services) == counts
    # Quantities that keep the rules (10 + 5, and any quantity of a plain variant) pass.
    (valid,) = [change for change, expected in _quote_cases(market) if not expected]
    body = await gql(
        client,
        SUBMIT,
        {"id": request_id, "input": {"validUntil": in_days(3), **valid}},
        token=market.seller.token,
    )
    assert body["data"]["submitQuote"]["userErrors"] == []
    assert body["data"]["submitQuote"]["quote"]["total"]["amount"] == "42.00"


async def test_a_bad_address_on_accept_is_refused_at_its_path(client, services, market):
    _, quote_id = await quoted(client, market)
    counts = await written(services)
    refused = await accept(client, market.buyer, quote_id, {**ADDRESS, "city": " ", "name": ""})
    assert codes(refused) == [
        (["shippingAddress", "name"], "INVALID"),
        (["shippingAddress", "city"], "INVALID"),
    ]
    assert await written(services) == counts


# --- who sees what -----------------------------------------------------------------------------


async def test_a_third_company_never_sees_a_request(client, services, market):
    request_id, quote_id = await quoted(client, market)
    stranger = market.stranger
    assert await read(client, stranger, request_id) is None
    for global_id in (request_id, quote_id):
        body = await gql(client, NODE, {"id": global_id}, token=stranger.token)
        assert body["data"]["node"] is None
    body = await gql(client, LIST, {"first": 100}, token=stranger.token)
    listed = [edge["node"]["id"] for edge in body["data"]["quoteRequests"]["edges"]]
    assert request_id not in listed
    counts = await written(services)
    found = await submit(client, stranger, request_id, [(market.plain[0], 5, "1.00")])
    assert codes(found) == [(["requestId"], "NOT_FOUND")]
    assert codes(await accept(client, stranger, quote_id)) == [(["quoteId"], "NOT_FOUND")]
    assert codes(await decline(client, stranger, quote_id)) == [(["quoteId"], "NOT_FOUND")]
    assert codes(await cancel(client, stranger, request_id)) == [(["requestId"], "NOT_FOUND")]
    assert await written(services) == counts
    # Anonymous viewers are refused before anything.
    body = await gql(client, READ, {"id": request_id}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_lists_filter_by_status_and_role_and_page_newest_first(client, services, market):
    # A fresh buyer, so that its list holds exactly what this test sends.
    buyer = await register(client, buyer=True)
    mine = dataclasses.replace(market, buyer=buyer)
    sent = [await opened(client, mine) for _ in range(3)]
    answered, _ = await quoted(client, mine)
    await cancel(client, buyer, sent[0])
    newest_first = [answered, sent[2], sent[1], sent[0]]

    async def listed(who: Account, **variables: Any) -> tuple[int, list[str]]:
        body = await gql(client, LIST, {"first": 100, **variables}, token=who.token)
        found = body["data"]["quoteRequests"]
        return found["totalCount"], [edge["node"]["id"] for edge in found["edges"]]

    assert await listed(buyer) == (4, newest_first)
    assert await listed(buyer, role="BUYER") == (4, newest_first)
    assert await listed(buyer, role="SELLER") == (0, [])
    assert await listed(buyer, status="OPEN") == (2, [sent[2], sent[1]])
    assert await listed(buyer, status="QUOTED") == (1, [answered])
    assert await listed(buyer, status="CANCELLED", role="BUYER") == (1, [sent[0]])
    # The seller sees them too (the newest of all its requests come first).
    total, seller_view = await listed(market.seller, role="SELLER")
    assert seller_view[:4] == newest_first and total >= 4

    pages, after = [], None
    while True:
        body = await gql(client, LIST, {"first": 3, "after": after}, token=buyer.token)
        page = body["data"]["quoteRequests"]
        pages.append([edge["node"]["id"] for edge in page["edges"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == [newest_first[:3], newest_first[3:]]
    body = await gql(client, LIST, {"first": 101}, token=buyer.token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- batching ------------------------------------------------------------------------------

NESTED = """
query Nested($first: Int!) {
  quoteRequests(first: $first, role: BUYER) {
    edges { node {
      id buyer { name } seller { name } requestedBy { email }
      lines { quantity variant { sku } targetUnitPrice { amount } }
      quotes { version total { amount } lines { quantity variant { sku } unitPrice { amount } } }
      order { number lines { quantity } }
    } }
  }
}
"""


async def test_nested_reads_cost_one_statement_per_level(
    client, services, market, statement_counter
):
    buyer = await register(client, buyer=True)
    mine = dataclasses.replace(market, buyer=buyer)
    lines = [(market.plain[0], 2), (market.plain[1], 3)]
    for index in range(6):
        request_id = await opened(client, mine, lines)
        payload = await submit(
            client, market.seller, request_id, [(v, q, "1.50") for v, q in lines]
        )
        if index % 2:
            assert (await accept(client, buyer, payload["quote"]["id"]))["userErrors"] == []

    async def statements(first: int) -> list[str]:
        statement_counter.reset()
        body = await gql(client, NESTED, {"first": first}, token=buyer.token)
        statement_counter.active = False
        edges = body["data"]["quoteRequests"]["edges"]
        assert len(edges) == first
        assert all(len(edge["node"]["quotes"][0]["lines"]) == 2 for edge in edges)
        return list(statement_counter.statements)

    few, many = await statements(2), await statements(6)
    assert len(few) == len(many), many
    # The page; companies, users, memberships, request lines, quotes, orders; variants, quote
    # lines, order lines.
    assert len(many) <= 10, many
