"""Carts, checkouts, orders with their lines, history and stock reservations; the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import CURRENCY_CHECK, Base, created_at_column, uuid_pk
from domain.orders import OrderStatus, PaymentStatus


class Cart(Base):
    """One cart per buyer user and company."""

    __tablename__ = "carts"
    __table_args__ = (UniqueConstraint("user_id", "company_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    company_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    updated_at: Mapped[datetime] = created_at_column()


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    cart_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("carts.id", ondelete="CASCADE")
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("product_variants.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class Checkout(Base):
    """A checkout attempt, keyed by the client's idempotency key: a retry finds it again."""

    __tablename__ = "checkouts"
    __table_args__ = (UniqueConstraint("user_id", "idempotency_key"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    company_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False)
    # sha256 of what the request asked for (currency, address, note): a key reused for another
    # request is a CONFLICT, not a replay (see resolvers.checkout).
    fingerprint: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"currency {CURRENCY_CHECK}", name="currency_iso"),
        CheckConstraint("subtotal_minor >= 0 AND total_minor >= subtotal_minor", name="totals"),
        CheckConstraint("buyer_id <> seller_id", name="distinct_parties"),
        CheckConstraint("version >= 1", name="version_positive"),
        # Each side lists its orders newest first, optionally by status.
        Index("ix_orders_buyer_id_created_at_id", "buyer_id", "created_at", "id"),
        Index("ix_orders_seller_id_created_at_id", "seller_id", "created_at", "id"),
        Index("ix_orders_buyer_id_status_created_at_id", "buyer_id", "status", "created_at", "id"),
        Index(
            "ix_orders_seller_id_status_created_at_id", "seller_id", "status", "created_at", "id"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # ORD-2026-000123: the year and a database sequence, unique under any concurrency.
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    checkout_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("checkouts.id", ondelete="RESTRICT"), index=True
    )
    buyer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="RESTRICT")
    )
    seller_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="RESTRICT")
    )
    placed_by_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[OrderStatus] = mapped_column(
        Enum(OrderStatus, name="order_status"), nullable=False
    )
    payment_status: Mapped[PaymentStatus] = mapped_column(
        Enum(PaymentStatus, name="payment_status"), nullable=False
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subtotal_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The rate used to price the order when all its lines came from one seller currency:
    # units of `currency` for one unit of `fx_base` (each line also keeps its own).
    fx_base: Mapped[str | None] = mapped_column(String(3))
    fx_rate: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    # Bumped by every status change (changes themselves serialise on the order's row lock):
    # clients can tell two states of an order apart, and a future optimistic write can check it.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor > 0", name="price_positive"),
        CheckConstraint("line_total_minor = unit_price_minor * quantity", name="line_total"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("product_variants.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    # What was bought, as it was named then (the catalog may change later).
    sku: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(400), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    # In the order's currency: what the buyer is charged.
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    line_total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # As priced by the seller, and the rate that converted it (1 when no conversion).
    source_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    source_unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fx_rate: Mapped[Decimal] = mapped_column(Numeric(24, 12), nullable=False)


class OrderEvent(Base):
    """One status change of an order: its history, oldest first by id."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[OrderStatus] = mapped_column(
        Enum(OrderStatus, name="order_status", create_type=False), nullable=False
    )
    by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = created_at_column()


class StockReservation(Base):
    """Units of a variant held in a warehouse for an open order (released or consumed)."""

    __tablename__ = "stock_reservations"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("product_variants.id", ondelete="RESTRICT"), primary_key=True
    )
    warehouse_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("warehouses.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)


class OutboxEvent(Base):
    """An event written in the same transaction as the change it reports (see realtime/).

    `id` is taken at insert, so a transaction that commits later may hold a lower id than one
    already visible: ids are not a safe resume point. The relay therefore numbers committed
    events itself, one relay at a time, into `seq`: the eventId clients see and resume from
    with `since`. `published_at` is when the relay handed the event to the broker."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        CheckConstraint("stream IN ('orders', 'quotes')", name="stream_known"),
        Index("ix_outbox_events_unsequenced", "id", postgresql_where=text("seq IS NULL")),
        Index(
            "ix_outbox_events_unsent",
            "seq",
            postgresql_where=text("seq IS NOT NULL AND published_at IS NULL"),
        ),
        # Replay for `since`: one object's channel, or a company's stream on either side.
        Index("ix_outbox_events_channel_seq", "channel", "seq"),
        Index("ix_outbox_events_buyer_id_stream_seq", "buyer_id", "stream", "seq"),
        Index("ix_outbox_events_seller_id_stream_seq", "seller_id", "stream", "seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    channel: Mapped[str] = mapped_column(String(200), nullable=False)
    # Which subscription stream the event belongs to ("orders" or "quotes"), and the two
    # companies allowed to receive it.
    stream: Mapped[str] = mapped_column(String(20), nullable=False)
    buyer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    seller_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
