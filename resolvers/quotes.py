"""Quotes (RFQ): a buyer asks one seller for prices, either side offers and counters, and the
buyer accepts (an order at the quoted prices), declines or cancels.

Only the two companies of a request ever see it or its quotes; to anyone else they read as not
found. Every change runs in one transaction holding the request's row lock (FOR UPDATE), so the
request's status and its one pending quote always change together and two parties (or two
accepts) acting at once queue up; each change writes an outbox event in that transaction. A
pending quote past its `valid_until` counts as expired whether or not the expiry task
(resolvers/quote_expiry.py) has reached it yet: a change that meets one records the expiry and
answers EXPIRED.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from dataloaders.quotes import QUOTE_REQUEST_COLUMNS
from db.models import Order, Quote, QuoteLine, QuoteRequest, QuoteRequestLine
from domain.catalog import ProductStatus
from domain.money import Money
from domain.orders import Side
from domain.problems import Problem, ProblemCode
from domain.quotes import (
    QUOTE_AFTER,
    QuoteAction,
    QuoteEventKind,
    QuoteRequestStatus,
    QuoteStatus,
    check_line_count,
    check_needed_by,
    check_note,
    check_quantity_bound,
    check_quote_step,
    check_unit_price,
    check_valid_until,
    is_due,
    request_move,
    submission_event,
    too_costly,
)
from realtime.outbox import record_quote_event
from resolvers.cart import quantity_rules
from resolvers.context import Context
from resolvers.global_ids import key_of
from resolvers.order_placement import (
    Address,
    DraftLine,
    DraftOrder,
    check_address,
    insert_order,
    reserve_stock,
)
from resolvers.outcome import Outcome
from resolvers.transactions import Refused, WriteTransaction, write_outcome
from resolvers.two_party_listing import TwoPartyTable

# --- what the mutations are given -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestLineSpec:
    variant_id: str
    quantity: int
    target_unit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class QuoteRequestSpec:
    seller_id: str
    lines: Sequence[RequestLineSpec]
    note: str | None = None
    needed_by: date | None = None
    currency: str | None = None  # the buyer company's default currency when None


@dataclass(frozen=True, slots=True)
class QuoteLineSpec:
    variant_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class QuoteSpec:
    lines: Sequence[QuoteLineSpec]
    valid_until: datetime
    note: str | None = None
    currency: str | None = None  # the request's currency when None


# --- reads -----------------------------------------------------------------------------------


def side_of(ctx: Context, request: Row[Any] | None) -> Side | None:
    """Which party of the request the viewer's company is; None for anyone else."""
    company = ctx.viewer.company_id
    if request is None or company is None:
        return None
    if company == request.buyer_id:
        return Side.BUYER
    if company == request.seller_id:
        return Side.SELLER
    return None


async def quote_request_by_id(ctx: Context, key: uuid.UUID) -> Row[Any] | None:
    """The request, or None when it does not exist or the viewer's company is not a party."""
    row = await ctx.loaders.quote_request_by_id.load(key)
    return row if side_of(ctx, row) is not None else None


async def quote_by_id(ctx: Context, key: uuid.UUID) -> Row[Any] | None:
    """The quote, or None when it does not exist or the viewer's company is not a party of its
    request."""
    quote = await ctx.loaders.quote_by_id.load(key)
    if quote is None or await quote_request_by_id(ctx, quote.request_id) is None:
        return None
    return quote


QUOTE_REQUESTS = TwoPartyTable(
    name="quoteRequests",
    columns=QUOTE_REQUEST_COLUMNS,
    buyer_id=QuoteRequest.buyer_id,
    seller_id=QuoteRequest.seller_id,
    status=QuoteRequest.status,
    created_at=QuoteRequest.created_at,
    id=QuoteRequest.id,
)


# --- checking input --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """A line whose variant, quantity and price passed the rules."""

    variant: Row[Any]
    product: Row[Any]
    quantity: int
    price: Money | None


async def _check_lines(
    ctx: Context,
    lines: Sequence[tuple[str, int, Decimal | None]],
    seller_id: uuid.UUID | None,
    currency: str,
    price_field: str,
) -> tuple[list[_Line], list[Problem]]:
    """The rules of (variantId, quantity, price) lines, problems under ["input", "lines", i]:
    at least one and at most 100; each variant exists, is sold by `seller_id` (when known) and
    is ACTIVE, and appears once; the quantity keeps the variant's rules; a price is above zero,
    exact in `currency` and keeps the line and the sum within checkout's money bounds."""
    problem = check_line_count(len(lines))
    if problem is not None:
        return [], [problem.under("input")]
    keys = [key_of(variant_id, "ProductVariant") for variant_id, _, _ in lines]
    variants = await ctx.loaders.variant_by_id.load_many([key for key in keys if key])
    by_key = {variant.id: variant for variant in variants if variant is not None}
    products = await ctx.loaders.product_by_id.load_many(
        list({variant.product_id for variant in by_key.values()})
    )
    product_of = {product.id: product for product in products if product is not None}
    problems: list[Problem] = []
    checked: list[_Line] = []
    priced: list[tuple[int, int, Money]] = []  # (line index, quantity, price)
    seen: set[uuid.UUID] = set()
    for index, ((_, quantity, amount), key) in enumerate(zip(lines, keys, strict=True)):
        at = ("input", "lines", str(index))
        variant = by_key.get(key) if key is not None else None
        product = product_of.get(variant.product_id) if variant is not None else None
        line_problems: list[Problem] = []
        # Another seller's draft is as unknown as a variant that does not exist.
        if (
            variant is None
            or product is None
            or (
                product.status == ProductStatus.DRAFT and product.seller_id != ctx.viewer.company_id
            )
        ):
            line_problems.append(
                Problem((*at, "variantId"), "no such variant", ProblemCode.NOT_FOUND)
            )
            if quantity < 1:
                line_problems.append(Problem((*at, "quantity"), "must be at least 1"))
        else:
            if seller_id is not None and product.seller_id != seller_id:
                line_problems.append(
                    Problem((*at, "variantId"), "this variant is not sold by the request's seller")
                )
            elif product.status != ProductStatus.ACTIVE:
                line_problems.append(Problem((*at, "variantId"), "this product is not for sale"))
            elif variant.id in seen:
                line_problems.append(
                    Problem(
                        (*at, "variantId"), "this variant has a line already", ProblemCode.DUPLICATE
                    )
                )
            seen.add(variant.id)
            rule = quantity_rules(variant).check(quantity) or check_quantity_bound(quantity)
            if rule is not None:
                line_problems.append(rule.under(*at))
        price = None
        if amount is not None:
            wrong = check_unit_price(amount, currency)
            if wrong is not None:
                line_problems.append(Problem((*at, price_field), wrong.message, wrong.code))
            else:
                price = Money.from_decimal(amount, currency)
        problems += line_problems
        if not line_problems and variant is not None and product is not None:
            checked.append(_Line(variant, product, quantity, price))
            if price is not None:
                priced.append((index, quantity, price))
    if not problems:
        found = too_costly([(quantity, price) for _, quantity, price in priced], currency)
        if found is not None:
            at_index, why = found
            problems.append(Problem(("input", "lines", str(priced[at_index][0]), "quantity"), why))
    return checked, problems


async def _seller(ctx: Context, seller_global_id: str) -> tuple[Row[Any] | None, Problem | None]:
    key = key_of(seller_global_id, "Company")
    company = await ctx.loaders.company_by_id.load(key) if key else None
    at = ("input", "sellerId")
    if company is None:
        return None, Problem(at, "no such company", ProblemCode.NOT_FOUND)
    if company.id == ctx.viewer.company_id:
        return None, Problem(at, "your company cannot ask itself for a quote")
    if not company.is_seller:
        return None, Problem(at, "this company does not sell")
    return company, None


# --- writes ----------------------------------------------------------------------------------


def _stored(note: str | None) -> str | None:
    return (note or "").strip() or None


def _refusal(request: Row[Any], action: QuoteAction, side: Side) -> Problem | None:
    move = request_move(QuoteRequestStatus(request.status), action, side)
    return move if isinstance(move, Problem) else None


def _quote_refusal(quote: Any, request: Any, action: QuoteAction, side: Side) -> Problem | None:
    """Why `side` may not `action` the quote (at ["quoteId"]); an expired one says EXPIRED."""
    status = QuoteStatus(quote.status)
    if status == QuoteStatus.EXPIRED:
        return _expired("quoteId", quote.valid_until)
    problem = check_quote_step(status, Side(quote.proposed_by), action, side)
    problem = problem or _refusal(request, action, side)
    return _at("quoteId", problem) if problem is not None else None


def _at(path: str, problem: Problem) -> Problem:
    """A state machine's problem (path ("status",)) reported at the argument acted on."""
    return Problem((path,), problem.message, problem.code)


async def _lock_request(session: AsyncSession, request_id: uuid.UUID) -> Any:
    return (
        await session.execute(
            select(
                QuoteRequest.id,
                QuoteRequest.status,
                QuoteRequest.buyer_id,
                QuoteRequest.seller_id,
                QuoteRequest.order_id,
            )
            .where(QuoteRequest.id == request_id)
            .with_for_update()
        )
    ).one()


async def _quote_state(session: AsyncSession, quote_id: uuid.UUID) -> Any:
    """The quote's status, proposer and validity as committed now (read under the request's
    lock, so the state checks see what the previous writer left)."""
    return (
        await session.execute(
            select(Quote.status, Quote.proposed_by, Quote.valid_until).where(Quote.id == quote_id)
        )
    ).one()


async def _pending_quote(session: AsyncSession, request_id: uuid.UUID) -> Any:
    return (
        await session.execute(
            select(Quote.id, Quote.proposed_by, Quote.valid_until).where(
                Quote.request_id == request_id, Quote.status == QuoteStatus.PENDING
            )
        )
    ).first()


async def _close(
    session: AsyncSession,
    request: Row[Any],
    action: QuoteAction,
    actor: Side | None,
    quote_id: uuid.UUID | None,
    now: datetime,
    kind: QuoteEventKind,
    **request_changes: Any,
) -> None:
    """Apply `action` (allowed: the caller checked) to the request and to its pending quote
    `quote_id`, and record the event."""
    move = request_move(QuoteRequestStatus(request.status), action, actor)
    assert not isinstance(move, Problem), move
    if quote_id is not None:
        await session.execute(
            update(Quote)
            .where(Quote.id == quote_id)
            .values(status=QUOTE_AFTER[action], updated_at=now)
        )
    await session.execute(
        update(QuoteRequest)
        .where(QuoteRequest.id == request.id)
        .values(status=move.to, updated_at=now, **request_changes)
    )
    await record_quote_event(
        session,
        request_id=request.id,
        buyer_id=request.buyer_id,
        seller_id=request.seller_id,
        kind=kind,
        quote_id=quote_id,
        at=now,
    )


async def expire_quote(
    session: AsyncSession, request: Any, quote_id: uuid.UUID, now: datetime
) -> None:
    """The request's pending quote ran out: it and the request become EXPIRED (the request's
    row is locked by the caller)."""
    await _close(session, request, QuoteAction.EXPIRE, None, quote_id, now, QuoteEventKind.EXPIRED)


def _expired(path: str, valid_until: datetime) -> Problem:
    return Problem((path,), f"the quote expired at {valid_until.isoformat()}", ProblemCode.EXPIRED)


async def request_quote(ctx: Context, spec: QuoteRequestSpec) -> Outcome:
    """A new OPEN request from the viewer's company (a buyer) to one seller."""
    user_id, buyer_id = ctx.viewer.user_id, ctx.viewer.company_id
    assert user_id is not None and buyer_id is not None, "buyers only"
    buyer = await ctx.loaders.company_by_id.load(buyer_id)
    currency = spec.currency or buyer.default_currency
    seller, problem = await _seller(ctx, spec.seller_id)
    problems = [problem] if problem else []
    lines, line_problems = await _check_lines(
        ctx,
        [(line.variant_id, line.quantity, line.target_unit_price) for line in spec.lines],
        seller.id if seller else None,
        currency,
        "targetUnitPrice",
    )
    problems += line_problems
    for found in (
        check_note(spec.note, ("note",)),
        check_needed_by(spec.needed_by, datetime.now(UTC).date()),
    ):
        if found is not None:
            problems.append(found.under("input"))
    if problems or seller is None:
        return Outcome(problems=problems)
    request_id = uuid.uuid4()

    async def insert_request(tx: WriteTransaction) -> Outcome:
        session = tx.session
        now = datetime.now(UTC)
        await session.execute(
            insert(QuoteRequest).values(
                id=request_id,
                buyer_id=buyer_id,
                seller_id=seller.id,
                requested_by_id=user_id,
                status=QuoteRequestStatus.OPEN,
                currency=currency,
                note=_stored(spec.note),
                needed_by=spec.needed_by,
                created_at=now,
                updated_at=now,
            )
        )
        await session.execute(
            insert(QuoteRequestLine),
            [
                {
                    "request_id": request_id,
                    "position": position,
                    "variant_id": line.variant.id,
                    "quantity": line.quantity,
                    "target_unit_price_minor": line.price.minor if line.price else None,
                }
                for position, line in enumerate(lines)
            ],
        )
        await record_quote_event(
            session,
            request_id=request_id,
            buyer_id=buyer_id,
            seller_id=seller.id,
            kind=QuoteEventKind.REQUESTED,
            quote_id=None,
            at=now,
        )
        tx.changed(events=True)
        return Outcome(key=request_id)

    return await write_outcome(ctx, insert_request, conflict_at=("input",))


async def submit_quote(ctx: Context, request_global_id: str, spec: QuoteSpec) -> Outcome:
    """A new quote version on a request: the seller's offer (or revision), or the buyer's
    counter-offer to a pending seller quote. The pending quote it replaces is SUPERSEDED."""
    viewer = ctx.viewer
    key = key_of(request_global_id, "QuoteRequest")
    request = await quote_request_by_id(ctx, key) if key else None
    side = side_of(ctx, request)
    if request is None or side is None:
        return Outcome(
            problems=[Problem(("requestId",), "no such quote request", ProblemCode.NOT_FOUND)]
        )
    currency = spec.currency or request.currency
    lines, problems = await _check_lines(
        ctx,
        [(line.variant_id, line.quantity, line.unit_price) for line in spec.lines],
        request.seller_id,
        currency,
        "unitPrice",
    )
    now = datetime.now(UTC)
    for found in (
        check_valid_until(spec.valid_until, now),
        check_note(spec.note, ("note",)),
    ):
        if found is not None:
            problems.append(found.under("input"))
    if problems:
        return Outcome(problems=problems)
    total = sum(line.price.minor * line.quantity for line in lines if line.price)
    quote_id = uuid.uuid4()

    async def insert_quote(tx: WriteTransaction) -> Outcome:
        session = tx.session
        locked = await _lock_request(session, request.id)
        pending = await _pending_quote(session, request.id)
        now = datetime.now(UTC)
        if pending is not None and is_due(pending.valid_until, now):
            await expire_quote(session, locked, pending.id, now)
            tx.changed(events=True)
            return Outcome(problems=[_expired("requestId", pending.valid_until)])
        move = request_move(QuoteRequestStatus(locked.status), QuoteAction.SUBMIT, side)
        if isinstance(move, Problem):
            return Outcome(problems=[_at("requestId", move)])
        earlier = int(
            await session.scalar(
                select(func.max(Quote.version)).where(Quote.request_id == request.id)
            )
            or 0
        )
        if pending is not None:  # first, so that only one quote is ever PENDING
            await session.execute(
                update(Quote)
                .where(Quote.id == pending.id)
                .values(status=QUOTE_AFTER[QuoteAction.SUBMIT], updated_at=now)
            )
        await session.execute(
            insert(Quote).values(
                id=quote_id,
                request_id=request.id,
                version=earlier + 1,
                status=QuoteStatus.PENDING,
                proposed_by=side,
                created_by_id=viewer.user_id,
                currency=currency,
                total_minor=total,
                valid_until=spec.valid_until,
                note=_stored(spec.note),
                created_at=now,
                updated_at=now,
            )
        )
        await session.execute(
            insert(QuoteLine),
            [
                {
                    "quote_id": quote_id,
                    "position": position,
                    "variant_id": line.variant.id,
                    "quantity": line.quantity,
                    "unit_price_minor": line.price.minor,
                    "line_total_minor": line.price.minor * line.quantity,
                }
                for position, line in enumerate(lines)
                if line.price is not None
            ],
        )
        await session.execute(
            update(QuoteRequest)
            .where(QuoteRequest.id == request.id)
            .values(status=move.to, updated_at=now)
        )
        await record_quote_event(
            session,
            request_id=request.id,
            buyer_id=locked.buyer_id,
            seller_id=locked.seller_id,
            kind=submission_event(side, earlier_quotes=earlier),
            quote_id=quote_id,
            at=now,
        )
        tx.changed(events=True)
        return Outcome(key=quote_id)

    return await write_outcome(ctx, insert_quote, conflict_at=("requestId",))


async def _visible_quote(
    ctx: Context, quote_global_id: str
) -> tuple[Row[Any] | None, Row[Any] | None, Side | None]:
    key = key_of(quote_global_id, "Quote")
    quote = await quote_by_id(ctx, key) if key else None
    if quote is None:
        return None, None, None
    request = await quote_request_by_id(ctx, quote.request_id)
    return quote, request, side_of(ctx, request)


_NO_QUOTE = Problem(("quoteId",), "no such quote", ProblemCode.NOT_FOUND)


async def accept_quote(ctx: Context, quote_global_id: str, address: Address) -> Outcome:
    """The buyer accepts a seller's pending quote: one order at the quoted prices (stock
    reserved like checkout), the quote and the request ACCEPTED. Accepting an accepted quote
    again answers with the same order and writes nothing (the quote is the idempotency key)."""
    user_id = ctx.viewer.user_id
    assert user_id is not None, "buyers only"
    quote, request, side = await _visible_quote(ctx, quote_global_id)
    if quote is None or request is None or side is None:
        return Outcome(problems=[_NO_QUOTE])
    problems = check_address(address, "shippingAddress")
    if problems:
        return Outcome(problems=problems)
    # Read outside the transaction, which then needs no second connection: a quote's lines
    # never change, and its status is checked again under the request's lock.
    rows = await ctx.loaders.lines_by_quote_id.load(quote.id)
    variants = await ctx.loaders.variant_by_id.load_many([row.variant_id for row in rows])
    products = await ctx.loaders.product_by_id.load_many([v.product_id for v in variants])
    drafts = [
        DraftLine(
            variant_id=variant.id,
            sku=variant.sku,
            name=f"{product.name} — {variant.name}",
            quantity=row.quantity,
            unit=Money(row.unit_price_minor, quote.currency),
            total=Money(row.line_total_minor, quote.currency),
            source=Money(row.unit_price_minor, quote.currency),
            rate=Decimal(1),
            at=("quote", "lines", str(index), "quantity"),
        )
        for index, (row, variant, product) in enumerate(zip(rows, variants, products, strict=True))
    ]
    shipping_address = address.as_json()

    async def place_order(tx: WriteTransaction) -> Outcome:
        session = tx.session
        locked = await _lock_request(session, request.id)
        current = await _quote_state(session, quote.id)
        if current.status == QuoteStatus.ACCEPTED and side == Side.BUYER:
            return await _replay_acceptance(session, locked.order_id, shipping_address)
        refusal = _quote_refusal(current, locked, QuoteAction.ACCEPT, side)
        if refusal is not None:
            return Outcome(problems=[refusal])
        now = datetime.now(UTC)
        if is_due(current.valid_until, now):
            await expire_quote(session, locked, quote.id, now)
            tx.changed(events=True)
            return Outcome(problems=[_expired("quoteId", current.valid_until)])
        held, problems = await reserve_stock(session, drafts)
        if problems:
            raise Refused(problems)
        order = DraftOrder(
            buyer_id=locked.buyer_id,
            seller_id=locked.seller_id,
            placed_by_id=user_id,
            currency=quote.currency,
            lines=drafts,
            shipping_address=shipping_address,
            note=None,
        )
        order_id = await insert_order(session, order, [r for line in held for r in line], now)
        await _close(
            session,
            locked,
            QuoteAction.ACCEPT,
            side,
            quote.id,
            now,
            QuoteEventKind.ACCEPTED,
            order_id=order_id,
        )
        tx.changed(events=True, catalog=True)  # the order reserved stock
        return Outcome(key=order_id)

    return await write_outcome(ctx, place_order, conflict_at=("quoteId",))


async def _replay_acceptance(
    session: AsyncSession, order_id: uuid.UUID, shipping_address: dict[str, Any]
) -> Outcome:
    """A retry of an acceptance: the order it placed. Asking for another address is not a
    retry but a new wish, refused (the order is shipped where it was first asked)."""
    shipped_to = await session.scalar(select(Order.shipping_address).where(Order.id == order_id))
    if shipped_to != shipping_address:
        return Outcome(
            problems=[
                Problem(
                    ("shippingAddress",),
                    "this quote was accepted already, with another shipping address",
                    ProblemCode.CONFLICT,
                )
            ]
        )
    return Outcome(key=order_id)


async def decline_quote(ctx: Context, quote_global_id: str, reason: str | None) -> Outcome:
    """The party that did not propose a pending quote declines it; the request ends DECLINED."""
    quote, request, side = await _visible_quote(ctx, quote_global_id)
    if quote is None or request is None or side is None:
        return Outcome(problems=[_NO_QUOTE])
    problem = check_note(reason, ("reason",))
    if problem is not None:
        return Outcome(problems=[problem])

    async def decline(tx: WriteTransaction) -> Outcome:
        session = tx.session
        locked = await _lock_request(session, request.id)
        current = await _quote_state(session, quote.id)
        refusal = _quote_refusal(current, locked, QuoteAction.DECLINE, side)
        if refusal is not None:
            return Outcome(problems=[refusal])
        now = datetime.now(UTC)
        if is_due(current.valid_until, now):
            await expire_quote(session, locked, quote.id, now)
            tx.changed(events=True)
            return Outcome(problems=[_expired("quoteId", current.valid_until)])
        await _close(
            session,
            locked,
            QuoteAction.DECLINE,
            side,
            quote.id,
            now,
            QuoteEventKind.DECLINED,
            close_reason=_stored(reason),
        )
        tx.changed(events=True)
        return Outcome(key=quote.id)

    return await write_outcome(ctx, decline, conflict_at=("quoteId",))


async def cancel_quote_request(ctx: Context, request_global_id: str, reason: str | None) -> Outcome:
    """The buyer withdraws its request (OPEN or QUOTED); a pending quote becomes WITHDRAWN."""
    key = key_of(request_global_id, "QuoteRequest")
    request = await quote_request_by_id(ctx, key) if key else None
    side = side_of(ctx, request)
    if request is None or side is None:
        return Outcome(
            problems=[Problem(("requestId",), "no such quote request", ProblemCode.NOT_FOUND)]
        )
    problem = check_note(reason, ("reason",))
    if problem is not None:
        return Outcome(problems=[problem])

    async def cancel(tx: WriteTransaction) -> Outcome:
        session = tx.session
        locked = await _lock_request(session, request.id)
        refusal = _refusal(locked, QuoteAction.CANCEL, side)
        if refusal is not None:
            return Outcome(problems=[_at("requestId", refusal)])
        pending = await _pending_quote(session, request.id)
        now = datetime.now(UTC)
        if pending is not None and is_due(pending.valid_until, now):
            await expire_quote(session, locked, pending.id, now)
            tx.changed(events=True)
            return Outcome(problems=[_expired("requestId", pending.valid_until)])
        await _close(
            session,
            locked,
            QuoteAction.CANCEL,
            side,
            pending.id if pending else None,
            now,
            QuoteEventKind.CANCELLED,
            close_reason=_stored(reason),
        )
        tx.changed(events=True)
        return Outcome(key=request.id)

    return await write_outcome(ctx, cancel, conflict_at=("requestId",))
