"""Orders: types, the orders queries, checkout and status changes."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.types import Info

from auth.permissions import authenticated, buyer
from domain.money import Money as MoneyValue
from domain.orders import OrderStatus as OrderStatusValue
from domain.orders import PaymentStatus as PaymentStatusValue
from domain.orders import Side
from resolvers import checkout as checkout_resolvers
from resolvers import orders as order_resolvers
from resolvers.context import Context
from resolvers.global_ids import key_of, to_global_id
from resolvers.outcome import Outcome
from schema.catalog import ProductVariant
from schema.common import (
    Connection,
    CountryCode,
    CurrencyCode,
    Deferred,
    Money,
    Node,
    UserError,
    two_party_connection,
    user_errors,
)
from schema.companies import Company, User

OrderStatus = strawberry.enum(
    OrderStatusValue,
    name="OrderStatus",
    description="PLACED → CONFIRMED (seller) → SHIPPED (seller) → DELIVERED (buyer, or the seller "
    "with a delivery proof) → COMPLETED (buyer). CANCELLED from PLACED or CONFIRMED; DISPUTED "
    "from SHIPPED or DELIVERED (buyer).",
)
PaymentStatus = strawberry.enum(
    PaymentStatusValue,
    name="PaymentStatus",
    description="Where the payment of an order stands: UNPAID, AUTHORIZED, IN_ESCROW (held "
    "until the order completes), RELEASED (paid out to the seller) or REFUNDED (returned to the "
    "buyer). Every order is placed UNPAID.",
)
OrderRole = strawberry.enum(
    Side,
    name="OrderRole",
    description="Which side of its orders your company wants: what it bought or what it sold.",
)


# Who acted on an order (placedBy, history.by) is that order's business contact: both parties
# see the user's name, email and company. A user who does not (or no longer does) belong to one
# of the order's two companies is not shown (null); the member role is shown to colleagues only.
PARTY_USER_RULE = (
    "Both parties of the order see this user's name, email and company (the business contact "
    "for this order); null when the user does not belong to the buyer or seller company (any "
    "more). `memberRole` is shown to the user's own colleagues only."
)


async def _party_user(ctx: Context, user_id: Any, order: Row[Any]) -> User | None:
    if user_id is None:
        return None
    loaders = ctx.loaders
    user, membership = await asyncio.gather(
        loaders.user_by_id.load(user_id), loaders.membership_by_user_id.load(user_id)
    )
    if user is None or membership is None:
        return None
    if membership.company_id not in (order.buyer_id, order.seller_id):
        return None
    company = await loaders.company_by_id.load(membership.company_id)
    role = membership.role if membership.company_id == ctx.viewer.company_id else None
    return User.from_rows(user, company, role)


async def _placed_by(ctx: Context, order: Row[Any]) -> User:
    """Who checked out: always shown (orders keep their placing user: ON DELETE RESTRICT)."""
    shown = await _party_user(ctx, order.placed_by_id, order)
    if shown is not None:
        return shown
    user = await ctx.loaders.user_by_id.load(order.placed_by_id)
    return User.from_rows(user, None, None)


async def _company(ctx: Context, company_id: Any) -> Company:
    return Company.from_row(await ctx.loaders.company_by_id.load(company_id))


@strawberry.type(description="Where an order is shipped.")
class Address:
    name: str = strawberry.field(description="The recipient: a person or a company.")
    line1: str = strawberry.field(description="Street and number.")
    line2: str | None = strawberry.field(description="Floor, suite, building; null when not given.")
    city: str = strawberry.field(description="The city.")
    postal_code: str = strawberry.field(description="As written in the destination country.")
    country: CountryCode = strawberry.field(description="The destination country.")


@strawberry.type(description="A line of an order, priced when the order was placed.")
class OrderLine:
    variant: ProductVariant | Deferred[ProductVariant] = strawberry.field(
        graphql_type=ProductVariant,
        description="The variant ordered, as it is now (sku and name keep how it was).",
    )
    sku: str = strawberry.field(description="The SKU as it was when ordered.")
    name: str = strawberry.field(description="Product and variant name as they were.")
    quantity: int = strawberry.field(description="Units ordered.")
    unit_price: Money = strawberry.field(description="In the order's currency.")
    line_total: Money = strawberry.field(
        description="unitPrice times quantity, in the order's currency."
    )


@strawberry.type(description="A status change of an order.")
class OrderEvent:
    status: OrderStatus = strawberry.field(description="The status the order moved to.")  # type: ignore[valid-type]
    at: datetime = strawberry.field(description="When (ISO 8601, UTC).")
    by: User | Deferred[User | None] | None = strawberry.field(
        graphql_type=User | None,
        description="Who made the change (null for the system). " + PARTY_USER_RULE,
    )
    note: str | None = strawberry.field(description="A reason, a proof of delivery, a remark.")


@strawberry.type(description="An order from one buyer company to one seller company.")
class Order(Node):
    number: str = strawberry.field(description="Human-readable, e.g. ORD-2026-000123.")
    status: OrderStatus = strawberry.field(  # type: ignore[valid-type]
        description="Where the order is in its life cycle (see OrderStatus)."
    )
    payment_status: PaymentStatus = strawberry.field(description="Where its payment stands.")  # type: ignore[valid-type]
    currency: CurrencyCode = strawberry.field(description="What the buyer is charged in.")
    subtotal: Money = strawberry.field(
        description="The sum of the lines' totals, in the order's currency."
    )
    total: Money = strawberry.field(
        description="What the buyer is charged, in the order's currency; equal to subtotal for "
        "now (no shipping or tax)."
    )
    shipping_address: Address = strawberry.field(description="Where the order is shipped.")
    note: str | None = strawberry.field(
        description="The buyer's note to the seller from checkout; null when none."
    )
    created_at: datetime = strawberry.field(
        description="When the order was placed (ISO 8601, UTC)."
    )
    buyer: Company | Deferred[Company] = strawberry.field(
        graphql_type=Company, description="The company that ordered."
    )
    seller: Company | Deferred[Company] = strawberry.field(
        graphql_type=Company, description="The company that sells and ships."
    )
    placed_by: User | Deferred[User] = strawberry.field(
        graphql_type=User,
        description="The buyer's user who checked out (kept even if they later leave the "
        "company; their company then reads as null). " + PARTY_USER_RULE,
    )
    lines: list[OrderLine] | Deferred[list[OrderLine]] = strawberry.field(
        graphql_type=list[OrderLine], description="What was ordered, priced at checkout."
    )
    history: list[OrderEvent] | Deferred[list[OrderEvent]] = strawberry.field(
        graphql_type=list[OrderEvent], description="Every status change, oldest first."
    )

    @classmethod
    def from_row(cls, row: Row[Any], ctx: Context) -> Order:
        currency = row.currency

        async def lines() -> list[OrderLine]:
            rows = await ctx.loaders.lines_by_order_id.load(row.id)
            return [_line(line, currency, ctx) for line in rows]

        async def history() -> list[OrderEvent]:
            rows = await ctx.loaders.events_by_order_id.load(row.id)
            return [_event(event, row, ctx) for event in rows]

        address = row.shipping_address
        return cls(
            id=strawberry.ID(to_global_id("Order", row.id)),
            number=row.number,
            status=OrderStatusValue(row.status),
            payment_status=PaymentStatusValue(row.payment_status),
            currency=currency,
            subtotal=Money.of(MoneyValue(row.subtotal_minor, currency)),
            total=Money.of(MoneyValue(row.total_minor, currency)),
            shipping_address=Address(
                name=address["name"],
                line1=address["line1"],
                line2=address.get("line2"),
                city=address["city"],
                postal_code=address["postalCode"],
                country=address["country"],
            ),
            note=row.note,
            created_at=row.created_at,
            buyer=Deferred(lambda: _company(ctx, row.buyer_id)),
            seller=Deferred(lambda: _company(ctx, row.seller_id)),
            placed_by=Deferred(lambda: _placed_by(ctx, row)),
            lines=Deferred(lines),
            history=Deferred(history),
        )


def _event(row: Row[Any], order: Row[Any], ctx: Context) -> OrderEvent:
    async def by() -> User | None:
        return await _party_user(ctx, row.by_user_id, order)

    return OrderEvent(
        status=OrderStatusValue(row.status), at=row.at, by=Deferred(by), note=row.note
    )


def _line(row: Row[Any], currency: str, ctx: Context) -> OrderLine:
    async def variant() -> ProductVariant:
        # The parties may always see what was ordered, even if the product is a draft now.
        return ProductVariant.from_row(await ctx.loaders.variant_by_id.load(row.variant_id), ctx)

    return OrderLine(
        variant=Deferred(variant),
        sku=row.sku,
        name=row.name,
        quantity=row.quantity,
        unit_price=Money.of(MoneyValue(row.unit_price_minor, currency)),
        line_total=Money.of(MoneyValue(row.line_total_minor, currency)),
    )


@strawberry.input(description="A delivery address.")
class AddressInput:
    name: str = strawberry.field(description="The recipient, 1-200 characters.")
    line1: str = strawberry.field(description="Street and number, 1-200 characters.")
    line2: str | None = strawberry.field(
        default=None, description="Floor, suite, building; at most 200 characters."
    )
    city: str = strawberry.field(description="1-120 characters.")
    postal_code: str = strawberry.field(description="1-20 characters.")
    country: CountryCode = strawberry.field(description="The destination country.")


@strawberry.input(description="Turn your cart into orders, one per seller.")
class CheckoutInput:
    shipping_address: AddressInput = strawberry.field(
        description="Where every order of this checkout is shipped."
    )
    currency: CurrencyCode = strawberry.field(
        description="What you are charged in; lines priced in another currency are converted "
        "at the latest rate, which each order records."
    )
    idempotency_key: str = strawberry.field(
        description="Any unique string per checkout attempt (≤ 200 characters): retrying with "
        "the same key returns the same orders and never orders twice."
    )
    note: str | None = strawberry.field(default=None, description="For the sellers.")


@strawberry.type(description="The orders a checkout placed (one per seller).")
class CheckoutPayload:
    orders: list[Order] = strawberry.field(
        description="The orders placed, one per seller; empty when the checkout was refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.type(description="The result of changing an order.")
class OrderPayload:
    order: Order | None = strawberry.field(
        description="The order as it is now; null when the change was refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


async def _order_payload(info: Info[Context, None], outcome: Outcome) -> OrderPayload:
    order = None
    if outcome.key is not None:
        row = await order_resolvers.order_by_id(info.context, outcome.key)
        order = Order.from_row(row, info.context) if row else None
    return OrderPayload(order=order, user_errors=user_errors(outcome.problems))


async def order_node(info: Info[Context, None], key: Any) -> Order | None:
    row = await order_resolvers.order_by_id(info.context, key)
    return Order.from_row(row, info.context) if row else None


@strawberry.type
class OrderQuery:
    @strawberry.field(
        description="Your company's orders, bought and sold, newest first. `first` at most "
        "100 (default 20).",
        extensions=authenticated(),
    )
    async def orders(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        status: OrderStatus | None = None,  # type: ignore[valid-type]
        role: OrderRole | None = None,  # type: ignore[valid-type]
    ) -> Connection[Order]:
        ctx = info.context
        return await two_party_connection(
            ctx,
            order_resolvers.ORDERS,
            first=first,
            after=after,
            status=status,
            role=role,
            node_of=lambda row: Order.from_row(row, ctx),
        )

    @strawberry.field(
        description="One of your company's orders; null for anyone else's.",
        extensions=authenticated(),
    )
    async def order(self, info: Info[Context, None], id: strawberry.ID) -> Order | None:
        key = key_of(id, "Order")
        return await order_node(info, key) if key else None


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        description="Turn your cart into one order per seller: every line re-priced and "
        "checked, stock reserved, the cart emptied — all or nothing (buyers). Each line costs "
        "its unit price converted into `currency` (half-even), times its quantity: exactly the "
        "cart's `subtotal(currency:)`. A `userErrors` field under `input` points into the "
        'input; one under `cart` points at the cart (`["cart", "lines", i, ...]` is the '
        "i-th line of `cart.lines`), which is what checkout reads. Reusing an idempotency key "
        "for a different checkout (another currency, address or note, or a cart with other "
        'lines) is a CONFLICT at `["input", "idempotencyKey"]`.',
        extensions=buyer(),
    )
    async def checkout(self, info: Info[Context, None], input: CheckoutInput) -> CheckoutPayload:
        address = input.shipping_address
        request = checkout_resolvers.CheckoutRequest(
            address=checkout_resolvers.Address(
                name=address.name,
                line1=address.line1,
                line2=address.line2,
                city=address.city,
                postal_code=address.postal_code,
                country=address.country,
            ),
            currency=input.currency,
            idempotency_key=input.idempotency_key,
            note=input.note,
        )
        result = await checkout_resolvers.checkout(info.context, request)
        rows = await order_resolvers.orders_by_ids(info.context, result.order_ids)
        return CheckoutPayload(
            orders=[Order.from_row(row, info.context) for row in rows],
            user_errors=user_errors(result.problems),
        )

    @strawberry.mutation(
        description="Move an order along its state machine (see OrderStatus); every other move "
        "is an INVALID_TRANSITION. `note` is required to cancel, dispute, or deliver as the "
        "seller (the proof).",
        extensions=authenticated(),
    )
    async def update_order_status(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        status: OrderStatus,  # type: ignore[valid-type]
        note: str | None = None,
    ) -> OrderPayload:
        outcome = await order_resolvers.change_status(
            info.context, id, OrderStatusValue(status), note
        )
        return await _order_payload(info, outcome)

    @strawberry.mutation(
        description="Cancel a PLACED or CONFIRMED order (either side); its stock is released.",
        extensions=authenticated(),
    )
    async def cancel_order(
        self, info: Info[Context, None], id: strawberry.ID, reason: str
    ) -> OrderPayload:
        outcome = await order_resolvers.change_status(
            info.context, id, OrderStatusValue.CANCELLED, reason, note_path="reason"
        )
        return await _order_payload(info, outcome)
