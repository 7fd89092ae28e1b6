"""Subscriptions: who may follow which stream, `since`, and each event's object as it is now.

Authorization is checked when a subscription starts (the object must be one of the viewer's
company's) and again for every event (the event must concern the viewer's company). A
subscription ends when the viewer's access token expires: the socket is closed with 4401, and
the client reconnects with a fresh token and resumes with `since`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import GraphQLError

from dataloaders.orders import ORDER_BY_ID
from dataloaders.quotes import QUOTE_BY_ID, QUOTE_REQUEST_BY_ID
from realtime.broadcast import SubscriberTooSlow
from realtime.outbox import ORDERS, QUOTES, order_channel, quote_request_channel
from realtime.stream import Scope, StreamEvent, follow, kept_range
from resolvers import orders as order_resolvers
from resolvers import quotes as quote_resolvers
from resolvers.context import Context
from resolvers.errors import BadUserInputError
from resolvers.global_ids import key_of

T = TypeVar("T")

EXPIRY_CLOSE_CODE = 4401
EXPIRY_CLOSE_REASON = "access token expired: reconnect with a fresh token and resume with since"


@dataclass(frozen=True, slots=True)
class OrderStatusChange:
    event: StreamEvent
    # The order as it is when the event is delivered (shared by every subscriber of the event).
    order: Any


@dataclass(frozen=True, slots=True)
class QuoteChange:
    event: StreamEvent
    # The request and the quote the event is about (null for REQUESTED and CANCELLED of a
    # request never quoted), as they are when the event is delivered.
    request: Any
    quote: Any | None


def not_found(what: str) -> GraphQLError:
    return GraphQLError(f"no such {what}", extensions={"code": "NOT_FOUND"})


async def parse_since(ctx: Context, since: str | None) -> int | None:
    """`since` is an eventId this API handed out: a whole number no newer than the newest
    event. Anything else is refused, so a client never waits forever on a number that will
    only be reached by other companies' events."""
    if since is None:
        return None
    # ASCII only: str.isdigit() also accepts "²", which int() refuses.
    if not (since.isascii() and since.isdigit()) or len(since) > 18:
        raise BadUserInputError("`since` must be an eventId received earlier", argument="since")
    value = int(since)
    oldest, newest = await kept_range(ctx.engine)
    if value > newest:
        raise BadUserInputError("`since` is not an eventId of this API", argument="since")
    if value < oldest:
        # Outbox retention deleted events after it: a replay from there would have a gap.
        raise BadUserInputError(
            f"`since` is older than the events kept: the oldest eventId to resume from is "
            f"{oldest} (or subscribe without `since`)",
            argument="since",
            oldestEventId=str(oldest),
        )
    return value


def _company(ctx: Context) -> uuid.UUID:
    company = ctx.viewer.company_id
    if company is None:
        raise GraphQLError("your user belongs to no company", extensions={"code": "FORBIDDEN"})
    return company


async def _scope(
    ctx: Context,
    global_id: str | None,
    type_name: str,
    argument: str,
    noun: str,
    stream: str,
    channel_of: Callable[[uuid.UUID], str],
    visible: Callable[[Context, uuid.UUID], Awaitable[Any]],
) -> Scope:
    """One object's channel when an id is given (it must be the viewer's company's: anything
    else reads as NOT_FOUND), else the viewer's company's whole stream."""
    company = _company(ctx)
    if global_id is None:
        return Scope(stream, company_id=company)
    key = key_of(global_id, type_name)
    if key is None:
        raise BadUserInputError(f"`{argument}` is not a {type_name} ID", argument=argument)
    if await visible(ctx, key) is None:
        raise not_found(noun)
    return Scope(stream, channel=channel_of(key))


async def order_status_changes(
    ctx: Context, order_global_id: str | None, since: str | None
) -> AsyncIterator[OrderStatusChange | GraphQLError]:
    """Checks the arguments now (errors reach the client before any event), then streams."""
    scope = await _scope(
        ctx,
        order_global_id,
        "Order",
        "orderId",
        "order",
        ORDERS,
        order_channel,
        order_resolvers.order_by_id,
    )
    after = await parse_since(ctx, since)

    async def order_of(event: StreamEvent) -> OrderStatusChange:
        order_id = uuid.UUID(event.payload["orderId"])
        rows = await ctx.services.event_reads.get(
            ("order", event.seq), lambda: ORDER_BY_ID.fetch(ctx.engine, keys=[order_id])
        )
        return OrderStatusChange(event, rows[0])

    return _deliver(ctx, scope, after, order_of)


async def quote_changes(
    ctx: Context, request_global_id: str | None, since: str | None
) -> AsyncIterator[QuoteChange | GraphQLError]:
    """Checks the arguments now (errors reach the client before any event), then streams."""
    scope = await _scope(
        ctx,
        request_global_id,
        "QuoteRequest",
        "requestId",
        "quote request",
        QUOTES,
        quote_request_channel,
        quote_resolvers.quote_request_by_id,
    )
    after = await parse_since(ctx, since)

    async def read(event: StreamEvent) -> tuple[Any, Any]:
        request_id = uuid.UUID(event.payload["requestId"])
        quote_id = event.payload.get("quoteId")
        requests, quotes = await asyncio.gather(
            QUOTE_REQUEST_BY_ID.fetch(ctx.engine, keys=[request_id]),
            QUOTE_BY_ID.fetch(ctx.engine, keys=[uuid.UUID(quote_id)]) if quote_id else _none(),
        )
        return requests[0], quotes[0] if quotes else None

    async def change_of(event: StreamEvent) -> QuoteChange:
        request, quote = await ctx.services.event_reads.get(
            ("quote", event.seq), lambda: read(event)
        )
        return QuoteChange(event, request, quote)

    return _deliver(ctx, scope, after, change_of)


async def _none() -> list[Any]:
    return []


def _broadcast(ctx: Context) -> Any:
    broadcast = ctx.services.broadcast
    if broadcast is None:
        raise GraphQLError(
            "subscriptions are not available", extensions={"code": "INTERNAL_SERVER_ERROR"}
        )
    return broadcast


async def _deliver(
    ctx: Context,
    scope: Scope,
    since: int | None,
    view: Callable[[StreamEvent], Awaitable[T]],
) -> AsyncIterator[T | GraphQLError]:
    company = ctx.viewer.company_id
    events = follow(_broadcast(ctx), ctx.engine, scope, since)
    try:
        while True:
            try:
                event = await _next_before_expiry(ctx, events)
            except StopAsyncIteration:
                return
            except TimeoutError:
                await _close_expired(ctx)
                return
            except SubscriberTooSlow:
                # Yielded, not raised: graphql-core sends it to the client as this event's error.
                yield GraphQLError(
                    "this subscription fell too far behind and was ended: subscribe again with "
                    "`since` set to the last eventId you received",
                    extensions={"code": "SLOW_CONSUMER"},
                )
                return
            if not event.concerns(company):
                continue
            # A subscriber's loaders must not serve rows cached for an earlier event.
            ctx.forget_reads()
            yield await view(event)
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def _next_before_expiry(ctx: Context, events: AsyncIterator[StreamEvent]) -> StreamEvent:
    expires_at = ctx.viewer.expires_at
    if expires_at is None:
        return await anext(events)
    remaining = expires_at - time.time()
    if remaining <= 0:
        raise TimeoutError
    # In this task (not wait_for's): a timeout must not leave the generator running elsewhere.
    async with asyncio.timeout(remaining):
        return await anext(events)


async def _close_expired(ctx: Context) -> None:
    websocket = ctx.request
    if ctx.is_websocket and websocket is not None:
        await websocket.close(code=EXPIRY_CLOSE_CODE, reason=EXPIRY_CLOSE_REASON)
