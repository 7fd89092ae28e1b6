"""Catalog write helpers against a scratch database: the default warehouse, the search document."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from db.models import Company
from db.seed import _search_document_update, seed
from resolvers.product_writes import refresh_product_derived
from resolvers.warehouses import ensure_default_warehouse


@pytest.fixture(scope="module")
async def catalog(demo_password_hash: str, fresh_database: Any) -> AsyncIterator[AsyncEngine]:
    async with fresh_database() as engine:
        await seed(engine, password_hash=demo_password_hash, products=20)
        yield engine


async def test_concurrent_callers_share_one_default_warehouse(catalog: AsyncEngine) -> None:
    company_id = uuid.uuid4()
    sessions = async_sessionmaker(catalog, expire_on_commit=False)
    async with sessions() as session, session.begin():
        await session.execute(
            insert(Company).values(
                id=company_id,
                name="Warehouse race",
                country="DE",
                default_currency="EUR",
                is_seller=True,
                is_buyer=False,
                is_platform=False,
            )
        )

    async def ensure() -> uuid.UUID:
        async with sessions() as session, session.begin():
            return await ensure_default_warehouse(session, company_id, "DE")

    found = await asyncio.gather(*(ensure() for _ in range(10)))
    assert len(set(found)) == 1
    async with catalog.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM warehouses WHERE company_id = :id AND is_default"),
            {"id": company_id},
        )
    assert count == 1


SKUS_IN_ORDER = text(
    """SELECT setweight(to_tsvector('english', p.name), 'A')
           || setweight(to_tsvector('simple', coalesce((
                  SELECT string_agg(v.sku, ' ' ORDER BY v.position, v.sku)
                  FROM product_variants v WHERE v.product_id = p.id), '')), 'A')
           || setweight(to_tsvector('english', p.description), 'B')
       FROM products p WHERE p.id = :id"""
)


async def test_mutations_and_seed_put_skus_in_the_document_in_one_order(
    catalog: AsyncEngine,
) -> None:
    async with catalog.connect() as conn:
        product_id = await conn.scalar(
            text(
                "SELECT product_id FROM product_variants GROUP BY product_id"
                " HAVING count(*) >= 2 ORDER BY product_id LIMIT 1"
            )
        )
        # Equal positions fall back to the SKU. Renaming rewrites each row (a new heap
        # position, in the old order), so the first variant, now alphabetically last, is still
        # read first by an aggregate without ORDER BY.
        await conn.execute(
            text(
                "UPDATE product_variants SET position = 0,"
                " sku = CASE WHEN position = 0 THEN 'Z' ELSE 'A' END || sku"
                " WHERE product_id = :id"
            ),
            {"id": product_id},
        )
        await conn.commit()
        expected = await conn.scalar(SKUS_IN_ORDER, {"id": product_id})

    sessions = async_sessionmaker(catalog)
    async with sessions() as session, session.begin():
        await refresh_product_derived(session, product_id)
    async with catalog.connect() as conn:
        by_mutation = await conn.scalar(
            text("SELECT search_document FROM products WHERE id = :id"), {"id": product_id}
        )
        await conn.execute(_search_document_update())
        await conn.commit()
        by_seed = await conn.scalar(
            text("SELECT search_document FROM products WHERE id = :id"), {"id": product_id}
        )
    assert by_mutation == by_seed == expected
