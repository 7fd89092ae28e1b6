"""Quote requests (RFQ) with their lines, and the quotes (offers and counter-offers) on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import CURRENCY_CHECK, Base, created_at_column, uuid_pk
from domain.orders import Side
from domain.quotes import QuoteRequestStatus, QuoteStatus


class QuoteRequest(Base):
    """A buyer's request for prices from one seller; its quotes are the negotiation."""

    __tablename__ = "quote_requests"
    __table_args__ = (
        CheckConstraint(f"currency {CURRENCY_CHECK}", name="currency_iso"),
        CheckConstraint("buyer_id <> seller_id", name="distinct_parties"),
        # An accepted request always names its order, and only an accepted one does.
        CheckConstraint("(status = 'ACCEPTED') = (order_id IS NOT NULL)", name="order_if_accepted"),
        # Each side lists its requests newest first, optionally by status.
        Index("ix_quote_requests_buyer_id_created_at_id", "buyer_id", "created_at", "id"),
        Index("ix_quote_requests_seller_id_created_at_id", "seller_id", "created_at", "id"),
        Index(
            "ix_quote_requests_buyer_id_status_created_at_id",
            "buyer_id",
            "status",
            "created_at",
            "id",
        ),
        Index(
            "ix_quote_requests_seller_id_status_created_at_id",
            "seller_id",
            "status",
            "created_at",
            "id",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    buyer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="RESTRICT")
    )
    seller_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="RESTRICT")
    )
    requested_by_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[QuoteRequestStatus] = mapped_column(
        Enum(QuoteRequestStatus, name="quote_request_status"), nullable=False
    )
    # Target prices are in it; quotes default to it.
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    needed_by: Mapped[date | None] = mapped_column(Date)
    # Why the request was declined or cancelled (null when no reason was given).
    close_reason: Mapped[str | None] = mapped_column(Text)
    # The order the accepted quote became: unique, so one request never makes two orders.
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="RESTRICT"), unique=True
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class QuoteRequestLine(Base):
    __tablename__ = "quote_request_lines"
    __table_args__ = (
        # One line per variant; its leading column also serves the foreign key to the request.
        UniqueConstraint("request_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "target_unit_price_minor IS NULL OR target_unit_price_minor > 0",
            name="target_price_positive",
        ),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("quote_requests.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("product_variants.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    # In the request's currency; null when the buyer named no target.
    target_unit_price_minor: Mapped[int | None] = mapped_column(BigInteger)


class Quote(Base):
    """One version of the offer on a request, proposed by either side. At most one is PENDING."""

    __tablename__ = "quotes"
    __table_args__ = (
        UniqueConstraint("request_id", "version"),
        CheckConstraint(f"currency {CURRENCY_CHECK}", name="currency_iso"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("total_minor > 0", name="total_positive"),
        Index(
            "uq_quotes_pending_per_request",
            "request_id",
            unique=True,
            postgresql_where=text("status = 'PENDING'"),
        ),
        # The expiry task reads pending quotes by their end of validity.
        Index(
            "ix_quotes_pending_valid_until",
            "valid_until",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    request_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("quote_requests.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[QuoteStatus] = mapped_column(
        Enum(QuoteStatus, name="quote_status"), nullable=False
    )
    proposed_by: Mapped[Side] = mapped_column(Enum(Side, name="quote_side"), nullable=False)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # The sum of the lines' totals, in `currency`.
    total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class QuoteLine(Base):
    __tablename__ = "quote_lines"
    __table_args__ = (
        UniqueConstraint("quote_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor > 0", name="price_positive"),
        CheckConstraint("line_total_minor = unit_price_minor * quantity", name="line_total"),
    )

    quote_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("quotes.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("product_variants.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    # In the quote's currency.
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    line_total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
