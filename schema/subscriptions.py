"""Subscriptions: live order and quote events over WebSocket (graphql-transport-ws or legacy
graphql-ws), resumable with `since`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from auth.permissions import authenticated
from domain.orders import OrderStatus as OrderStatusValue
from domain.quotes import QuoteEventKind as QuoteEventKindValue
from resolvers import subscriptions as subscription_resolvers
from resolvers.context import Context
from schema.orders import Order, OrderStatus
from schema.quotes import Quote, QuoteEventKind, QuoteRequest

EVENT_ID = (
    "This event's number: increasing across the marketplace (not contiguous for one "
    "subscription). Pass the last one you received as `since` when you subscribe again."
)
SINCE = (
    "`since`: an eventId already received; the events after it are replayed first, then live "
    "ones follow, with no gap and no duplicate. An eventId this API never handed out is "
    "refused (BAD_USER_INPUT). "
)
EXPIRY = (
    "The subscription ends when your access token expires: the socket is closed with code "
    "4401; reconnect with a fresh token and resume with `since`. A subscriber that falls too "
    "far behind gets a SLOW_CONSUMER error and should resume the same way."
)


@strawberry.type(description="An order moved to another status (or was placed).")
class OrderStatusEvent:
    order: Order = strawberry.field(description="The order as it is now.")
    previous_status: OrderStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="The status it left; null when the order was just placed."
    )
    status: OrderStatus = strawberry.field(description="The status it moved to.")  # type: ignore[valid-type]
    at: datetime = strawberry.field(description="When (ISO 8601, UTC).")
    event_id: str = strawberry.field(description=EVENT_ID)

    @classmethod
    def of(cls, change: subscription_resolvers.OrderStatusChange, ctx: Context) -> OrderStatusEvent:
        payload = change.event.payload
        previous = payload.get("previousStatus")
        return cls(
            order=Order.from_row(change.order, ctx),
            previous_status=OrderStatusValue(previous) if previous else None,
            status=OrderStatusValue(payload["status"]),
            at=datetime.fromisoformat(payload["at"]),
            event_id=str(change.event.seq),
        )


@strawberry.type(
    description="A step of a negotiation: a request, an offer, a counter-offer, an end."
)
class QuoteEvent:
    quote_request: QuoteRequest = strawberry.field(description="The request as it is now.")
    quote: Quote | None = strawberry.field(
        description="The quote this step is about, as it is now; null for a new request, or "
        "a request cancelled before any quote."
    )
    kind: QuoteEventKind = strawberry.field(description="What happened.")  # type: ignore[valid-type]
    at: datetime = strawberry.field(description="When (ISO 8601, UTC).")
    event_id: str = strawberry.field(description=EVENT_ID)

    @classmethod
    def of(cls, change: subscription_resolvers.QuoteChange, ctx: Context) -> QuoteEvent:
        payload = change.event.payload
        return cls(
            quote_request=QuoteRequest.from_row(change.request, ctx),
            quote=Quote.from_row(change.quote, ctx) if change.quote is not None else None,
            kind=QuoteEventKindValue(payload["kind"]),
            at=datetime.fromisoformat(payload["at"]),
            event_id=str(change.event.seq),
        )


@strawberry.type(description="Live events of your company's orders and quotes.")
class Subscription:
    @strawberry.subscription(
        description="Status changes of one of your company's orders, or of every order your "
        "company bought or sold when `orderId` is null. " + SINCE + EXPIRY,
        extensions=authenticated(),
    )
    async def order_status_changed(
        self,
        info: Info[Context, None],
        order_id: strawberry.ID | None = None,
        since: str | None = None,
    ) -> AsyncIterator[OrderStatusEvent]:
        ctx = info.context
        changes = await subscription_resolvers.order_status_changes(ctx, order_id, since)
        return _views(changes, lambda change: OrderStatusEvent.of(change, ctx))

    @strawberry.subscription(
        description="Every step of one of your company's quote requests (offers, "
        "counter-offers, acceptance, decline, cancellation, expiry), or of all of them when "
        "`requestId` is null. " + SINCE + EXPIRY,
        extensions=authenticated(),
    )
    async def quote_updated(
        self,
        info: Info[Context, None],
        request_id: strawberry.ID | None = None,
        since: str | None = None,
    ) -> AsyncIterator[QuoteEvent]:
        ctx = info.context
        changes = await subscription_resolvers.quote_changes(ctx, request_id, since)
        return _views(changes, lambda change: QuoteEvent.of(change, ctx))


async def _views(items: AsyncIterator[Any], view: Callable[[Any], Any]) -> AsyncIterator[Any]:
    """Each event as its schema type; an error (e.g. SLOW_CONSUMER) passes through as is, and
    graphql-core sends it as that event's error."""
    async with aclosing(items):  # type: ignore[type-var]
        async for item in items:
            yield item if isinstance(item, GraphQLError) else view(item)
