"""What the viewer's company pays: contract price lists first, then volume tiers.

Also the sellers' price list mutations and the platform's exchange rates.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row

from dataloaders.batching import fetch_rows
from dataloaders.pricing import PRICE_LIST_COLUMNS
from db.models import FxRate, PriceList, PriceListEntry, ProductVariant
from domain.identity import CompanyRole
from domain.money import Money, currency_exponent, has_at_most_exponent_decimals, is_currency
from domain.pricing import MAX_QUANTITY, MAX_UNIT_PRICE, Tier, buyer_unit_price
from domain.problems import Problem, ProblemCode
from resolvers.context import Context
from resolvers.global_ids import key_of
from resolvers.outcome import Outcome
from resolvers.pagination import PageRequest, encode_cursor, newest_first_position
from resolvers.transactions import Refused, WriteTransaction, write_outcome, write_transaction

MAX_PRICE_LIST_NAME_LENGTH = 120
# setPriceListEntries replaces all entries, so this bounds a whole list (and PriceList.entries).
MAX_ENTRIES_PER_LIST = 100
# fx_rates.rate is numeric(24, 12): 12 digits before the point and 12 after.
MAX_FX_RATE = Decimal("1e12")
FX_RATE_DECIMALS = 12
PRICE_LIST_SORT = "NEWEST"


# --- what a buyer pays -----------------------------------------------------------------------


async def tiers_of(ctx: Context, variant_ids: Sequence[uuid.UUID]) -> list[list[Tier]]:
    rows = await ctx.loaders.tiers_by_variant_id.load_many(list(variant_ids))
    return [
        [Tier(row.min_quantity, Money(row.unit_price_minor, row.currency)) for row in tiers]
        for tiers in rows
    ]


def contract_buyer(ctx: Context) -> uuid.UUID | None:
    """The company whose contracts price this request: the viewer's, when it buys.
    Anonymous viewers and companies that only sell have no contracts (None)."""
    viewer = ctx.viewer
    if viewer.company_id is None or not viewer.has_role(CompanyRole.BUYER):
        return None
    return viewer.company_id


def breaks_of_rows(rows: Sequence[Row[Any]]) -> list[Tier]:
    return [Tier(row.min_quantity, Money(row.unit_price_minor, row.currency)) for row in rows]


async def contract_rows_of(
    ctx: Context, variant_ids: Sequence[uuid.UUID]
) -> list[list[Row[Any]]] | None:
    """The viewer company's contract break rows valid today, per variant, in one batch;
    None when the viewer cannot have contracts (no statement is run)."""
    buyer_id = contract_buyer(ctx)
    if buyer_id is None:
        return None
    loader = ctx.loaders.contract_breaks_by_variant_id(buyer_id)
    rows: list[list[Row[Any]]] = await loader.load_many(list(variant_ids))
    return rows


async def contract_breaks_of(ctx: Context, variant_ids: Sequence[uuid.UUID]) -> list[list[Tier]]:
    """The viewer company's contract breaks valid today, per variant (empty: none).

    When several valid lists cover a variant, the most recently created one applies (see
    dataloaders.pricing)."""
    rows = await contract_rows_of(ctx, variant_ids)
    if rows is None:
        return [[] for _ in variant_ids]
    return [breaks_of_rows(variant_rows) for variant_rows in rows]


async def unit_prices(ctx: Context, lines: Sequence[tuple[uuid.UUID, int]]) -> list[Money]:
    """The unit price of each (variant, quantity) for the viewer's company, in the variant's
    currency. Batched: one statement per kind of price whatever the number of lines."""
    variant_ids = [variant_id for variant_id, _ in lines]
    tiers = await tiers_of(ctx, variant_ids)
    contracts = await contract_breaks_of(ctx, variant_ids)
    return [
        buyer_unit_price(variant_tiers, contract, quantity)
        for (_, quantity), variant_tiers, contract in zip(lines, tiers, contracts, strict=True)
    ]


# --- price list reads ------------------------------------------------------------------------


def can_see_price_list(ctx: Context, row: Row[Any] | None) -> bool:
    """A price list is seen by its two parties only: the seller and the buyer company."""
    company_id = ctx.viewer.company_id
    return (
        row is not None and company_id is not None and company_id in (row.seller_id, row.buyer_id)
    )


async def price_list_by_id(ctx: Context, key: uuid.UUID) -> Row[Any] | None:
    row = await ctx.loaders.price_list_by_id.load(key)
    return row if can_see_price_list(ctx, row) else None


async def entries_of(ctx: Context, price_list_id: uuid.UUID) -> list[Row[Any]]:
    """A list's entry rows (variant, then ascending minQuantity), at most MAX_ENTRIES_PER_LIST;
    callers check the list."""
    rows: list[Row[Any]] = await ctx.loaders.entries_by_price_list_id.load(price_list_id)
    # Lists written before the bound was 100 may hold more: the answer stays bounded.
    return rows[:MAX_ENTRIES_PER_LIST]


@dataclass(frozen=True, slots=True)
class PriceListPage:
    rows: Sequence[Row[Any]]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count_statement: Select | None


async def list_price_lists(ctx: Context, page: PageRequest) -> PriceListPage:
    """The lists the viewer's company sells or buys under, newest first (keyset pages)."""
    company_id = ctx.viewer.company_id
    if company_id is None:
        return PriceListPage([], [], False, False, None)
    statement = select(*PRICE_LIST_COLUMNS).where(
        or_(PriceList.seller_id == company_id, PriceList.buyer_id == company_id)
    )
    count_statement = select(func.count()).select_from(statement.subquery())
    # Newest first; backwards pages read the list oldest first and flip the page.
    position = tuple_(PriceList.created_at, PriceList.id)
    keyed = statement
    if page.cursor is not None:
        created_at, key = newest_first_position(page.cursor, "after" if page.forward else "before")
        after = tuple_(created_at, key)
        keyed = keyed.where(position < after if page.forward else position > after)
    if page.forward:
        keyed = keyed.order_by(PriceList.created_at.desc(), PriceList.id.desc())
    else:
        keyed = keyed.order_by(PriceList.created_at.asc(), PriceList.id.asc())
    rows = list(await fetch_rows(ctx.engine, keyed.limit(page.size + 1)))
    has_more = len(rows) > page.size
    rows = rows[: page.size]
    if not page.forward:
        rows.reverse()
    cursors = [
        encode_cursor(PRICE_LIST_SORT, [row.created_at.isoformat(), str(row.id)]) for row in rows
    ]
    return PriceListPage(
        rows=rows,
        cursors=cursors,
        has_next_page=has_more if page.forward else page.cursor is not None,
        has_previous_page=page.cursor is not None if page.forward else has_more,
        count_statement=count_statement,
    )


async def count_price_lists(ctx: Context, page: PriceListPage) -> int:
    if page.count_statement is None:
        return 0
    rows = await fetch_rows(ctx.engine, page.count_statement)
    return int(rows[0][0])


# --- price list writes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceListSpec:
    buyer_id: str
    name: str
    currency: str
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True, slots=True)
class EntrySpec:
    variant_id: str
    min_quantity: int
    unit_price: Decimal


def _seller_id(ctx: Context) -> uuid.UUID:
    seller_id = ctx.viewer.company_id
    # The @hasRole(role: SELLER) directive has run before any of these mutations.
    assert seller_id is not None and ctx.viewer.has_role(CompanyRole.SELLER)
    return seller_id


def check_price_list(spec: PriceListSpec) -> list[Problem]:
    """The buyer-independent rules of a new list, with paths under `input`."""
    problems = []
    name = spec.name.strip()
    if not name:
        problems.append(Problem(("input", "name"), "must not be blank"))
    elif len(name) > MAX_PRICE_LIST_NAME_LENGTH:
        problems.append(
            Problem(("input", "name"), f"must be at most {MAX_PRICE_LIST_NAME_LENGTH} characters")
        )
    if not is_currency(spec.currency):
        problems.append(Problem(("input", "currency"), "is not a supported currency"))
    if spec.valid_to is not None and spec.valid_to < spec.valid_from:
        problems.append(Problem(("input", "validTo"), "must not be before validFrom"))
    return problems


async def create_price_list(ctx: Context, spec: PriceListSpec) -> Outcome:
    seller_id = _seller_id(ctx)
    problems = check_price_list(spec)
    buyer_key = key_of(spec.buyer_id, "Company")
    buyer = await ctx.loaders.company_by_id.load(buyer_key) if buyer_key else None
    at = ("input", "buyerId")
    if buyer is None:
        problems.append(Problem(at, "no such company", ProblemCode.NOT_FOUND))
    elif buyer.id == seller_id:
        problems.append(Problem(at, "a price list is for another company than yours"))
    elif not buyer.is_buyer:
        problems.append(Problem(at, "this company does not buy on the marketplace"))
    if problems:
        return Outcome(problems=problems)
    price_list_id = uuid.uuid4()

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        await session.execute(
            insert(PriceList).values(
                id=price_list_id,
                seller_id=seller_id,
                buyer_id=buyer_key,
                name=spec.name.strip(),
                currency=spec.currency,
                valid_from=spec.valid_from,
                valid_to=spec.valid_to,
            )
        )
        tx.changed(catalog=True)
        return Outcome(key=price_list_id)

    return await write_outcome(ctx, write)


def _own_list_problem(name: str) -> Problem:
    return Problem((name,), "no such price list of yours", ProblemCode.NOT_FOUND)


def check_entries(
    entries: Sequence[EntrySpec],
    keys: Sequence[uuid.UUID | None],
    variants: Mapping[uuid.UUID, Any],
    currency: str,
) -> list[Problem]:
    """The rules of a list's entries; `variants` holds the seller's own variants by id."""
    problems: list[Problem] = []
    seen: set[tuple[uuid.UUID, int]] = set()
    exponent = currency_exponent(currency)
    for index, (entry, key) in enumerate(zip(entries, keys, strict=True)):
        at = ("entries", str(index))
        variant = variants.get(key) if key is not None else None
        if variant is None:
            problems.append(
                Problem((*at, "variantId"), "no such variant of yours", ProblemCode.NOT_FOUND)
            )
        elif variant.currency != currency:
            problems.append(
                Problem(
                    (*at, "variantId"),
                    f"this variant is priced in {variant.currency} and the list in {currency}; "
                    "contract prices are not converted",
                )
            )
        if variant is not None and entry.min_quantity < variant.minimum_order_quantity:
            problems.append(
                Problem(
                    (*at, "minQuantity"),
                    f"must be at least the variant's minimum order quantity "
                    f"({variant.minimum_order_quantity})",
                )
            )
        elif not 1 <= entry.min_quantity <= MAX_QUANTITY:
            problems.append(Problem((*at, "minQuantity"), f"must be between 1 and {MAX_QUANTITY}"))
        price = entry.unit_price
        if not price.is_finite() or price <= 0:
            problems.append(Problem((*at, "unitPrice"), "must be greater than zero"))
        elif price > MAX_UNIT_PRICE:
            problems.append(Problem((*at, "unitPrice"), f"must be at most {MAX_UNIT_PRICE}"))
        elif not has_at_most_exponent_decimals(price, currency):
            problems.append(
                Problem(
                    (*at, "unitPrice"), f"{currency} prices have at most {exponent} decimal places"
                )
            )
        if key is not None:
            if (key, entry.min_quantity) in seen:
                problems.append(
                    Problem(
                        (*at, "minQuantity"),
                        "this variant already has an entry for this minQuantity in this input",
                        ProblemCode.DUPLICATE,
                    )
                )
            seen.add((key, entry.min_quantity))
    return problems


async def set_price_list_entries(
    ctx: Context, price_list_global_id: str, entries: Sequence[EntrySpec]
) -> Outcome:
    """Replace all entries of one of the seller's lists, or change nothing."""
    seller_id = _seller_id(ctx)
    list_key = key_of(price_list_global_id, "PriceList")
    if list_key is None:
        return Outcome(problems=[_own_list_problem("priceListId")])
    if len(entries) > MAX_ENTRIES_PER_LIST:
        return Outcome(
            problems=[
                Problem(("entries",), f"a price list has at most {MAX_ENTRIES_PER_LIST} entries")
            ]
        )
    keys = [key_of(entry.variant_id, "ProductVariant") for entry in entries]

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        # Locked: two concurrent replacements of one list apply one after the other.
        currency = await session.scalar(
            select(PriceList.currency)
            .where(PriceList.id == list_key, PriceList.seller_id == seller_id)
            .with_for_update()
        )
        if currency is None:
            return Outcome(problems=[_own_list_problem("priceListId")])
        wanted = list({key for key in keys if key is not None})
        variant_rows = (
            await session.execute(
                select(
                    ProductVariant.id,
                    ProductVariant.currency,
                    ProductVariant.minimum_order_quantity,
                ).where(ProductVariant.id.in_(wanted), ProductVariant.seller_id == seller_id)
            )
        ).all()
        variants = {row.id: row for row in variant_rows}
        problems = check_entries(entries, keys, variants, currency)
        if problems:
            return Outcome(problems=problems)
        await session.execute(
            delete(PriceListEntry).where(PriceListEntry.price_list_id == list_key)
        )
        if entries:
            await session.execute(
                insert(PriceListEntry),
                [
                    {
                        "price_list_id": list_key,
                        "variant_id": key,
                        "min_quantity": entry.min_quantity,
                        "unit_price_minor": Money.from_decimal(entry.unit_price, currency).minor,
                    }
                    for entry, key in zip(entries, keys, strict=True)
                ],
            )
        tx.changed(catalog=True)
        return Outcome(key=list_key)

    return await write_outcome(ctx, write, conflict_at=("priceListId",))


async def delete_price_list(ctx: Context, price_list_global_id: str) -> Outcome:
    """Delete one of the seller's lists (its entries go with it)."""
    seller_id = _seller_id(ctx)
    list_key = key_of(price_list_global_id, "PriceList")
    if list_key is None:
        return Outcome(problems=[_own_list_problem("id")])

    async def write(tx: WriteTransaction) -> Outcome:
        session = tx.session
        deleted = await session.scalar(
            delete(PriceList)
            .where(PriceList.id == list_key, PriceList.seller_id == seller_id)
            .returning(PriceList.id)
        )
        if deleted is None:
            return Outcome(problems=[_own_list_problem("id")])
        tx.changed(catalog=True)
        return Outcome(key=deleted)

    return await write_outcome(ctx, write, conflict_at=("id",))


# --- exchange rates --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FxRateOutcome:
    """The stored rate (base, quote, rate, effective_at), or the problems that stopped it."""

    row: Any = None
    problems: list[Problem] = field(default_factory=list)


def check_fx_rate(base: str, quote: str, rate: Decimal) -> list[Problem]:
    problems = []
    if not is_currency(base):
        problems.append(Problem(("base",), "is not a supported currency"))
    if not is_currency(quote):
        problems.append(Problem(("quote",), "is not a supported currency"))
    if base == quote:
        problems.append(Problem(("quote",), "must differ from base"))
    if not rate.is_finite() or rate <= 0:
        problems.append(Problem(("rate",), "must be greater than zero"))
    elif rate >= MAX_FX_RATE:
        problems.append(Problem(("rate",), f"must be below {MAX_FX_RATE:,.0f}"))
    elif not _has_at_most_decimals(rate, FX_RATE_DECIMALS):
        problems.append(Problem(("rate",), f"has at most {FX_RATE_DECIMALS} decimal places"))
    return problems


def _has_at_most_decimals(amount: Decimal, places: int) -> bool:
    try:
        return amount == amount.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        return False


async def set_fx_rate(
    ctx: Context, base: str, quote: str, rate: Decimal, effective_at: datetime | None
) -> FxRateOutcome:
    """Record that `rate` units of `quote` buy one `base` from `effective_at` (default: now).
    Setting the same pair at the same instant again replaces that rate."""
    assert ctx.viewer.has_role(CompanyRole.PLATFORM_ADMIN)
    problems = check_fx_rate(base, quote, rate)
    if problems:
        return FxRateOutcome(problems=problems)
    if effective_at is not None and effective_at.tzinfo is None:
        effective_at = effective_at.replace(tzinfo=UTC)  # the API speaks UTC
    values = pg_insert(FxRate).values(
        base=base,
        quote=quote,
        rate=rate,
        effective_at=effective_at if effective_at is not None else func.now(),
    )
    statement = values.on_conflict_do_update(
        index_elements=[FxRate.base, FxRate.quote, FxRate.effective_at],
        set_={"rate": values.excluded.rate},
    ).returning(FxRate.base, FxRate.quote, FxRate.rate, FxRate.effective_at)

    async def write(tx: WriteTransaction) -> Any:
        row = (await tx.session.execute(statement)).one()
        tx.changed(catalog=True)
        return row

    try:
        return FxRateOutcome(row=await write_transaction(ctx, write, conflict_at=("base",)))
    except Refused as refused:
        return FxRateOutcome(problems=refused.problems)
