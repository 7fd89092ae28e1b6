"""Look-ahead for product lists: every level the query selects (sellers, categories,
variants, tiers, stock, contract prices, rates) loaded with one batched call per level, so the
nested fields are plain attributes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Row

from domain.money import FxTable
from resolvers.catalog import fx_table
from resolvers.context import Context
from resolvers.pricing import contract_rows_of


@dataclass(frozen=True, slots=True)
class ProductPrefetch:
    """Which relations of a product list the query selects (read from the selection)."""

    seller: bool = False
    category: bool = False
    variants: bool = False
    tiers: bool = False
    stock: bool = False
    fx: bool = False
    # The viewer company's contract breaks (for unitPrice). None: load them with the tiers.
    contracts: bool | None = None


@dataclass(slots=True)
class ProductGraph:
    """Rows of each selected level, loaded with one batched statement per level."""

    sellers: dict[uuid.UUID, Row[Any]] = field(default_factory=dict)
    categories: dict[uuid.UUID, Row[Any]] = field(default_factory=dict)
    variants: dict[uuid.UUID, list[Row[Any]]] = field(default_factory=dict)
    # None where the level was not selected (and so not loaded).
    tiers: dict[uuid.UUID, list[Row[Any]]] | None = None
    available: dict[uuid.UUID, int] | None = None
    fx: FxTable | None = None
    # The viewer company's contract break rows per variant; None where not loaded (not
    # selected, or the viewer has no contracts).
    contracts: dict[uuid.UUID, list[Row[Any]]] | None = None


async def prefetch_products(
    ctx: Context, products: Sequence[Row[Any]], wants: ProductPrefetch
) -> ProductGraph:
    """Look ahead: load every selected level of a product list through the loaders at once."""
    graph = ProductGraph()
    loaders = ctx.loaders

    async def sellers() -> None:
        ids = list({p.seller_id for p in products})
        graph.sellers = dict(zip(ids, await loaders.company_by_id.load_many(ids), strict=True))

    async def categories() -> None:
        ids = list({p.category_id for p in products})
        graph.categories = dict(zip(ids, await loaders.category_by_id.load_many(ids), strict=True))

    async def variants_and_below() -> None:
        ids = [p.id for p in products]
        variant_lists = await loaders.variants_by_product_id.load_many(ids)
        graph.variants = dict(zip(ids, variant_lists, strict=True))
        variant_ids = [v.id for variants in variant_lists for v in variants]
        levels = []
        if wants.tiers:
            levels.append(tiers(variant_ids))
        if wants.stock:
            levels.append(stock(variant_ids))
        if wants.tiers if wants.contracts is None else wants.contracts:
            levels.append(contracts(variant_ids))
        await asyncio.gather(*levels)

    async def tiers(variant_ids: list[uuid.UUID]) -> None:
        tier_lists = await loaders.tiers_by_variant_id.load_many(variant_ids)
        graph.tiers = dict(zip(variant_ids, tier_lists, strict=True))

    async def stock(variant_ids: list[uuid.UUID]) -> None:
        counts = await loaders.available_quantity_by_variant_id.load_many(variant_ids)
        graph.available = dict(zip(variant_ids, counts, strict=True))

    async def contracts(variant_ids: list[uuid.UUID]) -> None:
        # One statement, and none at all for viewers without contracts (anonymous, sellers).
        rows = await contract_rows_of(ctx, variant_ids)
        if rows is not None:
            graph.contracts = dict(zip(variant_ids, rows, strict=True))

    async def rates() -> None:
        graph.fx = await fx_table(ctx)

    jobs = []
    if products:
        if wants.seller:
            jobs.append(sellers())
        if wants.category:
            jobs.append(categories())
        if wants.variants:
            jobs.append(variants_and_below())
    if wants.fx:
        jobs.append(rates())
    await asyncio.gather(*jobs)
    return graph
