"""The transactional outbox: events written in the same transaction as the change they report.

A relay publishes committed rows to broadcaster after commit, so a crash between commit and
publish loses nothing; the row id is the eventId clients resume from with `since`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import OutboxEvent


def order_channel(order_id: uuid.UUID) -> str:
    return f"order:{order_id}"


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
    """One event per change, on the order's channel; the payload names both companies so the
    relay can also fan it out to `company:<id>:orders`."""
    await session.execute(
        insert(OutboxEvent).values(
            channel=order_channel(order_id),
            kind="ORDER_STATUS_CHANGED",
            payload={
                "orderId": str(order_id),
                "buyerId": str(buyer_id),
                "sellerId": str(seller_id),
                "previousStatus": previous,
                "status": status,
                "at": at.isoformat(),
            },
        )
    )
