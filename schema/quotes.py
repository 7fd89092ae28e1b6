"""Quotes (RFQ): requests for quotation, quotes and counter-offers, and their mutations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.types import Info

from auth.permissions import authenticated, buyer
from domain.money import Money as MoneyValue
from domain.orders import Side
from domain.quotes import MAX_LINES, MAX_NOTE_LENGTH, MAX_VALIDITY
from domain.quotes import QuoteEventKind as QuoteEventKindValue
from domain.quotes import QuoteRequestStatus as QuoteRequestStatusValue
from domain.quotes import QuoteStatus as QuoteStatusValue
from resolvers import orders as order_resolvers
from resolvers import quotes as quote_resolvers
from resolvers.context import Context
from resolvers.global_ids import key_of, to_global_id
from resolvers.order_placement import Address as AddressValue
from resolvers.outcome import Outcome
from schema.catalog import ProductVariant
from schema.common import (
    Connection,
    CurrencyCode,
    Deferred,
    Money,
    Node,
    UserError,
    two_party_connection,
    user_errors,
)
from schema.companies import Company, User
from schema.orders import (
    AddressInput,
    Order,
    OrderPayload,
    OrderRole,
    _party_user,  # the business-contact rule of orders applies to quote requests as well
)

QuoteRequestStatus = strawberry.enum(
    QuoteRequestStatusValue,
    name="QuoteRequestStatus",
    description="Where a request for quotation stands. OPEN: the seller's move (a new request, "
    "or the buyer countered). QUOTED: the buyer's move (a seller's quote is pending). Final: "
    "ACCEPTED (it became an order), DECLINED, CANCELLED (by the buyer) or EXPIRED (the pending "
    "quote ran out).",
)
QuoteStatus = strawberry.enum(
    QuoteStatusValue,
    name="QuoteStatus",
    description="Where one quote stands. PENDING: waiting for the other party (at most one "
    "quote of a request is). Then ACCEPTED, DECLINED, SUPERSEDED (a newer version replaced "
    "it), WITHDRAWN (the buyer cancelled the request) or EXPIRED (past validUntil).",
)
# For the quoteUpdated subscription (schema/subscriptions.py): one definition of the kinds.
QuoteEventKind = strawberry.enum(
    QuoteEventKindValue,
    name="QuoteEventKind",
    description="What happened to a request for quotation: REQUESTED (sent), QUOTED (the "
    "seller's first quote), COUNTERED (every later quote, by either side), ACCEPTED, DECLINED, "
    "CANCELLED, EXPIRED.",
)

_VISIBILITY = "Seen only by the buyer and the seller of the request."


async def _company(ctx: Context, company_id: Any) -> Company:
    return Company.from_row(await ctx.loaders.company_by_id.load(company_id))


def _variant(ctx: Context, variant_id: Any) -> Deferred[ProductVariant]:
    async def load() -> ProductVariant:
        # The parties always see what was asked for or quoted, whatever the product is now.
        return ProductVariant.from_row(await ctx.loaders.variant_by_id.load(variant_id), ctx)

    return Deferred(load)


@strawberry.type(description="A line of a request for quotation: what the buyer asks a price for.")
class QuoteRequestLine:
    variant: ProductVariant | Deferred[ProductVariant] = strawberry.field(
        graphql_type=ProductVariant, description="The variant asked for."
    )
    quantity: int = strawberry.field(
        description="Units asked for; follows the variant's minimum, increment and maximum."
    )
    target_unit_price: Money | None = strawberry.field(
        description="The unit price the buyer hopes for, in the request's currency; null when "
        "none was named."
    )


@strawberry.type(description="A line of a quote: a variant, how many, and the price per unit.")
class QuoteLine:
    variant: ProductVariant | Deferred[ProductVariant] = strawberry.field(
        graphql_type=ProductVariant, description="The variant quoted."
    )
    quantity: int = strawberry.field(
        description="Units quoted; follows the variant's minimum, increment and maximum."
    )
    unit_price: Money = strawberry.field(
        description="The price per unit, in the quote's currency (volume tiers do not apply)."
    )
    line_total: Money = strawberry.field(
        description="unitPrice times quantity, in the quote's currency."
    )


@strawberry.type(
    description="One version of the offer on a request for quotation: the seller's quote or a "
    "counter-offer by either side. Accepting a seller's quote places an order at its prices. "
    + _VISIBILITY
)
class Quote(Node):
    status: QuoteStatus = strawberry.field(  # type: ignore[valid-type]
        description="Where this quote stands (see QuoteStatus)."
    )
    version: int = strawberry.field(
        description="1 for the first quote of the request, one more for each later one."
    )
    proposed_by: OrderRole = strawberry.field(  # type: ignore[valid-type]
        description="Which party proposed it: SELLER (an offer) or BUYER (a counter-offer). "
        "Only a seller's quote can be accepted."
    )
    valid_until: datetime = strawberry.field(
        description="The quote can be accepted until this moment (ISO 8601, UTC); it expires then."
    )
    currency: CurrencyCode = strawberry.field(description="The currency of every line.")
    total: Money = strawberry.field(description="The sum of the lines' totals, in `currency`.")
    note: str | None = strawberry.field(
        description="The proposing party's remarks (terms, delivery); null when none."
    )
    created_at: datetime = strawberry.field(description="When it was proposed (ISO 8601, UTC).")
    lines: list[QuoteLine] | Deferred[list[QuoteLine]] = strawberry.field(
        graphql_type=list[QuoteLine],
        description="What is offered, in the proposer's order; at most 100.",
    )
    quote_request: QuoteRequest | Deferred[QuoteRequest] = strawberry.field(
        graphql_type=Annotated["QuoteRequest", strawberry.lazy("schema.quotes")],
        description="The request this quote answers.",
    )

    @classmethod
    def from_row(cls, row: Row[Any], ctx: Context) -> Quote:
        currency = row.currency

        async def lines() -> list[QuoteLine]:
            return [
                QuoteLine(
                    variant=_variant(ctx, line.variant_id),
                    quantity=line.quantity,
                    unit_price=Money.of(MoneyValue(line.unit_price_minor, currency)),
                    line_total=Money.of(MoneyValue(line.line_total_minor, currency)),
                )
                for line in await ctx.loaders.lines_by_quote_id.load(row.id)
            ]

        async def quote_request() -> QuoteRequest:
            return QuoteRequest.from_row(
                await ctx.loaders.quote_request_by_id.load(row.request_id), ctx
            )

        return cls(
            id=strawberry.ID(to_global_id("Quote", row.id)),
            status=QuoteStatusValue(row.status),
            version=row.version,
            proposed_by=Side(row.proposed_by),
            valid_until=row.valid_until,
            currency=currency,
            total=Money.of(MoneyValue(row.total_minor, currency)),
            note=row.note,
            created_at=row.created_at,
            lines=Deferred(lines),
            quote_request=Deferred(quote_request),
        )


@strawberry.type(
    description="A buyer's request to one seller for prices on some variants and quantities, "
    "and the negotiation that follows (`quotes`). " + _VISIBILITY
)
class QuoteRequest(Node):
    status: QuoteRequestStatus = strawberry.field(  # type: ignore[valid-type]
        description="Where the request stands, and whose move it is (see QuoteRequestStatus)."
    )
    currency: CurrencyCode = strawberry.field(
        description="The currency of the target prices; quotes are in it unless they say otherwise."
    )
    note: str | None = strawberry.field(
        description="The buyer's remarks to the seller; null when none."
    )
    needed_by: date | None = strawberry.field(
        description="When the buyer needs the goods; null when not said."
    )
    close_reason: str | None = strawberry.field(
        description="The reason given when the request was declined or cancelled; null otherwise."
    )
    created_at: datetime = strawberry.field(description="When it was sent (ISO 8601, UTC).")
    updated_at: datetime = strawberry.field(
        description="When its status last changed (ISO 8601, UTC)."
    )
    buyer: Company | Deferred[Company] = strawberry.field(
        graphql_type=Company, description="The company asking for prices."
    )
    seller: Company | Deferred[Company] = strawberry.field(
        graphql_type=Company, description="The company asked."
    )
    requested_by: User | Deferred[User | None] | None = strawberry.field(
        graphql_type=User | None,
        description="The buyer's user who sent the request: both parties see their name, email "
        "and company (the business contact for this request); null when the user no longer "
        "belongs to the buyer company. `memberRole` is shown to the user's own colleagues only.",
    )
    lines: list[QuoteRequestLine] | Deferred[list[QuoteRequestLine]] = strawberry.field(
        graphql_type=list[QuoteRequestLine],
        description="What the buyer asks prices for, in its order; at most 100.",
    )
    quotes: list[Quote] | Deferred[list[Quote]] = strawberry.field(
        graphql_type=list[Quote],
        description="Every offer and counter-offer, oldest first (by version).",
    )
    order: Order | Deferred[Order | None] | None = strawberry.field(
        graphql_type=Order | None,
        description="The order placed when a quote was accepted; null until then.",
    )

    @classmethod
    def from_row(cls, row: Row[Any], ctx: Context) -> QuoteRequest:
        currency = row.currency

        async def lines() -> list[QuoteRequestLine]:
            return [
                QuoteRequestLine(
                    variant=_variant(ctx, line.variant_id),
                    quantity=line.quantity,
                    target_unit_price=Money.of(MoneyValue(line.target_unit_price_minor, currency))
                    if line.target_unit_price_minor is not None
                    else None,
                )
                for line in await ctx.loaders.lines_by_quote_request_id.load(row.id)
            ]

        async def quotes() -> list[Quote]:
            rows = await ctx.loaders.quotes_by_request_id.load(row.id)
            return [Quote.from_row(quote, ctx) for quote in rows]

        async def order() -> Order | None:
            if row.order_id is None:
                return None
            found = await order_resolvers.order_by_id(ctx, row.order_id)
            return Order.from_row(found, ctx) if found else None

        return cls(
            id=strawberry.ID(to_global_id("QuoteRequest", row.id)),
            status=QuoteRequestStatusValue(row.status),
            currency=currency,
            note=row.note,
            needed_by=row.needed_by,
            close_reason=row.close_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            buyer=Deferred(lambda: _company(ctx, row.buyer_id)),
            seller=Deferred(lambda: _company(ctx, row.seller_id)),
            requested_by=Deferred(lambda: _party_user(ctx, row.requested_by_id, row)),
            lines=Deferred(lines),
            quotes=Deferred(quotes),
            order=Deferred(order),
        )


async def quote_request_node(info: Info[Context, None], key: Any) -> QuoteRequest | None:
    """`node(id:)` for a QuoteRequest: null unless the viewer's company is one of its parties."""
    row = await quote_resolvers.quote_request_by_id(info.context, key)
    return QuoteRequest.from_row(row, info.context) if row else None


async def quote_node(info: Info[Context, None], key: Any) -> Quote | None:
    """`node(id:)` for a Quote: null unless the viewer's company is a party of its request."""
    row = await quote_resolvers.quote_by_id(info.context, key)
    return Quote.from_row(row, info.context) if row else None


# --- inputs and payloads ---------------------------------------------------------------------


@strawberry.input(description="A line of a request for quotation.")
class QuoteRequestLineInput:
    variant_id: strawberry.ID = strawberry.field(
        description="A variant of the seller's, of an ACTIVE product; each at most once."
    )
    quantity: int = strawberry.field(
        description="Units; must follow the variant's minimum, increment and maximum."
    )
    target_unit_price: Decimal | None = strawberry.field(
        default=None,
        description="The unit price you hope for, in the request's currency: above zero, with "
        "at most the currency's decimals.",
    )


@strawberry.input(description="Ask one seller for prices.")
class QuoteRequestInput:
    seller_id: strawberry.ID = strawberry.field(
        description="The seller company asked (not your own)."
    )
    lines: list[QuoteRequestLineInput] = strawberry.field(
        description=f"What you ask prices for: 1 to {MAX_LINES} lines."
    )
    note: str | None = strawberry.field(
        default=None, description=f"For the seller; at most {MAX_NOTE_LENGTH} characters."
    )
    needed_by: date | None = strawberry.field(
        default=None, description="When you need the goods; today or later."
    )
    currency: CurrencyCode | None = strawberry.field(
        default=None,
        description="The currency of the target prices and, unless they say otherwise, of the "
        "quotes; your company's default currency when left out.",
    )


@strawberry.input(description="A line of a quote.")
class QuoteLineInput:
    variant_id: strawberry.ID = strawberry.field(
        description="A variant of the request's seller, of an ACTIVE product; each at most once."
    )
    quantity: int = strawberry.field(
        description="Units; must follow the variant's minimum, increment and maximum."
    )
    unit_price: Decimal = strawberry.field(
        description="The price per unit in the quote's currency: above zero, with at most the "
        "currency's decimals. Volume tiers do not apply to quotes."
    )


@strawberry.input(description="An offer (seller) or a counter-offer (either side).")
class QuoteInput:
    lines: list[QuoteLineInput] = strawberry.field(
        description=f"What is offered: 1 to {MAX_LINES} lines; they need not match the request's."
    )
    valid_until: datetime = strawberry.field(
        description=f"Until when the quote can be accepted: in the future, at most "
        f"{MAX_VALIDITY.days} days ahead, with a timezone."
    )
    note: str | None = strawberry.field(
        default=None, description=f"Terms, delivery; at most {MAX_NOTE_LENGTH} characters."
    )
    currency: CurrencyCode | None = strawberry.field(
        default=None,
        description="The currency of every line; the request's currency when left out.",
    )


@strawberry.type(description="The result of sending or changing a request for quotation.")
class QuoteRequestPayload:
    quote_request: QuoteRequest | None = strawberry.field(
        description="The request as it is now; null when the mutation was refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.type(description="The result of proposing or declining a quote.")
class QuotePayload:
    quote: Quote | None = strawberry.field(
        description="The quote as it is now (its request under `quoteRequest`); null when the "
        "mutation was refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


async def _request_payload(info: Info[Context, None], outcome: Outcome) -> QuoteRequestPayload:
    request = None
    if outcome.key is not None:
        row = await quote_resolvers.quote_request_by_id(info.context, outcome.key)
        request = QuoteRequest.from_row(row, info.context) if row else None
    return QuoteRequestPayload(quote_request=request, user_errors=user_errors(outcome.problems))


async def _quote_payload(info: Info[Context, None], outcome: Outcome) -> QuotePayload:
    quote = None
    if outcome.key is not None:
        row = await quote_resolvers.quote_by_id(info.context, outcome.key)
        quote = Quote.from_row(row, info.context) if row else None
    return QuotePayload(quote=quote, user_errors=user_errors(outcome.problems))


def _address(address: AddressInput) -> AddressValue:
    return AddressValue(
        name=address.name,
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        postal_code=address.postal_code,
        country=address.country,
    )


@strawberry.type
class QuoteQuery:
    @strawberry.field(
        description="Your company's requests for quotation, sent and received, newest first. "
        "`first` at most 100 (default 20); `status` and `role` (BUYER: sent, SELLER: received) "
        "narrow the list.",
        extensions=authenticated(),
    )
    async def quote_requests(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        status: QuoteRequestStatus | None = None,  # type: ignore[valid-type]
        role: OrderRole | None = None,  # type: ignore[valid-type]
    ) -> Connection[QuoteRequest]:
        ctx = info.context
        return await two_party_connection(
            ctx,
            quote_resolvers.QUOTE_REQUESTS,
            first=first,
            after=after,
            status=QuoteRequestStatusValue(status) if status else None,
            role=Side(role) if role else None,
            node_of=lambda row: QuoteRequest.from_row(row, ctx),
        )

    @strawberry.field(
        description="One of your company's requests for quotation; null for anyone else's.",
        extensions=authenticated(),
    )
    async def quote_request(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> QuoteRequest | None:
        key = key_of(id, "QuoteRequest")
        return await quote_request_node(info, key) if key else None


@strawberry.type
class QuoteMutation:
    @strawberry.mutation(
        description="Ask one seller for prices (buyers): the request starts OPEN, waiting for "
        "the seller's quote. Lines follow the variants' quantity rules; userErrors point into "
        '`input` (e.g. ["input", "lines", "0", "quantity"]).',
        extensions=buyer(),
    )
    async def request_quote(
        self, info: Info[Context, None], input: QuoteRequestInput
    ) -> QuoteRequestPayload:
        spec = quote_resolvers.QuoteRequestSpec(
            seller_id=input.seller_id,
            lines=[
                quote_resolvers.RequestLineSpec(
                    variant_id=line.variant_id,
                    quantity=line.quantity,
                    target_unit_price=line.target_unit_price,
                )
                for line in input.lines
            ],
            note=input.note,
            needed_by=input.needed_by,
            currency=input.currency,
        )
        return await _request_payload(info, await quote_resolvers.request_quote(info.context, spec))

    @strawberry.mutation(
        description="Propose a new version of the offer on a request. The seller quotes an OPEN "
        "request or revises its pending quote (the request becomes QUOTED); the buyer counters "
        "a pending seller quote (the request becomes OPEN again). The pending quote it replaces "
        "becomes SUPERSEDED. Prices may differ from the volume tiers; quantities follow the "
        "variants' rules. Not your move: FORBIDDEN; a final request: INVALID_TRANSITION; a "
        "pending quote past validUntil: EXPIRED (and the request expires).",
        extensions=authenticated(),
    )
    async def submit_quote(
        self, info: Info[Context, None], request_id: strawberry.ID, input: QuoteInput
    ) -> QuotePayload:
        spec = quote_resolvers.QuoteSpec(
            lines=[
                quote_resolvers.QuoteLineSpec(
                    variant_id=line.variant_id, quantity=line.quantity, unit_price=line.unit_price
                )
                for line in input.lines
            ],
            valid_until=input.valid_until,
            note=input.note,
            currency=input.currency,
        )
        outcome = await quote_resolvers.submit_quote(info.context, request_id, spec)
        return await _quote_payload(info, outcome)

    @strawberry.mutation(
        description="Accept a seller's pending quote (buyers): one order at the quoted prices "
        "in the quote's currency, stock reserved, shipped to `shippingAddress`; the quote and "
        "the request become ACCEPTED and `QuoteRequest.order` names the order. Safe to retry: "
        "accepting an accepted quote again returns the same order (with another address it is "
        'a CONFLICT). Past validUntil: EXPIRED. Short of stock: OUT_OF_STOCK at ["quote", '
        '"lines", i, "quantity"] (the i-th line of `quote.lines`), and nothing is written.',
        extensions=buyer(),
    )
    async def accept_quote(
        self, info: Info[Context, None], quote_id: strawberry.ID, shipping_address: AddressInput
    ) -> OrderPayload:
        ctx = info.context
        outcome = await quote_resolvers.accept_quote(ctx, quote_id, _address(shipping_address))
        order = None
        if outcome.key is not None:
            row = await order_resolvers.order_by_id(ctx, outcome.key)
            order = Order.from_row(row, ctx) if row else None
        return OrderPayload(order=order, user_errors=user_errors(outcome.problems))

    @strawberry.mutation(
        description="Decline the other party's pending quote: the buyer a seller's quote, the "
        "seller a buyer's counter-offer. The quote and the request become DECLINED; `reason` "
        f"(at most {MAX_NOTE_LENGTH} characters) is kept as the request's closeReason.",
        extensions=authenticated(),
    )
    async def decline_quote(
        self, info: Info[Context, None], quote_id: strawberry.ID, reason: str | None = None
    ) -> QuotePayload:
        outcome = await quote_resolvers.decline_quote(info.context, quote_id, reason)
        return await _quote_payload(info, outcome)

    @strawberry.mutation(
        description="Withdraw your OPEN or QUOTED request (buyers): it becomes CANCELLED and a "
        f"pending quote WITHDRAWN; `reason` (at most {MAX_NOTE_LENGTH} characters) is kept as "
        "its closeReason.",
        extensions=buyer(),
    )
    async def cancel_quote_request(
        self, info: Info[Context, None], request_id: strawberry.ID, reason: str | None = None
    ) -> QuoteRequestPayload:
        outcome = await quote_resolvers.cancel_quote_request(info.context, request_id, reason)
        return await _request_payload(info, outcome)
