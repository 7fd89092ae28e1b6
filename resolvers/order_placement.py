"""Placing an order, the one way checkout and acceptQuote both do it: the shipping address's
rules, the order number, stock reserved across the seller's warehouses, and the order with its
lines, reservations, first history event and outbox event written in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Order, OrderEvent, OrderLine, StockLevel, StockReservation
from domain.money import Money
from domain.orders import OrderStatus, PaymentStatus
from domain.pricing import order_total
from domain.problems import Problem, ProblemCode
from realtime.outbox import record_order_status

ADDRESS_LIMITS = {"name": 200, "line1": 200, "line2": 200, "city": 120, "postalCode": 20}


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name.strip(),
            "line1": self.line1.strip(),
            "line2": (self.line2 or "").strip() or None,
            "city": self.city.strip(),
            "postalCode": self.postal_code.strip(),
            "country": self.country,
        }


def check_address(address: Address, *at: str) -> list[Problem]:
    """Blank or too long fields of a shipping address, under the path `at`."""
    problems = []
    values = {
        "name": address.name,
        "line1": address.line1,
        "line2": address.line2 or "",
        "city": address.city,
        "postalCode": address.postal_code,
    }
    for field, value in values.items():
        if field != "line2" and not value.strip():
            problems.append(Problem((*at, field), "must not be blank"))
        elif len(value) > ADDRESS_LIMITS[field]:
            problems.append(
                Problem((*at, field), f"must be at most {ADDRESS_LIMITS[field]} characters")
            )
    return problems


@dataclass(frozen=True, slots=True)
class DraftLine:
    """A line of an order about to be placed, priced in the order's currency."""

    variant_id: uuid.UUID
    sku: str
    name: str  # product and variant name as they are now (the catalog may change later)
    quantity: int
    unit: Money  # in the order currency
    total: Money  # unit times quantity
    source: Money  # the unit price as the seller priced it
    rate: Decimal  # what converted `source` into `unit` (1 when nothing was converted)
    at: tuple[str, ...]  # where a problem with this line's quantity is reported


@dataclass(frozen=True, slots=True)
class DraftOrder:
    buyer_id: uuid.UUID
    seller_id: uuid.UUID
    placed_by_id: uuid.UUID
    currency: str
    lines: Sequence[DraftLine]
    shipping_address: dict[str, Any]
    note: str | None
    checkout_id: uuid.UUID | None = None


# Units of a variant held in one warehouse: (variant id, warehouse id, units).
Reservation = tuple[uuid.UUID, uuid.UUID, int]


async def reserve_stock(
    session: AsyncSession, lines: Sequence[DraftLine]
) -> tuple[list[list[Reservation]], list[Problem]]:
    """Reserve each line's units across its seller's warehouses (fullest first): what each
    line holds, in the order of `lines`, or OUT_OF_STOCK problems (and the caller rolls back).
    Rows are locked in variant order, so concurrent placements queue instead of deadlocking."""
    held: list[list[Reservation]] = [[] for _ in lines]
    problems = []
    for index, line in sorted(enumerate(lines), key=lambda item: item[1].variant_id):
        levels = (
            await session.execute(
                select(StockLevel.warehouse_id, StockLevel.on_hand - StockLevel.reserved)
                .where(StockLevel.variant_id == line.variant_id)
                .order_by(StockLevel.warehouse_id)
                .with_for_update()
            )
        ).all()
        available = sum(max(free, 0) for _, free in levels)
        if available < line.quantity:
            problems.append(
                Problem(
                    line.at,
                    f"only {available} of {line.sku} can be ordered now",
                    ProblemCode.OUT_OF_STOCK,
                )
            )
            continue
        wanted = line.quantity
        for warehouse_id, free in sorted(levels, key=lambda level: -level[1]):
            take = min(free, wanted)
            if take <= 0:
                continue
            await session.execute(
                update(StockLevel)
                .where(
                    StockLevel.variant_id == line.variant_id,
                    StockLevel.warehouse_id == warehouse_id,
                )
                .values(reserved=StockLevel.reserved + take)
            )
            held[index].append((line.variant_id, warehouse_id, take))
            wanted -= take
            if wanted == 0:
                break
    return held, problems


async def next_order_number(session: AsyncSession, now: datetime) -> str:
    """ORD-<year>-<n>: a sequence never hands out a number twice, under any load."""
    number = await session.scalar(text("SELECT nextval('order_number_seq')"))
    return f"ORD-{now.year}-{number:06d}"


async def insert_order(
    session: AsyncSession, draft: DraftOrder, reservations: Sequence[Reservation], now: datetime
) -> uuid.UUID:
    """Write a PLACED order with its lines and reservations (stock already reserved by
    reserve_stock), its first history event and its outbox event."""
    order_id = uuid.uuid4()
    lines = draft.lines
    currency = draft.currency
    subtotal = order_total([line.total for line in lines], currency).minor
    bases = {line.source.currency for line in lines}
    single_base = bases.pop() if len(bases) == 1 else None
    converted = single_base is not None and single_base != currency
    await session.execute(
        insert(Order).values(
            id=order_id,
            number=await next_order_number(session, now),
            checkout_id=draft.checkout_id,
            buyer_id=draft.buyer_id,
            seller_id=draft.seller_id,
            placed_by_id=draft.placed_by_id,
            status=OrderStatus.PLACED,
            payment_status=PaymentStatus.UNPAID,
            currency=currency,
            subtotal_minor=subtotal,
            total_minor=subtotal,
            # The rate used when all lines came from one seller currency (each line keeps its own).
            fx_base=single_base if converted else None,
            fx_rate=lines[0].rate if converted else None,
            shipping_address=draft.shipping_address,
            note=draft.note,
            created_at=now,
            updated_at=now,
        )
    )
    await session.execute(
        insert(OrderLine),
        [
            {
                "id": uuid.uuid4(),
                "order_id": order_id,
                "variant_id": line.variant_id,
                "position": position,
                "sku": line.sku,
                "name": line.name[:400],
                "quantity": line.quantity,
                "unit_price_minor": line.unit.minor,
                "line_total_minor": line.total.minor,
                "source_currency": line.source.currency,
                "source_unit_price_minor": line.source.minor,
                "fx_rate": line.rate,
            }
            for position, line in enumerate(lines)
        ],
    )
    await session.execute(
        insert(StockReservation),
        [
            {"order_id": order_id, "variant_id": v, "warehouse_id": w, "quantity": q}
            for v, w, q in reservations
        ],
    )
    await session.execute(
        insert(OrderEvent).values(
            order_id=order_id, status=OrderStatus.PLACED, by_user_id=draft.placed_by_id, at=now
        )
    )
    await record_order_status(
        session,
        order_id=order_id,
        buyer_id=draft.buyer_id,
        seller_id=draft.seller_id,
        previous=None,
        status=OrderStatus.PLACED,
        at=now,
    )
    return order_id
