"""Catalog indexes: the listing filters have theirs, and the planner uses them on a seeded table.

Plans are read with EXPLAIN on a scratch database holding a few thousand demo products, after
VACUUM ANALYZE (the seed fills the GIN index's pending list, which a live database's autovacuum
would have flushed; until then the planner prices the full-text index far too high).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.viewer import Viewer
from db.seed import seed
from resolvers.context import Context
from resolvers.product_listing import ProductOrder, ProductQuery, listing_statement

PRODUCTS = 3000


@pytest.fixture(scope="module")
async def catalog(demo_password_hash: str, fresh_database: Any) -> AsyncIterator[AsyncEngine]:
    async with fresh_database() as engine:
        await seed(engine, password_hash=demo_password_hash, products=PRODUCTS)
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
        yield engine


async def plan_of(engine: AsyncEngine, statement: Select, *, trigram_index: bool = True) -> str:
    """EXPLAIN of the statement with its real parameters, as the app would send it.

    Without `trigram_index` the plan is made as on a server without pg_trgm: its index is
    dropped in a transaction that is rolled back (pg_trgm's index also serves ILIKE, so on a
    server that has it, it would hide a missing prefix index).
    """
    compiled = statement.compile(dialect=engine.dialect)
    parameters = compiled.construct_params()
    arguments = tuple(parameters[name] for name in compiled.positiontup or ())
    async with engine.connect() as conn:
        if not trigram_index:
            await conn.execute(text("DROP INDEX IF EXISTS ix_products_name_trgm"))
        rows = (await conn.exec_driver_sql(f"EXPLAIN {compiled}", arguments)).all()
        await conn.rollback()
    return "\n".join(row[0] for row in rows)


def listing(query: ProductQuery, order: ProductOrder, *, trigram: bool = False) -> Select:
    """The app's own listing statement, sorted and limited like a first page."""
    ctx = SimpleNamespace(viewer=Viewer(), services=SimpleNamespace(has_trigram_search=trigram))
    statement, sort_keys = listing_statement(cast(Context, ctx), query, order, None, None)
    keys = [key.desc() if descending else key.asc() for key, descending in sort_keys]
    return statement.order_by(*keys).limit(21)


async def index_columns(engine: AsyncEngine, table: str) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :table"),
            {"table": table},
        )
        return {name: definition for name, definition in rows.all()}


async def test_listing_indexes_exist_and_redundant_ones_do_not(
    catalog: AsyncEngine,
) -> None:
    products = await index_columns(catalog, "products")
    assert (
        "(seller_id, status, created_at, id)"
        in products["ix_products_seller_id_status_created_at_id"]
    )
    assert (
        "(category_id, status, created_at, id)"
        in products["ix_products_category_id_status_created_at_id"]
    )
    assert "lower((name)::text) text_pattern_ops" in products["ix_products_lower_name_pattern"]
    # Covered by the composites' (and the SKU index's) leading column.
    assert "ix_products_seller_id" not in products
    assert "ix_products_category_id" not in products
    assert "ix_product_variants_seller_id" not in await index_columns(catalog, "product_variants")


async def test_name_prefix_search_uses_indexes_without_trigrams(catalog: AsyncEngine) -> None:
    async with catalog.connect() as conn:
        names = (await conn.scalars(text("SELECT name FROM products ORDER BY id LIMIT 3"))).all()
    for name in names:
        for prefix in (name[:9], name[:12].lower()):
            # Ranking reads every match: the prefix arm must come from its index.
            relevance = listing(ProductQuery(text=prefix), ProductOrder.RELEVANCE)
            plan = await plan_of(catalog, relevance, trigram_index=False)
            assert "Seq Scan on products" not in plan, plan
            assert "ix_products_lower_name_pattern" in plan, plan
            # Newest first may instead walk the created_at index and stop after one page.
            newest = listing(ProductQuery(text=prefix), ProductOrder.NEWEST)
            plan = await plan_of(catalog, newest, trigram_index=False)
            assert "Seq Scan on products" not in plan, plan


async def test_name_prefix_search_uses_indexes_with_trigrams(catalog: AsyncEngine) -> None:
    async with catalog.connect() as conn:
        if not await conn.scalar(
            text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
        ):
            pytest.skip("pg_trgm is not installed on this server")
        name = await conn.scalar(text("SELECT name FROM products ORDER BY id LIMIT 1"))
    statement = listing(ProductQuery(text=name[:9]), ProductOrder.RELEVANCE, trigram=True)
    plan = await plan_of(catalog, statement)
    assert "Seq Scan on products" not in plan, plan


async def test_one_sellers_newest_products_read_its_index(catalog: AsyncEngine) -> None:
    async with catalog.connect() as conn:
        seller_id = await conn.scalar(
            text("SELECT seller_id FROM products GROUP BY seller_id ORDER BY count(*) LIMIT 1")
        )
    assert isinstance(seller_id, uuid.UUID)
    plan = await plan_of(catalog, listing(ProductQuery(seller_id=seller_id), ProductOrder.NEWEST))
    assert "ix_products_seller_id_status_created_at_id" in plan, plan
