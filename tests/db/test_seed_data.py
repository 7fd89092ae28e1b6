"""The demo seed: counts, price consistency, determinism, refusal to reseed, logins, search.

Self-contained for now: each database is created fresh on the local PostgreSQL and dropped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.passwords import verify_password
from db.seed import DEMO_PASSWORD, SeedSummary, is_seeded, seed

PRODUCTS = 300


@pytest.fixture(scope="module")
async def seeded(
    demo_password_hash: str, fresh_database: Any
) -> AsyncIterator[tuple[AsyncEngine, SeedSummary]]:
    async with fresh_database() as engine:
        summary = await seed(engine, password_hash=demo_password_hash, products=PRODUCTS)
        yield engine, summary


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql))


async def test_counts_in_summary_match_database(
    seeded: tuple[AsyncEngine, SeedSummary],
) -> None:
    engine, summary = seeded
    assert summary.products == PRODUCTS
    expected = {
        "companies": summary.companies,
        "users": summary.users,
        "categories": summary.categories,
        "products": summary.products,
        "product_variants": summary.variants,
        "price_tiers": summary.tiers,
        "stock_levels": summary.variants,
    }
    for table, count in expected.items():
        assert await scalar(engine, f"SELECT count(*) FROM {table}") == count, table  # noqa: S608
    assert summary.companies >= 11
    assert summary.categories >= 20
    assert summary.variants >= PRODUCTS
    assert await scalar(engine, "SELECT count(*) FROM companies WHERE is_seller") >= 6
    assert await scalar(engine, "SELECT count(*) FROM companies WHERE is_buyer") >= 4
    assert await scalar(engine, "SELECT count(*) FROM companies WHERE is_seller AND is_buyer") >= 1
    # Every seller has exactly one default warehouse and every variant stock there.
    assert (
        await scalar(
            engine,
            """SELECT count(*) FROM companies c WHERE c.is_seller AND
               (SELECT count(*) FROM warehouses w
                WHERE w.company_id = c.id AND w.is_default) <> 1""",
        )
        == 0
    )
    assert (
        await scalar(
            engine,
            """SELECT count(*) FROM product_variants v
               JOIN warehouses w ON w.company_id = v.seller_id AND w.is_default
               LEFT JOIN stock_levels s ON s.variant_id = v.id AND s.warehouse_id = w.id
               WHERE s.variant_id IS NULL OR s.reserved <> 0 OR s.on_hand NOT BETWEEN 0 AND 5000""",
        )
        == 0
    )
    # Three-level tree: a leaf's grandparent is a root.
    assert (
        await scalar(
            engine,
            """SELECT count(*) FROM products p JOIN categories leaf ON leaf.id = p.category_id
               JOIN categories mid ON mid.id = leaf.parent_id
               JOIN categories top ON top.id = mid.parent_id AND top.parent_id IS NULL""",
        )
        == PRODUCTS
    )
    # Both a 30-day-old and a recent rate for each quote currency.
    assert (
        await scalar(
            engine,
            """SELECT count(*) FROM (SELECT quote FROM fx_rates WHERE base = 'USD'
               GROUP BY quote HAVING count(*) <> 2) AS odd""",
        )
        == 0
    )
    assert (
        await scalar(
            engine,
            """SELECT count(*) FROM (SELECT DISTINCT currency FROM product_variants
               UNION SELECT DISTINCT default_currency FROM companies) AS used
               WHERE currency <> 'USD'
               AND currency NOT IN (SELECT quote FROM fx_rates WHERE base = 'USD')""",
        )
        == 0
    )


async def test_product_price_range_equals_its_tiers(
    seeded: tuple[AsyncEngine, SeedSummary],
) -> None:
    engine, _ = seeded
    mismatches = await scalar(
        engine,
        """SELECT count(*) FROM products p
           JOIN (SELECT v.product_id, min(t.unit_price_minor) AS lo, max(t.unit_price_minor) AS hi
                 FROM product_variants v JOIN price_tiers t ON t.variant_id = v.id
                 GROUP BY v.product_id) AS r ON r.product_id = p.id
           WHERE p.price_min_minor <> r.lo OR p.price_max_minor <> r.hi""",
    )
    assert mismatches == 0
    assert await scalar(engine, "SELECT count(*) FROM products WHERE price_min_minor <= 0") == 0


async def test_tiers_start_at_moq_and_never_get_dearer(
    seeded: tuple[AsyncEngine, SeedSummary],
) -> None:
    engine, _ = seeded
    first_not_moq = await scalar(
        engine,
        """SELECT count(*) FROM product_variants v
           WHERE (SELECT min(min_quantity) FROM price_tiers t WHERE t.variant_id = v.id)
                 IS DISTINCT FROM v.minimum_order_quantity""",
    )
    assert first_not_moq == 0
    dearer = await scalar(
        engine,
        """SELECT count(*) FROM (
               SELECT unit_price_minor,
                      lag(unit_price_minor) OVER (PARTITION BY variant_id ORDER BY min_quantity)
                        AS previous
               FROM price_tiers) AS t
           WHERE unit_price_minor > previous""",
    )
    assert dearer == 0
    odd_variants = await scalar(
        engine,
        """SELECT count(*) FROM product_variants
           WHERE minimum_order_quantity NOT IN (1, 5, 10, 25, 50, 100)
              OR minimum_order_quantity % order_increment <> 0""",
    )
    assert odd_variants == 0


async def test_currencies_agree_and_follow_the_seller(
    seeded: tuple[AsyncEngine, SeedSummary],
) -> None:
    engine, _ = seeded
    disagreements = await scalar(
        engine,
        """SELECT count(*) FROM price_tiers t
           JOIN product_variants v ON v.id = t.variant_id
           JOIN products p ON p.id = v.product_id
           JOIN companies c ON c.id = p.seller_id
           WHERE t.currency <> v.currency OR v.currency <> p.price_currency
              OR p.price_currency <> c.default_currency OR v.seller_id <> p.seller_id""",
    )
    assert disagreements == 0
    # JPY and KWD sellers exist, so exponents 0 and 3 are exercised.
    currencies = await scalar(
        engine, "SELECT array_agg(DISTINCT default_currency) FROM companies WHERE is_seller"
    )
    assert isinstance(currencies, list)
    assert {"JPY", "KWD", "USD", "EUR"} <= set(currencies)


async def test_same_seed_gives_same_catalogue(
    demo_password_hash: str, seeded: tuple[AsyncEngine, SeedSummary], fresh_database: Any
) -> None:
    engine, summary = seeded
    query = text(
        "SELECT p.id, p.name, p.slug, string_agg(v.sku || ':' || v.id, ',' ORDER BY v.position)"
        " FROM products p JOIN product_variants v ON v.product_id = p.id"
        " GROUP BY p.id ORDER BY p.id"
    )
    async with engine.connect() as conn:
        first = (await conn.execute(query)).all()
    async with fresh_database() as other:
        again = await seed(other, password_hash=demo_password_hash, products=PRODUCTS)
        async with other.connect() as conn:
            second = (await conn.execute(query)).all()
    assert again == summary
    assert first == second
    assert len(first) == PRODUCTS


async def test_different_seed_gives_different_catalogue(
    demo_password_hash: str, fresh_database: Any
) -> None:
    async with fresh_database() as one, fresh_database() as two:
        await seed(one, password_hash=demo_password_hash, products=20, seed=1)
        await seed(two, password_hash=demo_password_hash, products=20, seed=2)
        query = "SELECT array_agg(name ORDER BY slug) FROM products"
        assert await scalar(one, query) != await scalar(two, query)


async def test_seeding_twice_is_refused(
    demo_password_hash: str, seeded: tuple[AsyncEngine, SeedSummary]
) -> None:
    engine, _ = seeded
    assert await is_seeded(engine)
    with pytest.raises(RuntimeError, match="already has data"):
        await seed(engine, password_hash=demo_password_hash, products=5)
    assert await scalar(engine, "SELECT count(*) FROM products") == PRODUCTS


async def test_empty_database_is_not_seeded(fresh_database: Any) -> None:
    async with fresh_database() as engine:
        assert not await is_seeded(engine)


async def test_demo_users_log_in_with_demo_password(
    seeded: tuple[AsyncEngine, SeedSummary],
) -> None:
    engine, summary = seeded
    emails = [email for email, _ in summary.logins]
    assert "admin@demo.example" in emails
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT u.email, u.password_hash, m.role::text, c.is_platform"
                    " FROM users u JOIN memberships m ON m.user_id = u.id"
                    " JOIN companies c ON c.id = m.company_id"
                )
            )
        ).all()
    by_email = {row.email: row for row in rows}
    assert set(by_email) == set(emails)
    admin = by_email["admin@demo.example"]
    assert admin.is_platform
    assert admin.role == "OWNER"
    assert await verify_password(admin.password_hash, DEMO_PASSWORD)
    assert not await verify_password(admin.password_hash, DEMO_PASSWORD + "x")
    # One hash for everyone (hashed once).
    assert len({row.password_hash for row in rows}) == 1
    # Every company has exactly one OWNER.
    owners = await scalar(
        engine,
        """SELECT count(*) FROM companies c WHERE
           (SELECT count(*) FROM memberships m WHERE m.company_id = c.id AND m.role = 'OWNER')
           <> 1""",
    )
    assert owners == 0


async def test_search_document_matches_a_name_word(
    seeded: tuple[AsyncEngine, SeedSummary],
) -> None:
    engine, _ = seeded
    assert await scalar(engine, "SELECT count(*) FROM products WHERE search_document IS NULL") == 0
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id, name FROM products ORDER BY id LIMIT 25"))
        ).all()
        for product_id, name in rows:
            word = max(re.findall(r"[A-Za-z]{4,}", name), key=len)
            found = await conn.scalar(
                text(
                    "SELECT count(*) FROM products WHERE id = :id"
                    " AND search_document @@ websearch_to_tsquery('english', :word)"
                ),
                {"id": product_id, "word": word},
            )
            assert found == 1, (name, word)
        # SKUs are in the document too (the 'simple' configuration keeps them whole).
        sku = await conn.scalar(text("SELECT sku FROM product_variants ORDER BY id LIMIT 1"))
        hits = await conn.scalar(
            text(
                "SELECT count(*) FROM products p JOIN product_variants v ON v.product_id = p.id"
                " WHERE v.sku = :sku AND p.search_document @@ plainto_tsquery('simple', :sku)"
            ),
            {"sku": sku},
        )
        assert hits == 1


async def test_seed_leaves_planner_statistics(seeded: tuple[AsyncEngine, SeedSummary]) -> None:
    # Without ANALYZE a server with autovacuum off plans from guesses (200x off on the catalog).
    engine, _ = seeded
    for table in ("products", "product_variants", "price_tiers", "stock_levels"):
        assert (
            await scalar(engine, f"SELECT count(*) FROM pg_stats WHERE tablename = '{table}'")  # noqa: S608
            > 0
        ), table


def test_seed_help_lists_the_demo_logins(capsys: pytest.CaptureFixture[str]) -> None:
    from db.seed import DEMO_LOGINS
    from server import main

    with pytest.raises(SystemExit):
        main(["seed", "--help"])
    shown = capsys.readouterr().out
    assert DEMO_PASSWORD in shown
    for email, _ in DEMO_LOGINS:
        assert email in shown
