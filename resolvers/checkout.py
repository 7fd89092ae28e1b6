"""Checkout: the cart becomes one order per seller, in one transaction.

Every line is re-priced, its quantity rules and stock checked, stock reserved, orders, lines,
the first history event and an outbox event written, and the cart emptied — or nothing at all.
The idempotency key makes a retry (even one racing the first attempt) return the same orders.

User errors: paths under ["input", ...] point into the mutation's input; paths under
["cart", ...] point at the viewer's cart (["cart", "lines", i, ...] is the i-th cart line, oldest
first, as the `cart` query lists them), since the cart is what checkout reads its lines from.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Cart, CartLine, Checkout, Order, OrderLine
from domain.catalog import ProductStatus
from domain.money import FxTable, MissingRateError, Money
from domain.orders import MAX_NOTE_LENGTH
from domain.pricing import AmountTooLargeError, order_total, price_line
from domain.problems import Problem, ProblemCode
from resolvers import catalog, pricing
from resolvers.cart import lock_cart, quantity_rules
from resolvers.context import Context
from resolvers.order_placement import (
    Address,
    DraftLine,
    DraftOrder,
    Reservation,
    check_address,
    insert_order,
    reserve_stock,
)
from resolvers.transactions import Refused, WriteTransaction, write_transaction

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    address: Address
    currency: str
    idempotency_key: str
    note: str | None

    @property
    def stored_note(self) -> str | None:
        return (self.note or "").strip() or None

    def fingerprint(self) -> str:
        """sha256 of what this request asks for, apart from the cart: currency, normalized
        address and note. See _replay for why the cart's lines are compared separately."""
        asked = {
            "currency": self.currency,
            "address": self.address.as_json(),
            "note": self.stored_note,
        }
        return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    order_ids: list[uuid.UUID]
    problems: list[Problem]


@dataclass(frozen=True, slots=True)
class _PricedLine:
    index: int
    variant: Row[Any]
    product: Row[Any]
    quantity: int
    source: Money  # unit price as the seller prices it
    unit: Money  # unit price in the order currency
    total: Money  # unit times quantity, in the order currency (domain.pricing.price_line)
    rate: Decimal

    def draft(self) -> DraftLine:
        return DraftLine(
            variant_id=self.variant.id,
            sku=self.variant.sku,
            name=f"{self.product.name} — {self.variant.name}",
            quantity=self.quantity,
            unit=self.unit,
            total=self.total,
            source=self.source,
            rate=self.rate,
            at=("cart", "lines", str(self.index), "quantity"),
        )


def _check_request(request: CheckoutRequest) -> list[Problem]:
    problems = []
    key = request.idempotency_key
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        problems.append(Problem(("input", "idempotencyKey"), f"1 to {MAX_KEY_LENGTH} characters"))
    problems += check_address(request.address, "input", "shippingAddress")
    if request.note is not None and len(request.note) > MAX_NOTE_LENGTH:
        problems.append(Problem(("input", "note"), f"must be at most {MAX_NOTE_LENGTH} characters"))
    return problems


async def _claim_key(
    session: AsyncSession, ctx: Context, key: str, fingerprint: str
) -> uuid.UUID | None:
    """Claim the idempotency key; None when an earlier checkout holds it. A concurrent
    identical request blocks here until the first commits (then finds its orders) or rolls
    back (then proceeds itself)."""
    user_id, company_id = ctx.viewer.user_id, ctx.viewer.company_id
    checkout_id = uuid.uuid4()
    claimed = await session.scalar(
        pg_insert(Checkout)
        .values(
            id=checkout_id,
            user_id=user_id,
            company_id=company_id,
            idempotency_key=key,
            fingerprint=fingerprint,
        )
        .on_conflict_do_nothing(index_elements=[Checkout.user_id, Checkout.idempotency_key])
        .returning(Checkout.id)
    )
    return claimed


_KEY_REUSED = Problem(
    ("input", "idempotencyKey"), "this key was used for a different checkout", ProblemCode.CONFLICT
)


async def _replay(session: AsyncSession, ctx: Context, request: CheckoutRequest) -> list[uuid.UUID]:
    """The orders of the earlier checkout that holds the key, when this request repeats it.

    A genuine retry (the answer was lost after the commit) arrives with the same currency,
    address and note, but with the cart the first attempt emptied: so the stored fingerprint
    covers the request only, not the cart. The cart is compared on its own: when the viewer's
    cart is not empty and its (variant, quantity) lines differ from the earlier checkout's order
    lines, the key is being reused for a new purchase. Either mismatch is a CONFLICT and
    nothing is written (the cart is kept)."""
    earlier = (
        await session.execute(
            select(Checkout.id, Checkout.fingerprint).where(
                Checkout.user_id == ctx.viewer.user_id,
                Checkout.idempotency_key == request.idempotency_key,
            )
        )
    ).one()
    if earlier.fingerprint != request.fingerprint():
        raise Refused([_KEY_REUSED])
    in_cart = (
        await session.execute(
            select(CartLine.variant_id, CartLine.quantity)
            .join(Cart, Cart.id == CartLine.cart_id)
            .where(Cart.user_id == ctx.viewer.user_id, Cart.company_id == ctx.viewer.company_id)
        )
    ).all()
    if in_cart:
        ordered = (
            await session.execute(
                select(OrderLine.variant_id, OrderLine.quantity)
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.checkout_id == earlier.id)
            )
        ).all()
        if sorted(map(tuple, in_cart)) != sorted(map(tuple, ordered)):
            raise Refused([_KEY_REUSED])
    rows = await session.scalars(
        select(Order.id).where(Order.checkout_id == earlier.id).order_by(Order.created_at, Order.id)
    )
    return list(rows)


async def _price_lines(
    ctx: Context, lines: Sequence[Any], currency: str
) -> tuple[list[_PricedLine], list[Problem]]:
    variants = await ctx.loaders.variant_by_id.load_many([line.variant_id for line in lines])
    if not all(variants):
        return [], [
            Problem(("cart",), "a product in your cart no longer exists", ProblemCode.NOT_FOUND)
        ]
    products = await ctx.loaders.product_by_id.load_many([v.product_id for v in variants])
    problems: list[Problem] = []
    prices = await pricing.unit_prices(ctx, [(line.variant_id, line.quantity) for line in lines])
    fx: FxTable | None = None
    priced = []
    for index, (line, variant, product, price) in enumerate(
        zip(lines, variants, products, prices, strict=True)
    ):
        at = ("cart", "lines", str(index))
        if product is None or product.status != ProductStatus.ACTIVE:
            problems.append(Problem((*at, "variantId"), f"{variant.sku} is no longer sold"))
            continue
        if (problem := quantity_rules(variant).check(line.quantity)) is not None:
            problems.append(problem.under(*at))
            continue
        if price.currency != currency:
            fx = fx or await catalog.fx_table(ctx)
        try:
            line_price = price_line(price, line.quantity, currency, fx)
        except MissingRateError:
            problems.append(
                Problem(
                    ("input", "currency"),
                    f"{variant.sku} is priced in {price.currency}, which cannot be "
                    f"converted to {currency} (no exchange rate)",
                )
            )
            continue
        except AmountTooLargeError as too_large:
            problems.append(Problem((*at, "quantity"), str(too_large)))
            continue
        if line_price.unit.minor <= 0:
            problems.append(
                Problem(
                    ("input", "currency"),
                    f"{variant.sku} costs less than the smallest unit of {currency}",
                )
            )
            continue
        priced.append(
            _PricedLine(
                index,
                variant,
                product,
                line.quantity,
                price,
                line_price.unit,
                line_price.total,
                line_price.rate,
            )
        )
    problems += _orders_too_large(priced, currency)
    return priced, problems


def _orders_too_large(priced: list[_PricedLine], currency: str) -> list[Problem]:
    """A problem at the line that takes its seller's order above the order bound (at most
    100 lines, so summing again per line is cheap)."""
    problems = []
    totals: dict[uuid.UUID, list[Money]] = defaultdict(list)
    refused: set[uuid.UUID] = set()
    for line in priced:
        seller = line.product.seller_id
        totals[seller].append(line.total)
        if seller in refused:
            continue
        try:
            order_total(totals[seller], currency)
        except AmountTooLargeError as too_large:
            refused.add(seller)
            problems.append(Problem(("cart", "lines", str(line.index), "quantity"), str(too_large)))
    return problems


async def checkout(ctx: Context, request: CheckoutRequest) -> CheckoutResult:
    viewer = ctx.viewer
    assert viewer.user_id is not None and viewer.company_id is not None, "buyers only"
    problems = _check_request(request)
    if problems:
        return CheckoutResult([], problems)
    await _warm_price_reads(ctx, request.currency)
    try:
        # A refusal rolls everything back, the claimed key included: the buyer may fix the
        # cart and retry with the same key.
        order_ids = await write_transaction(ctx, lambda tx: _place_orders(tx, ctx, request))
    except Refused as refused:
        return CheckoutResult([], refused.problems)
    return CheckoutResult(order_ids, [])


async def _warm_price_reads(ctx: Context, currency: str) -> None:
    """Price the cart once before the transaction, so the loaders hold what pricing reads.

    Loaders take pooled connections of their own: a transaction that waited for one while
    holding its session's connection could, under load, leave every pooled connection held by
    a transaction waiting for another one (the pool times out). Inside the transaction the
    same reads are answered from the loaders' caches."""
    viewer = ctx.viewer
    async with ctx.engine.connect() as connection:
        lines = (
            await connection.execute(
                select(CartLine.id, CartLine.variant_id, CartLine.quantity)
                .join(Cart, Cart.id == CartLine.cart_id)
                .where(Cart.user_id == viewer.user_id, Cart.company_id == viewer.company_id)
            )
        ).all()
    if lines:
        await _price_lines(ctx, lines, currency)


async def _place_orders(
    tx: WriteTransaction, ctx: Context, request: CheckoutRequest
) -> list[uuid.UUID]:
    viewer = ctx.viewer
    assert viewer.user_id is not None and viewer.company_id is not None
    session = tx.session
    checkout_id = await _claim_key(session, ctx, request.idempotency_key, request.fingerprint())
    if checkout_id is None:
        return await _replay(session, ctx, request)
    cart_id = await lock_cart(session, viewer.user_id, viewer.company_id)
    lines = (
        await session.execute(
            select(CartLine.id, CartLine.variant_id, CartLine.quantity)
            .where(CartLine.cart_id == cart_id)
            .order_by(CartLine.created_at, CartLine.id)
        )
    ).all()
    if not lines:
        raise Refused([Problem(("cart",), "your cart is empty")])
    priced, problems = await _price_lines(ctx, lines, request.currency)
    if problems:
        raise Refused(problems)
    drafts = [line.draft() for line in priced]
    held, problems = await reserve_stock(session, drafts)
    if problems:
        raise Refused(problems)
    now = datetime.now(UTC)
    by_seller: dict[uuid.UUID, list[int]] = defaultdict(list)
    for index, line in enumerate(priced):
        by_seller[line.product.seller_id].append(index)
    order_ids = []
    for seller_id, indexes in by_seller.items():
        reservations: list[Reservation] = [r for i in indexes for r in held[i]]
        order = DraftOrder(
            buyer_id=viewer.company_id,
            seller_id=seller_id,
            placed_by_id=viewer.user_id,
            currency=request.currency,
            lines=[drafts[i] for i in indexes],
            shipping_address=request.address.as_json(),
            note=request.stored_note,
            checkout_id=checkout_id,
        )
        order_ids.append(await insert_order(session, order, reservations, now))
    await session.execute(delete(CartLine).where(CartLine.cart_id == cart_id))
    # Reserved stock lowers availableQuantity.
    tx.changed(events=True, catalog=True)
    return order_ids
