"""The transactional outbox: events written in the same transaction as the change they report.

After commit the relay (realtime/relay.py) numbers committed events (`seq`, the eventId clients
resume from with `since`) and publishes them to the broker, so a process killed between commit
and publish loses nothing: another relay sends what it left.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.models import OutboxEvent

ORDERS = "orders"
QUOTES = "quotes"


def order_channel(order_id: uuid.UUID) -> str:
    return f"order:{order_id}"


def quote_request_channel(request_id: uuid.UUID) -> str:
    return f"quote_request:{request_id}"


def company_channel(company_id: uuid.UUID, stream: str) -> str:
    """Every event of one stream ("orders" or "quotes") of a company, on either side."""
    return f"company:{company_id}:{stream}"


async def _record(
    session: AsyncSession,
    *,
    channel: str,
    stream: str,
    kind: str,
    buyer_id: uuid.UUID,
    seller_id: uuid.UUID,
    payload: dict[str, Any],
) -> None:
    await session.execute(
        insert(OutboxEvent).values(
            channel=channel,
            stream=stream,
            kind=kind,
            buyer_id=buyer_id,
            seller_id=seller_id,
            payload=payload,
        )
    )


async def record_order_status(
    session: AsyncSession,
    *,
    order_id: uuid.UUID,
    buyer_id: uuid.UUID,
    seller_id: uuid.UUID,
    previous: str | None,
    status: str,
    at: datetime,
) -> None:
    """One event per status change (placing an order included), on the order's channel; the
    relay also fans it out to both companies' order channels."""
    await _record(
        session,
        channel=order_channel(order_id),
        stream=ORDERS,
        kind="ORDER_STATUS_CHANGED",
        buyer_id=buyer_id,
        seller_id=seller_id,
        payload={
            "orderId": str(order_id),
            "buyerId": str(buyer_id),
            "sellerId": str(seller_id),
            "previousStatus": previous,
            "status": status,
            "at": at.isoformat(),
        },
    )


async def record_quote_event(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    buyer_id: uuid.UUID,
    seller_id: uuid.UUID,
    kind: str,
    quote_id: uuid.UUID | None,
    at: datetime,
) -> None:
    """One event per step of a negotiation (`kind` is a QuoteEventKind: REQUESTED, QUOTED,
    COUNTERED, ACCEPTED, DECLINED, CANCELLED, EXPIRED), on the request's channel; the relay
    also fans it out to both companies' quote channels."""
    await _record(
        session,
        channel=quote_request_channel(request_id),
        stream=QUOTES,
        kind=kind,
        buyer_id=buyer_id,
        seller_id=seller_id,
        payload={
            "requestId": str(request_id),
            "buyerId": str(buyer_id),
            "sellerId": str(seller_id),
            "quoteId": str(quote_id) if quote_id else None,
            "kind": kind,
            "at": at.isoformat(),
        },
    )


# Every published event up to the newest one published before the cutoff, but never the newest
# event of all: the relay numbers new events after the highest `seq` in the table, and an empty
# table would start eventIds again from 1.
_PRUNE = text(
    """
    DELETE FROM outbox_events
    WHERE seq <= least(
        -- least() skips NULLs: nothing published before the cutoff must delete nothing.
        coalesce((SELECT max(seq) FROM outbox_events WHERE published_at < :cutoff), 0),
        (SELECT max(seq) FROM outbox_events) - 1
    )
    AND published_at IS NOT NULL
    """
)


async def prune_published(engine: AsyncEngine, cutoff: datetime) -> int:
    """Delete the events published before `cutoff` (and any older ones); how many went.
    Events are numbered and published in order, so what remains is every event after some
    eventId: a replay from a kept `since` still misses nothing."""
    async with engine.begin() as connection:
        result = await connection.execute(_PRUNE, {"cutoff": cutoff})
    return int(result.rowcount)
