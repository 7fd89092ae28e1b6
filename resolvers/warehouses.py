"""Warehouses: the default one every seller keeps its stock in unless it names another."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Warehouse

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
