"""Categories, products, variants, price tiers, stock and FX rates."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal

from aiodataloader import DataLoader
from sqlalchemy import BigInteger, Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncEngine

from dataloaders.batching import (
    any_of,
    computed_per_key,
    fetch_rows,
    many_per_key,
    one_per_key,
)
from db.models import Category, FxRate, PriceTier, Product, ProductVariant, StockLevel
from domain.money import FxTable

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
)
CATEGORY_COLUMNS = (
    Category.id,
    Category.parent_id,
    Category.name,
    Category.slug,
    Category.position,
)


def category_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, select(*CATEGORY_COLUMNS), Category.id)


def categories_by_parent_id(engine: AsyncEngine) -> DataLoader:
    statement = select(*CATEGORY_COLUMNS).order_by(Category.position, Category.name)
    return many_per_key(engine, statement, Category.parent_id)


def product_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, select(*PRODUCT_COLUMNS), Product.id)


def product_by_slug(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, select(*PRODUCT_COLUMNS), Product.slug)


def variant_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, select(*VARIANT_COLUMNS), ProductVariant.id)


def variants_by_product_id(engine: AsyncEngine) -> DataLoader:
    statement = select(*VARIANT_COLUMNS).order_by(ProductVariant.position, ProductVariant.sku)
    return many_per_key(engine, statement, ProductVariant.product_id)


def tiers_by_variant_id(engine: AsyncEngine) -> DataLoader:
    statement = select(
        PriceTier.variant_id, PriceTier.min_quantity, PriceTier.unit_price_minor, PriceTier.currency
    ).order_by(PriceTier.min_quantity)
    return many_per_key(engine, statement, PriceTier.variant_id)


def available_quantity_by_variant_id(engine: AsyncEngine) -> DataLoader:
    def statement(keys: list[Hashable]) -> Select:
        return (
            select(
                StockLevel.variant_id,
                func.sum(StockLevel.on_hand - StockLevel.reserved).cast(BigInteger),
            )
            .where(any_of(StockLevel.variant_id, keys))
            .group_by(StockLevel.variant_id)
        )

    return computed_per_key(engine, statement, default=0)


LATEST = "latest"


def latest_fx_table(engine: AsyncEngine) -> DataLoader:
    """Key: LATEST (the rates valid now). One table per request, so every price agrees."""

    async def batch(keys: list[Hashable]) -> list[FxTable]:
        statement = (
            select(FxRate.base, FxRate.quote, FxRate.rate)
            .where(FxRate.effective_at <= func.now())
            .ext(distinct_on(FxRate.base, FxRate.quote))
            .order_by(FxRate.base, FxRate.quote, FxRate.effective_at.desc())
        )
        rows = await fetch_rows(engine, statement)
        table = FxTable({(row.base, row.quote): Decimal(row.rate) for row in rows})
        return [table for _ in keys]

    return DataLoader(batch)
