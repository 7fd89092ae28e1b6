"""Categories, products, variants, price tiers, stock and FX rates."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal

from aiodataloader import DataLoader
from sqlalchemy import BigInteger, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncEngine

from dataloaders.batching import (
    CompiledRead,
    any_of_keys,
    many_per_key,
    one_per_key,
    value_per_key,
)
from db.models import (
    Category,
    FxRate,
    PriceTier,
    Product,
    ProductVariant,
    StockLevel,
    Warehouse,
)
from domain.money import FxTable, QuotedRate

PRODUCT_COLUMNS = (
    Product.id,
    Product.seller_id,
    Product.category_id,
    Product.name,
    Product.slug,
    Product.description,
    Product.status,
    Product.price_currency,
    Product.price_min_minor,
    Product.price_max_minor,
    Product.created_at,
    Product.updated_at,
)
VARIANT_COLUMNS = (
    ProductVariant.id,
    ProductVariant.product_id,
    ProductVariant.sku,
    ProductVariant.name,
    ProductVariant.currency,
    ProductVariant.minimum_order_quantity,
    ProductVariant.order_increment,
    ProductVariant.maximum_order_quantity,
)
CATEGORY_COLUMNS = (
    Category.id,
    Category.parent_id,
    Category.name,
    Category.slug,
    Category.position,
)

CATEGORY_BY_ID = CompiledRead(select(*CATEGORY_COLUMNS).where(any_of_keys(Category.id)))
CATEGORIES_BY_PARENT_ID = CompiledRead(
    select(*CATEGORY_COLUMNS)
    .where(any_of_keys(Category.parent_id))
    .order_by(Category.position, Category.name)
)
PRODUCT_BY_ID = CompiledRead(select(*PRODUCT_COLUMNS).where(any_of_keys(Product.id)))
PRODUCT_BY_SLUG = CompiledRead(select(*PRODUCT_COLUMNS).where(any_of_keys(Product.slug)))
VARIANT_BY_ID = CompiledRead(select(*VARIANT_COLUMNS).where(any_of_keys(ProductVariant.id)))
VARIANTS_BY_PRODUCT_ID = CompiledRead(
    select(*VARIANT_COLUMNS)
    .where(any_of_keys(ProductVariant.product_id))
    .order_by(ProductVariant.position, ProductVariant.sku)
)
TIERS_BY_VARIANT_ID = CompiledRead(
    select(
        PriceTier.variant_id, PriceTier.min_quantity, PriceTier.unit_price_minor, PriceTier.currency
    )
    .where(any_of_keys(PriceTier.variant_id))
    .order_by(PriceTier.min_quantity)
)
AVAILABLE_QUANTITY_BY_VARIANT_ID = CompiledRead(
    select(
        StockLevel.variant_id,
        func.sum(StockLevel.on_hand - StockLevel.reserved).cast(BigInteger).label("available"),
    )
    .where(any_of_keys(StockLevel.variant_id))
    .group_by(StockLevel.variant_id)
)
STOCK_LEVELS_BY_VARIANT_ID = CompiledRead(
    select(
        StockLevel.variant_id,
        StockLevel.warehouse_id,
        Warehouse.name.label("warehouse_name"),
        StockLevel.on_hand,
        StockLevel.reserved,
    )
    .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
    .where(any_of_keys(StockLevel.variant_id))
    .order_by(StockLevel.variant_id, Warehouse.is_default.desc(), Warehouse.name)
)
LATEST_FX_RATES = CompiledRead(
    select(FxRate.base, FxRate.quote, FxRate.rate, FxRate.effective_at)
    .where(FxRate.effective_at <= func.now())
    .ext(distinct_on(FxRate.base, FxRate.quote))
    .order_by(FxRate.base, FxRate.quote, FxRate.effective_at.desc())
)


def category_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, CATEGORY_BY_ID, "id")


def categories_by_parent_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, CATEGORIES_BY_PARENT_ID, "parent_id")


def product_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, PRODUCT_BY_ID, "id")


def product_by_slug(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, PRODUCT_BY_SLUG, "slug")


def variant_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, VARIANT_BY_ID, "id")


def variants_by_product_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, VARIANTS_BY_PRODUCT_ID, "product_id")


def tiers_by_variant_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, TIERS_BY_VARIANT_ID, "variant_id")


def available_quantity_by_variant_id(engine: AsyncEngine) -> DataLoader:
    return value_per_key(engine, AVAILABLE_QUANTITY_BY_VARIANT_ID, default=0)


LATEST = "latest"


def stock_levels_by_variant_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, STOCK_LEVELS_BY_VARIANT_ID, "variant_id")


def latest_fx_table(engine: AsyncEngine) -> DataLoader:
    """Key: LATEST (the rates valid now). One table per request, so every price agrees.
    Each direction keeps its effective_at: the table picks the newer of (base, quote) and
    (quote, base)."""

    async def batch(keys: list[Hashable]) -> list[FxTable]:
        rows = await LATEST_FX_RATES.fetch(engine)
        table = FxTable(
            {(row.base, row.quote): QuotedRate(Decimal(row.rate), row.effective_at) for row in rows}
        )
        return [table for _ in keys]

    return DataLoader(batch)
