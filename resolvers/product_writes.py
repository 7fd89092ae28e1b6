"""Sellers' product and stock mutations: createProduct, updateProduct, setStock."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    PriceTier,
    Product,
    ProductStatus,
    ProductVariant,
    StockLevel,
    Warehouse,
)
from db.models.catalog import joined_skus, product_search_document
from domain.identity import CompanyRole
from domain.money import Money
from domain.pricing import MAX_QUANTITY
from domain.problems import Problem, ProblemCode, nest
from domain.text import MAX_NAME_LENGTH
from resolvers.context import Context
from resolvers.global_ids import key_of
from resolvers.outcome import Outcome
from resolvers.product_validation import (
    MAX_DESCRIPTION_LENGTH,
    MAX_VARIANTS_PER_PRODUCT,
    SKU_RACE_PROBLEM,
    Keep,
    ProductSpec,
    VariantSpec,
    check_text,
    check_variants,
    keep_stored_quantity_rules,
    product_slug,
    reserved_message,
    sku_taken_problems,
)
from resolvers.transactions import Refused, WriteTransaction, write_outcome
from resolvers.warehouses import ensure_default_warehouse


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
            reserved_message(reserved[variant_id]),
            ProblemCode.CONFLICT,
        )
        for variant_id, (index, on_hand) in stock.items()
        if on_hand < reserved.get(variant_id, 0)
    ]
    if problems:
        raise Refused(sorted(problems, key=lambda problem: int(problem.path[2])))
    for variant_id in ordered:
        await _upsert_stock(session, variant_id, warehouse_id, stock[variant_id][1])


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
    problems = check_text(spec.name, "name", MAX_NAME_LENGTH, required=True)
    problems += check_text(spec.description, "description", MAX_DESCRIPTION_LENGTH, False)
    problems += check_variants(spec.variants or [], None, required=True)
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
            return Outcome(problems=sku_taken_problems(variants, taken))
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


async def _own_product(ctx: Context, global_id: str) -> Row[Any] | None:
    """The viewer's company's product, or None: another seller's product reads as not found."""
    key = key_of(global_id, "Product")
    row = await ctx.loaders.product_by_id.load(key) if key else None
    if row is None or row.seller_id != ctx.viewer.company_id:
        return None
    return row


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
        spec = replace(spec, variants=keep_stored_quantity_rules(spec.variants, stored))
    problems = []
    if spec.name is not None:
        problems += check_text(spec.name, "name", MAX_NAME_LENGTH, required=True)
    problems += check_text(spec.description, "description", MAX_DESCRIPTION_LENGTH, False)
    problems += check_variants(spec.variants or [], row.price_currency, required=False)
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
                return Outcome(problems=sku_taken_problems(variants, taken))
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
                problems=[Problem(("quantity",), reserved_message(reserved), ProblemCode.CONFLICT)]
            )
        assert warehouse_id is not None
        await _upsert_stock(session, variant.id, warehouse_id, quantity)
        tx.changed(catalog=True)
        return Outcome(key=variant.id)

    return await write_outcome(ctx, write, conflict_at=("quantity",))
