"""The catalog listing query: filters, sorts and keyset pages over products, in SQL."""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    Select,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.engine import Row

from auth.viewer import Viewer
from dataloaders.batching import fetch_rows
from dataloaders.catalog import PRODUCT_COLUMNS
from db.models import Category, Product, ProductVariant, StockLevel
from domain.catalog import ProductStatus
from domain.money import (
    FxTable,
    MissingRateError,
    Money,
    currency_exponent,
    has_at_most_exponent_decimals,
)
from domain.pricing import MAX_UNIT_PRICE
from resolvers.context import Context
from resolvers.errors import BadUserInputError
from resolvers.pagination import PageRequest, encode_cursor

MAX_QUERY_LENGTH = 200
# Sorts a price-less (no FX rate) product after every priced one.
NO_PRICE = Decimal("1e30")
# Decimal places of a converted price (the sort key's numeric(38, PRICE_SCALE)).
PRICE_SCALE = 12


# (expression, descending): an ORM attribute or a computed column.
SortKey = tuple[Any, bool]


class ProductOrder(enum.StrEnum):
    RELEVANCE = "RELEVANCE"
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    NAME = "NAME"


@dataclass(frozen=True, slots=True)
class ProductQuery:
    text: str | None = None
    category_id: uuid.UUID | None = None
    seller_id: uuid.UUID | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    status: ProductStatus = ProductStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ProductPage:
    rows: Sequence[Row[Any]]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count_statement: Select


def _search_terms(query: ProductQuery) -> tuple[ColumnElement[Any], ColumnElement[Any]] | None:
    if not query.text:
        return None
    return func.websearch_to_tsquery("english", query.text), literal(query.text)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _category_subtree(category_id: uuid.UUID) -> Select:
    tree = select(Category.id).where(Category.id == category_id).cte(recursive=True)
    tree = tree.union_all(select(Category.id).where(Category.parent_id == tree.c.id))
    return select(tree.c.id)


def _price_in(currency: str, fx: FxTable) -> ColumnElement[Any]:
    """Each product's lowest unit price converted into `currency` (NULL without a rate)."""
    whens = []
    for other in fx.currencies() | {currency}:
        try:
            factor = fx.rate(other, currency) / Decimal(10) ** currency_exponent(other)
        except MissingRateError:
            continue
        whens.append((Product.price_currency == other, Product.price_min_minor * factor))
    return case(*whens, else_=None).cast(Numeric(38, PRICE_SCALE))


def _price_bounds(query: ProductQuery, currency: str, fx: FxTable) -> ColumnElement[bool]:
    """min/max price as one index-friendly range per listed currency."""
    ranges = []
    for other in fx.currencies() | {currency}:
        try:
            low = (
                fx.convert(Money.from_decimal(query.min_price, currency), other).minor
                if (query.min_price is not None)
                else None
            )
            high = (
                fx.convert(Money.from_decimal(query.max_price, currency), other).minor
                if (query.max_price is not None)
                else None
            )
        except MissingRateError:
            continue
        conditions = [Product.price_currency == other]
        if low is not None:
            conditions.append(Product.price_min_minor >= low)
        if high is not None:
            conditions.append(Product.price_min_minor <= high)
        ranges.append(and_(*conditions))
    return or_(*ranges) if ranges else false()


def _validate(query: ProductQuery, currency: str | None) -> None:
    if query.text is not None and len(query.text) > MAX_QUERY_LENGTH:
        raise BadUserInputError(f"`filter.query` is limited to {MAX_QUERY_LENGTH} characters")
    for name, bound in (("minPrice", query.min_price), ("maxPrice", query.max_price)):
        if bound is None:
            continue
        # Checked before any arithmetic: a huge exponent (1e99999) would overflow the decimal
        # context or burn CPU in the conversion, and no price is above the tier maximum anyway.
        if not bound.is_finite() or bound < 0:
            raise BadUserInputError(f"`filter.{name}` must be a non-negative amount")
        if currency is None:
            raise BadUserInputError(f"`filter.{name}` needs `currency` to say what it is in")
        if bound > MAX_UNIT_PRICE:
            raise BadUserInputError(f"`filter.{name}` must be at most {MAX_UNIT_PRICE}")
        if not has_at_most_exponent_decimals(bound, currency):
            raise BadUserInputError(
                f"`filter.{name}` has more decimal places than {currency} has "
                f"({currency_exponent(currency)})"
            )


def listing_statement(
    ctx: Context,
    query: ProductQuery,
    order: ProductOrder,
    currency: str | None,
    fx: FxTable | None,
) -> tuple[Select, list[SortKey]]:
    """The filtered statement and its sort keys as (expression, descending)."""
    _validate(query, currency)
    viewer: Viewer = ctx.viewer
    conditions: list[ColumnElement[bool]] = [Product.status == query.status]
    if query.status != ProductStatus.ACTIVE:
        # Drafts and archived products are listed only to the seller that owns them.
        if viewer.company_id is None:
            raise BadUserInputError("only a seller can list its own non-active products")
        conditions.append(Product.seller_id == viewer.company_id)
    if query.seller_id is not None:
        conditions.append(Product.seller_id == query.seller_id)
    if query.category_id is not None:
        conditions.append(Product.category_id.in_(_category_subtree(query.category_id)))
    if query.in_stock is not None:
        stocked = exists().where(
            ProductVariant.product_id == Product.id,
            StockLevel.variant_id == ProductVariant.id,
            StockLevel.on_hand - StockLevel.reserved > 0,
        )
        conditions.append(stocked if query.in_stock else ~stocked)
    if (query.min_price is not None or query.max_price is not None) and currency and fx:
        conditions.append(_price_bounds(query, currency, fx))

    relevance: ColumnElement[Any] | None = None
    terms = _search_terms(query)
    if terms is not None:
        tsquery, text = terms
        prefix = _escape_like(query.text or "") + "%"
        matches = [
            Product.search_document.op("@@")(tsquery),
            # A name prefix, case-insensitive, in the form ix_products_lower_name_pattern
            # serves (ILIKE has no btree index). The text's % and _ are literal characters.
            func.lower(Product.name).like(func.lower(prefix), escape="\\"),
        ]
        rank: ColumnElement[Any] = func.ts_rank_cd(Product.search_document, tsquery)
        if ctx.services.has_trigram_search:
            matches.append(Product.name.op("%")(text))
            rank = rank + func.similarity(Product.name, text)
        conditions.append(or_(*matches))
        relevance = cast(rank, Float)

    sort_keys: list[SortKey]
    if order == ProductOrder.RELEVANCE and relevance is not None:
        sort_keys = [(relevance, True), (Product.id, True)]
    elif order in (ProductOrder.PRICE_ASC, ProductOrder.PRICE_DESC):
        if currency is None or fx is None:
            raise BadUserInputError("sorting by price needs `currency`")
        descending = order == ProductOrder.PRICE_DESC
        price = func.coalesce(_price_in(currency, fx), -1 if descending else NO_PRICE)
        sort_keys = [(price, descending), (Product.id, descending)]
    elif order == ProductOrder.NAME:
        sort_keys = [(Product.name, False), (Product.id, False)]
    else:
        sort_keys = [(Product.created_at, True), (Product.id, True)]
    return select(*PRODUCT_COLUMNS).where(*conditions), sort_keys


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def _parse_cursor_value(template: Any, raw: Any) -> Any:
    """A cursor's sort key back as the type of its sort expression, or BAD_USER_INPUT.

    A client can send any JSON in a cursor, so each value is checked against what
    _cursor_value writes for that key: anything else would reach PostgreSQL as a bad query
    argument (a 500) or compare against values no real row has.
    """
    value = _cursor_key(template, raw)
    if value is None:
        raise BadUserInputError("the cursor is malformed")
    return value


def _cursor_key(template: Any, raw: Any) -> Any:
    """The parsed key, or None when `raw` cannot be one."""
    column_type = template.type
    python_type = column_type.python_type
    try:
        if python_type is float:
            # JSON numbers (bool is an int in Python, but never a rank).
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                return None
            number = float(raw)
            return number if math.isfinite(number) else None
        if not isinstance(raw, str):
            return None
        if python_type is str:
            # PostgreSQL text cannot hold NUL; a real name also fits its column.
            length = getattr(column_type, "length", None)
            too_long = length is not None and len(raw) > length
            return None if "\x00" in raw or too_long else raw
        if python_type is uuid.UUID:
            return uuid.UUID(raw)
        if python_type is datetime:
            # Written from timestamptz, so never naive; in UTC here, as the driver would convert
            # it (year 1 at +01:00 is out of range, an OverflowError there).
            moment = datetime.fromisoformat(raw)
            return moment.astimezone(UTC) if moment.tzinfo is not None else None
        if python_type is Decimal:
            amount = Decimal(raw)
            # Written from numeric(38, 12) prices and the -1 / NO_PRICE placeholders.
            if not amount.is_finite() or abs(amount) > NO_PRICE:
                return None
            exponent = amount.as_tuple().exponent
            return amount if isinstance(exponent, int) and exponent >= -PRICE_SCALE else None
    except (ValueError, ArithmeticError):
        return None
    raise TypeError(f"no cursor parser for a sort key of type {python_type.__name__}")


async def fetch_page(
    ctx: Context,
    statement: Select,
    sort_keys: list[SortKey],
    sort_name: str,
    page: PageRequest,
) -> ProductPage:
    count_statement = select(func.count()).select_from(statement.order_by(None).subquery())
    descending = sort_keys[0][1]
    # Going backwards reads the list in reverse and flips the page afterwards.
    reverse = descending if page.forward else not descending
    expressions = [expression for expression, _ in sort_keys]
    keyed = statement.add_columns(*(e.label(f"_sort_{i}") for i, e in enumerate(expressions)))
    if page.cursor is not None:
        if len(page.cursor) != len(expressions):
            raise BadUserInputError("the cursor is malformed")
        values = [_parse_cursor_value(e, v) for e, v in zip(expressions, page.cursor, strict=True)]
        position = tuple_(*expressions)
        keyed = keyed.where(position < tuple_(*values) if reverse else position > tuple_(*values))
    keyed = keyed.order_by(*(e.desc() if reverse else e.asc() for e in expressions))
    rows = list(await fetch_rows(ctx.engine, keyed.limit(page.size + 1)))
    has_more = len(rows) > page.size
    rows = rows[: page.size]
    if not page.forward:
        rows.reverse()
    width = len(PRODUCT_COLUMNS)
    cursors = [
        encode_cursor(sort_name, [_cursor_value(v) for v in tuple(row)[width:]]) for row in rows
    ]
    return ProductPage(
        rows=rows,
        cursors=cursors,
        has_next_page=has_more if page.forward else page.cursor is not None,
        has_previous_page=page.cursor is not None if page.forward else has_more,
        count_statement=count_statement,
    )
