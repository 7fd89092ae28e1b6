"""Orders, their lines and their history."""

from __future__ import annotations

from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dataloaders.batching import CompiledRead, any_of_keys, many_per_key, one_per_key
from db.models import Order, OrderEvent, OrderLine

ORDER_COLUMNS = (
    Order.id,
    Order.number,
    Order.buyer_id,
    Order.seller_id,
    Order.placed_by_id,
    Order.status,
    Order.payment_status,
    Order.currency,
    Order.subtotal_minor,
    Order.total_minor,
    Order.shipping_address,
    Order.note,
    Order.version,
    Order.created_at,
    Order.updated_at,
)

ORDER_BY_ID = CompiledRead(select(*ORDER_COLUMNS).where(any_of_keys(Order.id)))
LINES_BY_ORDER_ID = CompiledRead(
    select(
        OrderLine.order_id,
        OrderLine.variant_id,
        OrderLine.sku,
        OrderLine.name,
        OrderLine.quantity,
        OrderLine.unit_price_minor,
        OrderLine.line_total_minor,
    )
    .where(any_of_keys(OrderLine.order_id))
    .order_by(OrderLine.order_id, OrderLine.position)
)
EVENTS_BY_ORDER_ID = CompiledRead(
    select(
        OrderEvent.order_id,
        OrderEvent.status,
        OrderEvent.at,
        OrderEvent.by_user_id,
        OrderEvent.note,
    )
    .where(any_of_keys(OrderEvent.order_id))
    .order_by(OrderEvent.order_id, OrderEvent.id)
)


def order_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, ORDER_BY_ID, "id")


def lines_by_order_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, LINES_BY_ORDER_ID, "order_id")


def events_by_order_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, EVENTS_BY_ORDER_ID, "order_id")
