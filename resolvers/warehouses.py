"""Warehouses: the default one every seller keeps its stock in unless it names another."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from dataloaders.batching import fetch_rows
from db.models import Company, Warehouse
from domain.problems import Problem
from resolvers.context import Context
from resolvers.outcome import Outcome
from resolvers.transactions import WriteTransaction, write_outcome

DEFAULT_WAREHOUSE_NAME = "Main warehouse"


async def ensure_default_warehouse(
    session: AsyncSession, company_id: uuid.UUID, country: str
) -> uuid.UUID:
    """The company's default warehouse, created (in `country`) if it has none yet.

    Race-safe: two transactions that both find none both insert, and the partial unique index
    (one default per company) turns the loser's insert into a no-op; it then reads the winner's.
    """
    default = select(Warehouse.id).where(Warehouse.company_id == company_id, Warehouse.is_default)
    warehouse_id = await session.scalar(default)
    if warehouse_id is not None:
        return warehouse_id
    warehouse_id = await session.scalar(
        pg_insert(Warehouse)
        .values(
            id=uuid.uuid4(),
            company_id=company_id,
            name=DEFAULT_WAREHOUSE_NAME,
            country=country,
            is_default=True,
        )
        .on_conflict_do_nothing(
            # The predicate of uq_warehouses_default_per_company, so PostgreSQL infers it.
            index_elements=[Warehouse.company_id],
            index_where=text("is_default"),
        )
        .returning(Warehouse.id)
    )
    if warehouse_id is None:
        warehouse_id = await session.scalar(default)
    assert warehouse_id is not None, "the conflicting default warehouse is committed"
    return warehouse_id


MAX_WAREHOUSES = 50
MAX_WAREHOUSE_NAME = 120


async def own_warehouses(ctx: Context) -> list[Row[Any]]:
    """The viewer company's warehouses, default first (bounded)."""
    company_id = ctx.viewer.company_id
    assert company_id is not None
    statement = (
        select(Warehouse.id, Warehouse.name, Warehouse.country, Warehouse.is_default)
        .where(Warehouse.company_id == company_id)
        .order_by(Warehouse.is_default.desc(), Warehouse.name, Warehouse.id)
        .limit(MAX_WAREHOUSES)
    )
    return list(await fetch_rows(ctx.engine, statement))


async def create_warehouse(ctx: Context, name: str, country: str, is_default: bool) -> Outcome:
    """A new warehouse of the viewer's company; made the default, the old default stops being
    one in the same transaction."""
    company_id = ctx.viewer.company_id
    assert company_id is not None
    if not name.strip():
        return Outcome(problems=[Problem(("input", "name"), "must not be blank")])
    if len(name) > MAX_WAREHOUSE_NAME:
        return Outcome(
            problems=[
                Problem(("input", "name"), f"must be at most {MAX_WAREHOUSE_NAME} characters")
            ]
        )
    warehouse_id = uuid.uuid4()

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        # Lock the company's row so counting and inserting cannot interleave with another
        # call. FOR NO KEY UPDATE, not FOR UPDATE: checkouts and other writes take FOR KEY
        # SHARE on it through their foreign keys, and must not wait for this.
        await session.execute(
            select(Company.id).where(Company.id == company_id).with_for_update(key_share=True)
        )
        count = await session.scalar(
            select(func.count()).select_from(Warehouse).where(Warehouse.company_id == company_id)
        )
        if (count or 0) >= MAX_WAREHOUSES:
            return Outcome(
                problems=[Problem(("input",), f"a company has at most {MAX_WAREHOUSES} warehouses")]
            )
        if is_default:
            await session.execute(
                update(Warehouse)
                .where(Warehouse.company_id == company_id, Warehouse.is_default)
                .values(is_default=False)
            )
        await session.execute(
            insert(Warehouse).values(
                id=warehouse_id,
                company_id=company_id,
                name=name.strip(),
                country=country,
                is_default=is_default or not count,
            )
        )
        tx.changed(catalog=True)  # warehouses show in a variant's stockLevels
        return Outcome(key=warehouse_id)

    return await write_outcome(ctx, write)


async def stock_levels(ctx: Context, variant_id: uuid.UUID) -> list[Row[Any]] | None:
    """Per-warehouse stock of a variant, for its seller only (None for anyone else)."""
    variant = await ctx.loaders.variant_by_id.load(variant_id)
    product = await ctx.loaders.product_by_id.load(variant.product_id) if variant else None
    if product is None or product.seller_id != ctx.viewer.company_id:
        return None
    rows: list[Row[Any]] = await ctx.loaders.stock_levels_by_variant_id.load(variant_id)
    return rows
