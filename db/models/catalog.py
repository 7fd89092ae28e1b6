"""Categories, products, variants, volume price tiers, warehouses and stock, FX rates."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID, aggregate_order_by
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from db.models.base import COUNTRY_CHECK, CURRENCY_CHECK, Base, created_at_column, uuid_pk
from domain.catalog import ProductStatus


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (CheckConstraint("id <> parent_id", name="not_own_parent"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    slug: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(f"price_currency {CURRENCY_CHECK}", name="currency_iso"),
        CheckConstraint("price_min_minor > 0 AND price_max_minor >= price_min_minor", name="price"),
        Index("ix_products_search_document", "search_document", postgresql_using="gin"),
        # ix_products_lower_name_pattern follows the class (it needs the name column), and
        # ix_products_name_trgm (pg_trgm) is created by the migration where the extension exists.
        # Catalog listings: newest first, by name, and by price within a currency.
        Index("ix_products_status_created_at_id", "status", "created_at", "id"),
        Index("ix_products_status_name_id", "status", "name", "id"),
        Index("ix_products_status_price", "status", "price_currency", "price_min_minor", "id"),
        # One seller's and one category's listings, newest first. Their leading columns also
        # serve the foreign keys, so seller_id and category_id need no index of their own.
        Index(
            "ix_products_seller_id_status_created_at_id", "seller_id", "status", "created_at", "id"
        ),
        Index(
            "ix_products_category_id_status_created_at_id",
            "category_id",
            "status",
            "created_at",
            "id",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    seller_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="RESTRICT")
    )
    category_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("categories.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    slug: Mapped[str] = mapped_column(String(220), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[ProductStatus] = mapped_column(
        Enum(ProductStatus, name="product_status"), nullable=False, default=ProductStatus.DRAFT
    )
    # Lowest and highest tier unit price over all variants, kept up to date on every write,
    # so listings can filter and sort by price without touching the tiers.
    price_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    price_min_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    price_max_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Full-text document over name, SKUs and description: built by product_search_document,
    # written by resolvers.product_writes.refresh_product_derived (and the demo seed).
    search_document: Mapped[str | None] = mapped_column(TSVECTOR)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


# Search by name prefix (`lower(name) LIKE 'abc%'`): text_pattern_ops makes LIKE indexable
# whatever the database's collation, with or without pg_trgm.
Index(
    "ix_products_lower_name_pattern",
    func.lower(Product.name).label("lower_name"),
    postgresql_ops={"lower_name": "text_pattern_ops"},
)


def product_search_document(skus: ColumnElement[Any]) -> ColumnElement[Any]:
    """The full-text document of a product row: name and SKUs weigh A, description B.

    `skus` is an expression for the product's SKUs joined by spaces (joined_skus). One
    definition for every writer (mutations, the demo seed), so search ranks the same whoever
    wrote the row.
    """

    def weighted(config: str, value: Any, weight: str) -> ColumnElement[Any]:
        return func.setweight(func.to_tsvector(config, value), literal_column(f"'{weight}'"))

    return (
        weighted("english", Product.name, "A")
        .op("||")(weighted("simple", func.coalesce(skus, ""), "A"))
        .op("||")(weighted("english", Product.description, "B"))
    )


def joined_skus() -> ColumnElement[Any]:
    """An aggregate of a product's SKUs joined by spaces, in display order (position, then SKU).

    The order is fixed because a tsvector records word positions: the same SKUs in another
    order give another document.
    """
    return func.string_agg(
        ProductVariant.sku,
        aggregate_order_by(literal_column("' '"), ProductVariant.position, ProductVariant.sku),
    )


class ProductVariant(Base):
    __tablename__ = "product_variants"
    __table_args__ = (
        # SKUs are unique per seller, ignoring case ("abc" and "ABC" are one SKU).
        Index(
            "uq_product_variants_seller_id_lower_sku", "seller_id", text("lower(sku)"), unique=True
        ),
        CheckConstraint("minimum_order_quantity >= 1", name="moq_positive"),
        CheckConstraint("order_increment >= 1", name="increment_positive"),
        CheckConstraint(
            "maximum_order_quantity IS NULL OR maximum_order_quantity >= minimum_order_quantity",
            name="maximum_above_minimum",
        ),
        CheckConstraint(f"currency {CURRENCY_CHECK}", name="currency_iso"),
        CheckConstraint("length(btrim(sku)) > 0", name="sku_not_blank"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    product_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    # Copied from the product so a SKU can be unique per seller in the database. No index of
    # its own: uq_product_variants_seller_id_lower_sku leads with it.
    seller_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="RESTRICT")
    )
    sku: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    minimum_order_quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    order_increment: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Optional cap per order line (null: no cap).
    maximum_order_quantity: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = created_at_column()


class PriceTier(Base):
    """A volume price break: from min_quantity units on, each costs unit_price_minor."""

    __tablename__ = "price_tiers"
    __table_args__ = (
        CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
        CheckConstraint("unit_price_minor > 0", name="price_positive"),
        CheckConstraint(f"currency {CURRENCY_CHECK}", name="currency_iso"),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("product_variants.id", ondelete="CASCADE"), primary_key=True
    )
    min_quantity: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)


class Warehouse(Base):
    __tablename__ = "warehouses"
    __table_args__ = (
        CheckConstraint(f"country {COUNTRY_CHECK}", name="country_iso"),
        # At most one default warehouse per company: setStock without a warehouse uses it.
        Index(
            "uq_warehouses_default_per_company",
            "company_id",
            unique=True,
            postgresql_where="is_default",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class StockLevel(Base):
    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("product_variants.id", ondelete="CASCADE"), primary_key=True
    )
    warehouse_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("warehouses.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    on_hand: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reserved: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class FxRate(Base):
    """`rate` units of `quote` buy one unit of `base`, from `effective_at` on."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("base", "quote", "effective_at"),
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("base <> quote", name="distinct_currencies"),
        CheckConstraint(f"base {CURRENCY_CHECK} AND quote {CURRENCY_CHECK}", name="currency_iso"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    base: Mapped[str] = mapped_column(String(3), nullable=False)
    quote: Mapped[str] = mapped_column(String(3), nullable=False)
    rate: Mapped[Decimal] = mapped_column(Numeric(24, 12), nullable=False)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
