"""The buyer's cart: one per user and company, lines of any sellers, priced live."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Cart, CartLine, ProductVariant
from domain.catalog import ProductStatus
from domain.money import FxTable, Money
from domain.pricing import MAX_QUANTITY, AmountTooLargeError, price_line, unit_price_in
from domain.problems import Problem, ProblemCode
from domain.quantities import QuantityRules
from resolvers import pricing
from resolvers.context import Context
from resolvers.global_ids import key_of
from resolvers.outcome import Outcome
from resolvers.transactions import WriteTransaction, write_outcome

MAX_CART_LINES = 100
# A cart's id follows from its owner, so an empty cart has an id before it has a row.
_CART_NAMESPACE = uuid.UUID("ca57ca57-0000-4000-8000-b2bca7000001")


def cart_id_for(user_id: uuid.UUID, company_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_CART_NAMESPACE, f"{user_id}:{company_id}")


@dataclass(frozen=True, slots=True)
class PricedLine:
    id: uuid.UUID
    variant: Row[Any]
    quantity: int
    unit_price: Money

    @property
    def line_total(self) -> Money:
        """In the seller's currency: unit price times quantity."""
        return self.unit_price.times(self.quantity)

    def total_in(self, currency: str, fx: FxTable | None) -> Money:
        """The line in `currency` by checkout's rule (domain.pricing.price_line): the unit
        price converted, then times the quantity. Not bounded here: a line that grew too
        costly (a seller raised the price) still shows, and checkout refuses it."""
        unit, _ = unit_price_in(self.unit_price, currency, fx)
        return unit.times(self.quantity)


@dataclass(frozen=True, slots=True)
class CartView:
    """The cart as the viewer sees it now."""

    id: uuid.UUID
    lines: list[PricedLine]


def quantity_rules(variant: Any) -> QuantityRules:
    return QuantityRules(
        variant.minimum_order_quantity, variant.order_increment, variant.maximum_order_quantity
    )


def _owner(ctx: Context) -> tuple[uuid.UUID, uuid.UUID]:
    viewer = ctx.viewer
    assert viewer.user_id is not None and viewer.company_id is not None, "buyers only"
    return viewer.user_id, viewer.company_id


async def view_cart(ctx: Context) -> CartView:
    user_id, company_id = _owner(ctx)
    async with ctx.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(Cart.id, CartLine.id, CartLine.variant_id, CartLine.quantity)
                .select_from(Cart)
                .outerjoin(CartLine, CartLine.cart_id == Cart.id)
                .where(Cart.user_id == user_id, Cart.company_id == company_id)
                .order_by(CartLine.created_at, CartLine.id)
                .limit(MAX_CART_LINES)
            )
        ).all()
    if not rows:
        return CartView(id=cart_id_for(user_id, company_id), lines=[])
    lines = [
        (line_id, variant_id, quantity) for _, line_id, variant_id, quantity in rows if line_id
    ]
    variants = await ctx.loaders.variant_by_id.load_many([variant_id for _, variant_id, _ in lines])
    prices = await pricing.unit_prices(ctx, [(variant_id, qty) for _, variant_id, qty in lines])
    return CartView(
        id=rows[0][0],
        lines=[
            PricedLine(line_id, variant, quantity, price)
            for (line_id, _, quantity), variant, price in zip(lines, variants, prices, strict=True)
        ],
    )


async def lock_cart(session: AsyncSession, user_id: uuid.UUID, company_id: uuid.UUID) -> Any:
    """The viewer's cart row, created if missing and locked: concurrent edits queue up."""
    await session.execute(
        pg_insert(Cart)
        .values(id=cart_id_for(user_id, company_id), user_id=user_id, company_id=company_id)
        # No conflict target: the id is derived from the owner, so two first edits racing
        # collide on the primary key as well as on (user_id, company_id).
        .on_conflict_do_nothing()
    )
    return await session.scalar(
        select(Cart.id)
        .where(Cart.user_id == user_id, Cart.company_id == company_id)
        .with_for_update()
    )


async def _buyable_variant(ctx: Context, global_id: str) -> tuple[Row[Any] | None, Problem | None]:
    key = key_of(global_id, "ProductVariant")
    variant = await ctx.loaders.variant_by_id.load(key) if key else None
    product = await ctx.loaders.product_by_id.load(variant.product_id) if variant else None
    if variant is None or product is None or product.status == ProductStatus.DRAFT:
        return None, Problem(("variantId",), "no such variant", ProblemCode.NOT_FOUND)
    if product.status != ProductStatus.ACTIVE:
        return None, Problem(("variantId",), "this product is no longer sold", ProblemCode.INVALID)
    if product.seller_id == ctx.viewer.company_id:
        return None, Problem(
            ("variantId",), "a company cannot buy its own products", ProblemCode.INVALID
        )
    return variant, None


async def add_to_cart(ctx: Context, variant_global_id: str, quantity: int) -> Outcome:
    """Add `quantity` units (to a line of that variant, if there is one)."""
    user_id, company_id = _owner(ctx)
    if quantity < 1:
        return Outcome(problems=[Problem(("quantity",), "must be at least 1")])
    variant, problem = await _buyable_variant(ctx, variant_global_id)
    if problem is not None or variant is None:
        return Outcome(problems=[problem] if problem else [])
    # Warm the price loaders (keyed by variant) outside the transaction: see _too_costly.
    await pricing.unit_prices(ctx, [(variant.id, quantity)])

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        cart_id = await lock_cart(session, user_id, company_id)
        existing = await session.scalar(
            select(CartLine.quantity).where(
                CartLine.cart_id == cart_id, CartLine.variant_id == variant.id
            )
        )
        if existing is None:
            lines = await session.scalar(select(func.count()).where(CartLine.cart_id == cart_id))
            if (lines or 0) >= MAX_CART_LINES:
                return Outcome(
                    problems=[
                        Problem(("variantId",), f"a cart holds at most {MAX_CART_LINES} lines")
                    ]
                )
        total = (existing or 0) + quantity
        if (problem := quantity_rules(variant).check(total)) is not None:
            if existing:
                problem = Problem(
                    problem.path,
                    f"{problem.message} (the cart already has {existing})",
                    problem.code,
                )
            return Outcome(problems=[problem])
        if (problem := await _too_costly(ctx, variant.id, total)) is not None:
            return Outcome(problems=[problem])
        statement = pg_insert(CartLine).values(
            id=uuid.uuid4(), cart_id=cart_id, variant_id=variant.id, quantity=total
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[CartLine.cart_id, CartLine.variant_id],
                set_={"quantity": statement.excluded.quantity},
            )
        )
        await session.execute(update(Cart).where(Cart.id == cart_id).values(updated_at=func.now()))
        tx.changed()
        return Outcome(key=cart_id)

    return await write_outcome(ctx, write, conflict_at=("variantId",))


async def update_cart_line(ctx: Context, line_global_id: str, quantity: int) -> Outcome:
    """Set a line's quantity; 0 removes the line."""
    user_id, company_id = _owner(ctx)
    line_key = key_of(line_global_id, "CartLine")
    not_found = Outcome(
        problems=[Problem(("lineId",), "no such line in your cart", ProblemCode.NOT_FOUND)]
    )
    if line_key is None:
        return not_found
    if quantity < 0:
        return Outcome(problems=[Problem(("quantity",), "must be 0 (remove) or more")])
    if quantity > 0:
        await _warm_line_prices(ctx, line_key, user_id, company_id, quantity)

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        cart_id = await lock_cart(session, user_id, company_id)
        variant_id = await session.scalar(
            select(CartLine.variant_id).where(CartLine.id == line_key, CartLine.cart_id == cart_id)
        )
        if variant_id is None:
            return not_found
        if quantity == 0:
            await session.execute(delete(CartLine).where(CartLine.id == line_key))
        else:
            # On this transaction's connection: asking the loaders here would hold this one
            # while waiting for another, and under load the pool runs dry.
            variant = (
                await session.execute(
                    select(
                        ProductVariant.minimum_order_quantity,
                        ProductVariant.order_increment,
                        ProductVariant.maximum_order_quantity,
                    ).where(ProductVariant.id == variant_id)
                )
            ).one()
            if (problem := quantity_rules(variant).check(quantity)) is not None:
                return Outcome(problems=[problem])
            if (problem := await _too_costly(ctx, variant_id, quantity)) is not None:
                return Outcome(problems=[problem])
            await session.execute(
                update(CartLine).where(CartLine.id == line_key).values(quantity=quantity)
            )
        await session.execute(update(Cart).where(Cart.id == cart_id).values(updated_at=func.now()))
        tx.changed()
        return Outcome(key=cart_id)

    return await write_outcome(ctx, write, conflict_at=("lineId",))


async def _too_costly(ctx: Context, variant_id: uuid.UUID, quantity: int) -> Problem | None:
    """Why a line of `quantity` units cannot be in the cart: above MAX_QUANTITY, or its total
    (in the seller's currency) above the money bounds. Prices come from the loaders, warmed
    before the transaction (they are keyed by variant, so no pooled connection is taken here
    while the transaction holds one)."""
    if quantity > MAX_QUANTITY:
        return Problem(("quantity",), f"a line holds at most {MAX_QUANTITY} units")
    (unit,) = await pricing.unit_prices(ctx, [(variant_id, quantity)])
    try:
        price_line(unit, quantity, unit.currency, None)
    except AmountTooLargeError as too_large:
        return Problem(("quantity",), str(too_large))
    return None


async def _warm_line_prices(
    ctx: Context, line_id: uuid.UUID, user_id: uuid.UUID, company_id: uuid.UUID, quantity: int
) -> None:
    async with ctx.engine.connect() as connection:
        variant_id = await connection.scalar(
            select(CartLine.variant_id)
            .join(Cart, Cart.id == CartLine.cart_id)
            .where(CartLine.id == line_id, Cart.user_id == user_id, Cart.company_id == company_id)
        )
    if variant_id is not None:
        await pricing.unit_prices(ctx, [(variant_id, quantity)])


async def clear_cart(ctx: Context) -> Outcome:
    user_id, company_id = _owner(ctx)

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        cart_id = await lock_cart(session, user_id, company_id)
        await session.execute(delete(CartLine).where(CartLine.cart_id == cart_id))
        tx.changed()
        return Outcome(key=cart_id)

    return await write_outcome(ctx, write, conflict_at=())
