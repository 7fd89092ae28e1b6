"""Catalog: categories, products and variants; sellers' product and stock mutations."""

from __future__ import annotations

import asyncio
import enum
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dataloaders.batching import fetch_rows
from dataloaders.catalog import CATEGORY_COLUMNS, LATEST
from db.models import (
    Category,
    PriceTier,
    Product,
    ProductStatus,
    ProductVariant,
    StockLevel,
    Warehouse,
)
from db.models.catalog import joined_skus, product_search_document
from domain.identity import CompanyRole
from domain.money import FxTable, MissingRateError, Money, is_currency
from domain.pricing import MAX_QUANTITY, check_price_tiers, check_quantity_rules
from domain.problems import Problem, ProblemCode, nest
from domain.text import MAX_NAME_LENGTH, slugify
from resolvers.context import Context
from resolvers.errors import BadUserInputError
from resolvers.global_ids import key_of
from resolvers.outcome import Outcome
from resolvers.pagination import PageRequest
from resolvers.pricing import contract_rows_of
from resolvers.product_listing import (
    ProductOrder,
    ProductPage,
    ProductQuery,
    fetch_page,
    listing_statement,
)
from resolvers.transactions import Refused, WriteTransaction, write_outcome
from resolvers.warehouses import ensure_default_warehouse

MAX_CATEGORIES = 1000
MAX_VARIANTS_PER_PRODUCT = 100
MAX_TIERS_PER_VARIANT = 20
MAX_DESCRIPTION_LENGTH = 20_000
# With "-" and 10 hex digits of the product's UUID this fits products.slug (varchar 220).
MAX_SLUG_BASE_LENGTH = 200
SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


# --- reads -----------------------------------------------------------------------------------


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


# --- writes ----------------------------------------------------------------------------------


class Keep(enum.Enum):
    """An input left out: keep what is stored."""

    KEEP = "KEEP"


@dataclass(frozen=True, slots=True)
class TierSpec:
    min_quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class VariantSpec:
    sku: str
    name: str
    currency: str
    minimum_order_quantity: int | None
    order_increment: int | None
    price_tiers: list[TierSpec]
    stock: int | None
    # A cap per order line: a number sets it, None removes it, KEEP leaves it as stored.
    maximum_order_quantity: int | Keep | None = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ProductSpec:
    name: str | None
    description: str | None
    category_id: str | None
    status: ProductStatus | None
    variants: list[VariantSpec] | None


def _check_text(value: str | None, name: str, limit: int, required: bool) -> list[Problem]:
    if value is None:
        return [Problem((name,), "is required")] if required else []
    if required and not value.strip():
        return [Problem((name,), "must not be blank")]
    if len(value) > limit:
        return [Problem((name,), f"must be at most {limit} characters")]
    return []


def _check_variant(spec: VariantSpec) -> list[Problem]:
    problems: list[Problem] = []
    if not SKU_PATTERN.match(spec.sku):
        problems.append(
            Problem(("sku",), "1-64 letters, digits and . _ / -, starting with a letter or digit")
        )
    problems += _check_text(spec.name, "name", MAX_NAME_LENGTH, required=True)
    if not is_currency(spec.currency):
        problems.append(Problem(("currency",), "is not a supported currency", ProblemCode.INVALID))
        return problems
    # Only an absent value defaults to 1: an explicit 0 is refused, not silently replaced.
    moq = 1 if spec.minimum_order_quantity is None else spec.minimum_order_quantity
    increment = 1 if spec.order_increment is None else spec.order_increment
    maximum = spec.maximum_order_quantity
    quantity_problems = check_quantity_rules(
        moq, increment, None if isinstance(maximum, Keep) else maximum
    )
    problems += quantity_problems
    if quantity_problems:
        pass  # tiers are measured against the minimum: no use checking them against a bad one
    elif len(spec.price_tiers) > MAX_TIERS_PER_VARIANT:
        problems.append(Problem(("priceTiers",), f"at most {MAX_TIERS_PER_VARIANT} tiers"))
    else:
        pairs = [(t.min_quantity, t.unit_price) for t in spec.price_tiers]
        problems += check_price_tiers(pairs, spec.currency, moq)
    if spec.stock is not None and not 0 <= spec.stock <= MAX_QUANTITY:
        problems.append(Problem(("stock",), f"must be between 0 and {MAX_QUANTITY}"))
    return problems


def _check_variants(
    variants: list[VariantSpec], product_currency: str | None, required: bool
) -> list[Problem]:
    if not variants:
        return [Problem(("variants",), "at least one variant is required")] if required else []
    if len(variants) > MAX_VARIANTS_PER_PRODUCT:
        return [Problem(("variants",), f"at most {MAX_VARIANTS_PER_PRODUCT} variants a call")]
    problems: list[Problem] = []
    seen: set[str] = set()
    currency = product_currency or variants[0].currency
    for index, variant in enumerate(variants):
        at = ("variants", str(index))
        problems += nest(_check_variant(variant), *at)
        if variant.sku.lower() in seen:
            problems.append(
                Problem((*at, "sku"), "appears twice in this input", ProblemCode.DUPLICATE)
            )
        seen.add(variant.sku.lower())
        if variant.currency != currency and is_currency(variant.currency):
            problems.append(
                Problem(
                    (*at, "currency"),
                    f"all variants of a product are priced in one currency ({currency})",
                )
            )
    return problems


async def _category_key(ctx: Context, global_id: str | None) -> uuid.UUID | None:
    key = key_of(global_id, "Category") if global_id else None
    if key is None or await ctx.loaders.category_by_id.load(key) is None:
        return None
    return key


async def _taken_skus(
    session: AsyncSession, seller_id: uuid.UUID, skus: list[str], product_id: uuid.UUID | None
) -> set[str]:
    """The given SKUs (lower-cased) that another product of the seller already uses."""
    statement = select(func.lower(ProductVariant.sku)).where(
        ProductVariant.seller_id == seller_id,
        func.lower(ProductVariant.sku).in_([sku.lower() for sku in skus]),
    )
    if product_id is not None:
        statement = statement.where(ProductVariant.product_id != product_id)
    return set((await session.scalars(statement)).all())


def product_slug(name: str, product_id: uuid.UUID) -> str:
    """The name's slug plus the start of the product's own UUID, always.

    Derived from the product alone, so it needs no lookup (concurrent creates with one name
    cannot collide) and tells nothing about other sellers' products, drafts included.
    """
    return f"{slugify(name, max_length=MAX_SLUG_BASE_LENGTH)}-{product_id.hex[:10]}"


async def refresh_product_derived(session: AsyncSession, product_id: uuid.UUID) -> None:
    """Recompute the denormalised price range and the full-text document of a product."""
    variant_ids = select(ProductVariant.id).where(ProductVariant.product_id == product_id)
    of_product = PriceTier.variant_id.in_(variant_ids)
    skus = select(joined_skus()).where(ProductVariant.product_id == product_id)
    document = product_search_document(skus.scalar_subquery())
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(
            price_min_minor=select(func.min(PriceTier.unit_price_minor))
            .where(of_product)
            .scalar_subquery(),
            price_max_minor=select(func.max(PriceTier.unit_price_minor))
            .where(of_product)
            .scalar_subquery(),
            search_document=document,
            updated_at=func.now(),
        )
    )


async def _write_variants(
    session: AsyncSession,
    seller_id: uuid.UUID,
    product_id: uuid.UUID,
    warehouse_id: uuid.UUID,
    variants: list[VariantSpec],
) -> None:
    """Insert new SKUs, update existing ones (their tiers are replaced), then set their stock.

    Raises Refused (the caller's transaction rolls back) when a stock is below what open
    orders reserve."""
    existing = {
        sku.lower(): variant_id
        for sku, variant_id in (
            await session.execute(
                select(ProductVariant.sku, ProductVariant.id).where(
                    ProductVariant.product_id == product_id
                )
            )
        ).all()
    }
    position_base = len(existing)
    # Stock is written after the loop, in variant order (see _write_stock).
    stock: dict[uuid.UUID, tuple[int, int]] = {}
    for index, spec in enumerate(variants):
        values = {
            "name": spec.name.strip(),
            "currency": spec.currency,
            "minimum_order_quantity": spec.minimum_order_quantity or 1,
            "order_increment": spec.order_increment or 1,
        }
        if not isinstance(spec.maximum_order_quantity, Keep):
            values["maximum_order_quantity"] = spec.maximum_order_quantity
        # SKUs match case-insensitively; an update keeps the spelling first stored.
        variant_id = existing.get(spec.sku.lower())
        if variant_id is None:
            variant_id = uuid.uuid4()
            await session.execute(
                insert(ProductVariant).values(
                    id=variant_id,
                    product_id=product_id,
                    seller_id=seller_id,
                    sku=spec.sku,
                    position=position_base + index,
                    **values,
                )
            )
        else:
            await session.execute(
                update(ProductVariant).where(ProductVariant.id == variant_id).values(**values)
            )
            await session.execute(delete(PriceTier).where(PriceTier.variant_id == variant_id))
        await session.execute(
            insert(PriceTier),
            [
                {
                    "variant_id": variant_id,
                    "min_quantity": tier.min_quantity,
                    "unit_price_minor": Money.from_decimal(tier.unit_price, spec.currency).minor,
                    "currency": spec.currency,
                }
                for tier in spec.price_tiers
            ],
        )
        if spec.stock is not None:
            stock[variant_id] = (index, spec.stock)
    await _write_stock(session, warehouse_id, stock)


async def _write_stock(
    session: AsyncSession, warehouse_id: uuid.UUID, stock: dict[uuid.UUID, tuple[int, int]]
) -> None:
    """Set on-hand stock of variants in one warehouse; `stock`: variant -> (input index, units).

    Rows are locked and written in variant order, as checkout and order status changes lock
    them, so these writes queue behind each other instead of deadlocking. A quantity below what
    open orders reserve is refused (setStock's rule) with nothing written (Refused)."""
    if not stock:
        return
    ordered = sorted(stock)
    reserved = dict(
        (
            await session.execute(
                select(StockLevel.variant_id, StockLevel.reserved)
                .where(
                    StockLevel.warehouse_id == warehouse_id,
                    StockLevel.variant_id.in_(ordered),
                )
                # Locked in this order: PostgreSQL locks the rows as the sort returns them.
                .order_by(StockLevel.variant_id)
                .with_for_update()
            )
        ).all()
    )
    problems = [
        Problem(
            ("input", "variants", str(index), "stock"),
            _reserved_message(reserved[variant_id]),
            ProblemCode.CONFLICT,
        )
        for variant_id, (index, on_hand) in stock.items()
        if on_hand < reserved.get(variant_id, 0)
    ]
    if problems:
        raise Refused(sorted(problems, key=lambda problem: int(problem.path[2])))
    for variant_id in ordered:
        await _upsert_stock(session, variant_id, warehouse_id, stock[variant_id][1])


def _reserved_message(reserved: int) -> str:
    return f"{reserved} units are reserved by open orders; set at least that many"


async def _upsert_stock(
    session: AsyncSession, variant_id: uuid.UUID, warehouse_id: uuid.UUID, on_hand: int
) -> None:
    statement = pg_insert(StockLevel).values(
        variant_id=variant_id, warehouse_id=warehouse_id, on_hand=on_hand, reserved=0
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[StockLevel.variant_id, StockLevel.warehouse_id],
            set_={"on_hand": statement.excluded.on_hand},
        )
    )


SKU_RACE_PROBLEM = Problem(
    ("input", "variants"),
    "a SKU was taken by a concurrent change; try again",
    ProblemCode.DUPLICATE,
)


async def _variant_limit_problem(
    session: AsyncSession, product_id: uuid.UUID, variants: list[VariantSpec]
) -> Problem | None:
    """Refuses an upsert that would leave the product with more than the variant limit.

    Updates upsert, so the per-call limit alone would let a product grow without bound. The
    product row is locked first so concurrent updates count one after the other.
    """
    await session.execute(
        select(Product.id).where(Product.id == product_id).with_for_update(key_share=True)
    )
    stored = set(
        (
            await session.scalars(
                select(func.lower(ProductVariant.sku)).where(
                    ProductVariant.product_id == product_id
                )
            )
        ).all()
    )
    added = {variant.sku.lower() for variant in variants} - stored
    if len(stored) + len(added) <= MAX_VARIANTS_PER_PRODUCT:
        return None
    return Problem(
        ("input", "variants"),
        f"a product has at most {MAX_VARIANTS_PER_PRODUCT} variants: it has {len(stored)} "
        f"and this adds {len(added)} new SKUs",
    )


def _is_sku_conflict(error: IntegrityError) -> bool:
    return "uq_product_variants_seller_id_lower_sku" in str(error.orig)


async def create_product(ctx: Context, spec: ProductSpec) -> Outcome:
    seller_id = ctx.viewer.company_id
    assert seller_id is not None and ctx.viewer.has_role(CompanyRole.SELLER)
    problems = _check_text(spec.name, "name", MAX_NAME_LENGTH, required=True)
    problems += _check_text(spec.description, "description", MAX_DESCRIPTION_LENGTH, False)
    problems += _check_variants(spec.variants or [], None, required=True)
    category_id = await _category_key(ctx, spec.category_id)
    if category_id is None:
        problems.append(Problem(("categoryId",), "no such category", ProblemCode.NOT_FOUND))
    if problems:
        return Outcome(problems=nest(problems, "input"))
    assert spec.name is not None and spec.variants and category_id is not None
    name, variants = spec.name, spec.variants
    company = await ctx.loaders.company_by_id.load(seller_id)
    product_id = uuid.uuid4()
    currency = variants[0].currency

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        skus = [v.sku for v in variants]
        taken = await _taken_skus(session, seller_id, skus, None)
        if taken:
            return Outcome(problems=_sku_taken_problems(variants, taken))
        await session.execute(
            insert(Product).values(
                id=product_id,
                seller_id=seller_id,
                category_id=category_id,
                name=name.strip(),
                slug=product_slug(name, product_id),
                description=spec.description or "",
                status=spec.status or ProductStatus.DRAFT,
                price_currency=currency,
                # Placeholders until refresh_product_derived reads the tiers.
                price_min_minor=1,
                price_max_minor=1,
            )
        )
        warehouse_id = await ensure_default_warehouse(session, seller_id, company.country)
        await _write_variants(session, seller_id, product_id, warehouse_id, variants)
        await refresh_product_derived(session, product_id)
        tx.changed(catalog=True)
        return Outcome(key=product_id)

    try:
        return await write_outcome(ctx, write)
    except IntegrityError as error:
        if _is_sku_conflict(error):  # a concurrent request took the SKU first
            return Outcome(problems=[SKU_RACE_PROBLEM])
        raise


def _sku_taken_problems(variants: list[VariantSpec], taken: set[str]) -> list[Problem]:
    return [
        Problem(
            ("input", "variants", str(index), "sku"),
            f"SKU {variant.sku} is already used by another of your products",
            ProblemCode.DUPLICATE,
        )
        for index, variant in enumerate(variants)
        if variant.sku.lower() in taken
    ]


async def _own_product(ctx: Context, global_id: str) -> Row[Any] | None:
    """The viewer's company's product, or None: another seller's product reads as not found."""
    key = key_of(global_id, "Product")
    row = await ctx.loaders.product_by_id.load(key) if key else None
    if row is None or row.seller_id != ctx.viewer.company_id:
        return None
    return row


def _keep_stored_quantity_rules(
    variants: list[VariantSpec], stored: list[Row[Any]]
) -> list[VariantSpec]:
    """An update that leaves out a known SKU's quantity rules keeps the stored ones."""
    by_sku = {row.sku.lower(): row for row in stored}
    kept = []
    for variant in variants:
        row = by_sku.get(variant.sku.lower())
        if row is not None:
            variant = replace(
                variant,
                minimum_order_quantity=variant.minimum_order_quantity
                if variant.minimum_order_quantity is not None
                else row.minimum_order_quantity,
                order_increment=variant.order_increment
                if variant.order_increment is not None
                else row.order_increment,
                maximum_order_quantity=row.maximum_order_quantity
                if isinstance(variant.maximum_order_quantity, Keep)
                else variant.maximum_order_quantity,
            )
        kept.append(variant)
    return kept


async def update_product(ctx: Context, global_id: str, spec: ProductSpec) -> Outcome:
    seller_id = ctx.viewer.company_id
    assert seller_id is not None
    row = await _own_product(ctx, global_id)
    if row is None:
        return Outcome(
            problems=[Problem(("id",), "no such product of yours", ProblemCode.NOT_FOUND)]
        )
    if spec.variants:
        stored = await ctx.loaders.variants_by_product_id.load(row.id)
        spec = replace(spec, variants=_keep_stored_quantity_rules(spec.variants, stored))
    problems = []
    if spec.name is not None:
        problems += _check_text(spec.name, "name", MAX_NAME_LENGTH, required=True)
    problems += _check_text(spec.description, "description", MAX_DESCRIPTION_LENGTH, False)
    problems += _check_variants(spec.variants or [], row.price_currency, required=False)
    category_id = None
    if spec.category_id is not None:
        category_id = await _category_key(ctx, spec.category_id)
        if category_id is None:
            problems.append(Problem(("categoryId",), "no such category", ProblemCode.NOT_FOUND))
    if problems:
        return Outcome(problems=nest(problems, "input"))
    changes: dict[str, Any] = {}
    if spec.name is not None:
        changes["name"] = spec.name.strip()
    if spec.description is not None:
        changes["description"] = spec.description
    if category_id is not None:
        changes["category_id"] = category_id
    if spec.status is not None:
        changes["status"] = spec.status
    variants = spec.variants
    # Loaded before the transaction: a loader takes a pooled connection of its own.
    company = await ctx.loaders.company_by_id.load(seller_id) if variants else None

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        if variants:
            skus = [v.sku for v in variants]
            taken = await _taken_skus(session, seller_id, skus, row.id)
            if taken:
                return Outcome(problems=_sku_taken_problems(variants, taken))
            too_many = await _variant_limit_problem(session, row.id, variants)
            if too_many is not None:
                return Outcome(problems=[too_many])
        if changes:
            await session.execute(update(Product).where(Product.id == row.id).values(**changes))
        if variants:
            assert company is not None
            warehouse_id = await ensure_default_warehouse(session, seller_id, company.country)
            await _write_variants(session, seller_id, row.id, warehouse_id, variants)
        await refresh_product_derived(session, row.id)
        tx.changed(catalog=True)
        return Outcome(key=row.id)

    try:
        return await write_outcome(ctx, write)
    except IntegrityError as error:
        if _is_sku_conflict(error):
            return Outcome(problems=[SKU_RACE_PROBLEM])
        raise


async def set_stock(
    ctx: Context, variant_global_id: str, quantity: int, warehouse_global_id: str | None
) -> Outcome:
    seller_id = ctx.viewer.company_id
    assert seller_id is not None
    variant_key = key_of(variant_global_id, "ProductVariant")
    variant = await ctx.loaders.variant_by_id.load(variant_key) if variant_key else None
    product = await ctx.loaders.product_by_id.load(variant.product_id) if variant else None
    if variant is None or product is None or product.seller_id != seller_id:
        return Outcome(
            problems=[Problem(("variantId",), "no such variant of yours", ProblemCode.NOT_FOUND)]
        )
    if not 0 <= quantity <= MAX_QUANTITY:
        return Outcome(problems=[Problem(("quantity",), f"must be between 0 and {MAX_QUANTITY}")])
    # Loaded before the transaction: a loader takes a pooled connection of its own.
    company = (
        await ctx.loaders.company_by_id.load(seller_id) if warehouse_global_id is None else None
    )

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        if warehouse_global_id is not None:
            warehouse_id = key_of(warehouse_global_id, "Warehouse")
            owner = (
                await session.scalar(
                    select(Warehouse.company_id).where(Warehouse.id == warehouse_id)
                )
                if warehouse_id
                else None
            )
            if owner != seller_id:
                return Outcome(
                    problems=[
                        Problem(
                            ("warehouseId",),
                            "no such warehouse of yours",
                            ProblemCode.NOT_FOUND,
                        )
                    ]
                )
        else:
            assert company is not None
            warehouse_id = await ensure_default_warehouse(session, seller_id, company.country)
        # Lock the row: a checkout may be reserving from it right now.
        reserved = await session.scalar(
            select(StockLevel.reserved)
            .where(StockLevel.variant_id == variant.id, StockLevel.warehouse_id == warehouse_id)
            .with_for_update()
        )
        if reserved is not None and quantity < reserved:
            return Outcome(
                problems=[Problem(("quantity",), _reserved_message(reserved), ProblemCode.CONFLICT)]
            )
        assert warehouse_id is not None
        await _upsert_stock(session, variant.id, warehouse_id, quantity)
        tx.changed(catalog=True)
        return Outcome(key=variant.id)

    return await write_outcome(ctx, write, conflict_at=("quantity",))
