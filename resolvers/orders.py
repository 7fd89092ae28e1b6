"""Orders: the viewer company's orders (either side), and status changes by the state machine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row

from dataloaders.orders import ORDER_COLUMNS
from db.models import Order, OrderEvent, StockLevel, StockReservation
from domain.orders import (
    MAX_NOTE_LENGTH,
    OrderStatus,
    Side,
    check_transition,
    consumes_stock,
    releases_stock,
)
from domain.problems import Problem, ProblemCode
from realtime.outbox import record_order_status
from resolvers.context import Context
from resolvers.global_ids import key_of
from resolvers.outcome import Outcome
from resolvers.transactions import WriteTransaction, write_outcome
from resolvers.two_party_listing import TwoPartyTable

ORDERS = TwoPartyTable(
    name="orders",
    columns=ORDER_COLUMNS,
    buyer_id=Order.buyer_id,
    seller_id=Order.seller_id,
    status=Order.status,
    created_at=Order.created_at,
    id=Order.id,
)


async def order_by_id(ctx: Context, order_id: uuid.UUID) -> Row[Any] | None:
    """The order, or None when it does not exist or the viewer's company is not a party."""
    row = await ctx.loaders.order_by_id.load(order_id)
    company = ctx.viewer.company_id
    if row is None or company is None or company not in (row.buyer_id, row.seller_id):
        return None
    return row


async def orders_by_ids(ctx: Context, order_ids: list[uuid.UUID]) -> list[Row[Any]]:
    """The orders, in key order, with one batched load; those the viewer's company is not a
    party of (or that do not exist) are left out."""
    rows = await ctx.loaders.order_by_id.load_many(order_ids)
    company = ctx.viewer.company_id
    return [
        row
        for row in rows
        if row is not None and company is not None and company in (row.buyer_id, row.seller_id)
    ]


async def change_status(
    ctx: Context, global_id: str, target: OrderStatus, note: str | None, note_path: str = "note"
) -> Outcome:
    """Move an order by the state machine; the order row is locked, so of two staff acting at
    once one wins and the other meets the new status (an INVALID_TRANSITION)."""
    company = ctx.viewer.company_id
    key = key_of(global_id, "Order")
    not_found = Outcome(problems=[Problem(("id",), "no such order", ProblemCode.NOT_FOUND)])
    if key is None or company is None:
        return not_found
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        return Outcome(
            problems=[Problem((note_path,), f"must be at most {MAX_NOTE_LENGTH} characters")]
        )

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        order = (
            await session.execute(
                select(Order.status, Order.buyer_id, Order.seller_id)
                .where(Order.id == key)
                .with_for_update()
            )
        ).first()
        if order is None or company not in (order.buyer_id, order.seller_id):
            return not_found
        side = Side.BUYER if company == order.buyer_id else Side.SELLER
        current = OrderStatus(order.status)
        problem = check_transition(current, target, side, note)
        if problem is not None:
            if problem.path == ("note",):
                problem = Problem((note_path,), problem.message, problem.code)
            return Outcome(problems=[problem])
        now = datetime.now(UTC)
        await session.execute(
            update(Order)
            .where(Order.id == key)
            .values(status=target, version=Order.version + 1, updated_at=now)
        )
        await session.execute(
            insert(OrderEvent).values(
                order_id=key,
                status=target,
                by_user_id=ctx.viewer.user_id,
                note=(note or "").strip() or None,
                at=now,
            )
        )
        if releases_stock(target) or consumes_stock(target):
            await _settle_reservations(session, key, consume=consumes_stock(target))
        await record_order_status(
            session,
            order_id=key,
            buyer_id=order.buyer_id,
            seller_id=order.seller_id,
            previous=current,
            status=target,
            at=now,
        )
        # Released or consumed stock changes availableQuantity.
        tx.changed(events=True, catalog=releases_stock(target) or consumes_stock(target))
        return Outcome(key=key)

    return await write_outcome(ctx, write, conflict_at=("id",))


async def _settle_reservations(session: Any, order_id: uuid.UUID, *, consume: bool) -> None:
    """Cancelling gives the reserved units back; shipping takes them off the shelf."""
    held = (
        await session.execute(
            select(
                StockReservation.variant_id,
                StockReservation.warehouse_id,
                StockReservation.quantity,
            )
            .where(StockReservation.order_id == order_id)
            .order_by(StockReservation.variant_id, StockReservation.warehouse_id)
        )
    ).all()
    for variant_id, warehouse_id, quantity in held:
        changes: dict[str, Any] = {"reserved": StockLevel.reserved - quantity}
        if consume:
            changes["on_hand"] = StockLevel.on_hand - quantity
        await session.execute(
            update(StockLevel)
            .where(StockLevel.variant_id == variant_id, StockLevel.warehouse_id == warehouse_id)
            .values(**changes)
        )
    await session.execute(delete(StockReservation).where(StockReservation.order_id == order_id))
