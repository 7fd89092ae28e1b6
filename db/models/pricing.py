"""Contract price lists: a seller's negotiated prices for one buyer company."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import CURRENCY_CHECK, Base, created_at_column, uuid_pk


class PriceList(Base):
    __tablename__ = "price_lists"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
        CheckConstraint("seller_id <> buyer_id", name="distinct_parties"),
        CheckConstraint(f"currency {CURRENCY_CHECK}", name="currency_iso"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        # A buyer's prices: the lists of one seller for one buyer.
        Index("ix_price_lists_buyer_id_seller_id", "buyer_id", "seller_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    seller_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    buyer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = created_at_column()


class PriceListEntry(Base):
    """From `min_quantity` on, the buyer pays `unit_price_minor` for the variant."""

    __tablename__ = "price_list_entries"
    __table_args__ = (
        CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
        CheckConstraint("unit_price_minor > 0", name="price_positive"),
    )

    price_list_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("price_lists.id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("product_variants.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    min_quantity: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
