"""Catalog reads: categories, products and variants as the viewer may see them, the product
listing, exchange rates and prices shown in another currency.

The look-ahead of product lists is resolvers/product_prefetch.py; the rules a product
mutation's input must meet are resolvers/product_validation.py; the writes are
resolvers/product_writes.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row

from dataloaders.batching import fetch_rows
from dataloaders.catalog import CATEGORY_COLUMNS, LATEST
from db.models import Category, ProductStatus
from domain.money import FxTable, MissingRateError, Money
from resolvers.context import Context
from resolvers.errors import BadUserInputError
from resolvers.pagination import PageRequest
from resolvers.product_listing import (
    ProductOrder,
    ProductPage,
    ProductQuery,
    fetch_page,
    listing_statement,
)

MAX_CATEGORIES = 1000


async def all_categories(ctx: Context) -> Sequence[Row[Any]]:
    """The whole tree in one statement (bounded): the schema nests it from the roots."""
    statement = (
        select(*CATEGORY_COLUMNS).order_by(Category.position, Category.name).limit(MAX_CATEGORIES)
    )
    return await fetch_rows(ctx.engine, statement)


def can_see_product(ctx: Context, row: Row[Any] | None) -> bool:
    """Drafts are their seller's secret; active and archived products are public."""
    if row is None:
        return False
    return row.status != ProductStatus.DRAFT or row.seller_id == ctx.viewer.company_id


async def product_by_id(ctx: Context, product_id: uuid.UUID) -> Row[Any] | None:
    row = await ctx.loaders.product_by_id.load(product_id)
    return row if can_see_product(ctx, row) else None


async def product_by_slug(ctx: Context, slug: str) -> Row[Any] | None:
    row = await ctx.loaders.product_by_slug.load(slug)
    return row if can_see_product(ctx, row) else None


async def variant_by_id(ctx: Context, variant_id: uuid.UUID) -> Row[Any] | None:
    row = await ctx.loaders.variant_by_id.load(variant_id)
    if row is None or await product_by_id(ctx, row.product_id) is None:
        return None
    return row


async def fx_table(ctx: Context) -> FxTable:
    table: FxTable = await ctx.loaders.latest_fx_table.load(LATEST)
    return table


async def list_products(
    ctx: Context,
    query: ProductQuery,
    order: ProductOrder,
    currency: str | None,
    page: PageRequest,
) -> ProductPage:
    fx = await fx_table(ctx) if _needs_rates(query, order, currency) else None
    statement, sort_keys = listing_statement(ctx, query, order, currency, fx)
    sort_name = listing_sort_name(query, order, currency)
    return await fetch_page(ctx, statement, sort_keys, sort_name, page)


def _needs_rates(query: ProductQuery, order: ProductOrder, currency: str | None) -> bool:
    return currency is not None and (
        query.min_price is not None
        or query.max_price is not None
        or order in (ProductOrder.PRICE_ASC, ProductOrder.PRICE_DESC)
    )


def listing_sort_name(query: ProductQuery, order: ProductOrder, currency: str | None) -> str:
    """What a cursor of this listing is tied to: the sort (and the price currency, if any).

    Cursors are encoded and decoded with this one name, so they fit only the listing they came
    from.
    """
    return f"{order.value}:{currency}" if _needs_rates(query, order, currency) else order.value


async def count_products(ctx: Context, page: ProductPage) -> int:
    rows = await fetch_rows(ctx.engine, page.count_statement)
    return int(rows[0][0])


def price_in(money: Money, currency: str | None, fx: FxTable | None) -> Money:
    """`money` shown in `currency` (unchanged when no currency is asked for)."""
    if currency is None or currency == money.currency:
        return money
    assert fx is not None, "callers load the FX table when a currency is requested"
    try:
        return fx.convert(money, currency)
    except MissingRateError:
        raise BadUserInputError(
            f"prices cannot be shown in {currency}: there is no exchange rate from {money.currency}"
        ) from None
