"""Shared schema pieces: scalars, Money, Node and global IDs, connections, user errors."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import strawberry
from graphql import GraphQLError
from graphql.language import FloatValueNode, IntValueNode, StringValueNode, ValueNode, print_ast
from strawberry.types.scalar import ScalarDefinition

from domain.geography import country_codes
from domain.money import Money as MoneyValue
from domain.money import supported_currencies
from domain.orders import Side
from domain.problems import Problem, ProblemCode
from resolvers import two_party_listing

# Re-exported: the edge (gateway/cost.py) bounds pages by it too.
from resolvers.pagination import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from resolvers.pagination import page_request
from resolvers.two_party_listing import TwoPartyTable


def _code_enum(name: str, codes: list[str], description: str) -> type[enum.StrEnum]:
    """A GraphQL enum whose values are the codes themselves. On the Python side a member is a
    str (`CurrencyCode("EUR") == "EUR"`), so resolvers and domain code keep handling codes as
    strings."""
    members = enum.StrEnum(name, [(code, code) for code in codes])  # type: ignore[misc]
    return strawberry.enum(members, description=description)


if TYPE_CHECKING:
    # What a field or argument of these types holds on the Python side: a code string (an
    # argument's value is a StrEnum member, which is one). Output fields are given plain
    # strings: Strawberry serializes a member of a large enum by scanning every value
    # (~20 µs a field), a plain string by one lookup.
    CurrencyCode = str
    CountryCode = str
else:
    CurrencyCode = _code_enum(
        "CurrencyCode",
        supported_currencies(),
        "An ISO 4217 currency code (every currency with a minor unit: EUR, USD, JPY, KWD...). "
        'In JSON variables it is a string, "EUR"; in the query text an enum value, EUR.',
    )
    CountryCode = _code_enum(
        "CountryCode",
        country_codes(),
        "An ISO 3166-1 alpha-2 country code such as DE or US. In JSON variables it is a "
        'string, "DE"; in the query text an enum value, DE.',
    )

# A plain decimal: an optional sign, ASCII digits, and a decimal point only between digits
# ([0-9], not \d: Python's \d also matches "١٢٣", which Decimal() would take).
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# A sign, 38 digits (numeric(38, s), the widest column) and the point.
MAX_DECIMAL_LENGTH = 40


# GraphQLError, not ValueError: a value written in the query text is checked during
# validation, where any other exception would read as a server fault (a 500).


def _parse_decimal(value: object) -> Decimal:
    text = _decimal_text(value)
    if text is None or len(text) > MAX_DECIMAL_LENGTH or not _DECIMAL_TEXT.fullmatch(text):
        shown = "this value" if text is None else repr(text[:40] + ("..." if text[40:] else ""))
        raise GraphQLError(
            f"{shown} is not a decimal: write an optional sign, ASCII digits and at most one "
            f'decimal point between digits, at most {MAX_DECIMAL_LENGTH} characters ("1234.50")'
        )
    return Decimal(text)


def _decimal_text(value: object) -> str | None:
    """The text of a decimal input: a string as is, a JSON number by its shortest text (12.5 is
    "12.5"); None for anything else (a boolean is not a number)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # Longer than any decimal we take (and str() of a huge int raises).
        return str(value) if abs(value) < 10**MAX_DECIMAL_LENGTH else None
    if isinstance(value, float):
        return repr(value)
    return None


def _parse_decimal_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Decimal:
    # The literal's own text: 1e5 is refused like "1e5", not read as the float 100000.0.
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return _parse_decimal(node.value)
    return _parse_decimal(print_ast(node))


# Bound to the schema through StrawberryConfig(scalar_map=...).
SCALAR_MAP: dict[object, ScalarDefinition] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number as a string, e.g. "1234.50" or "-0.5": an optional '
        "sign, ASCII digits and at most one decimal point with digits on both sides "
        f'("1." and ".5" are refused), at most {MAX_DECIMAL_LENGTH} characters; no exponent, '
        "spaces or digit separators. An input may also be a JSON number, taken by its "
        "shortest text; prefer strings, as a float may not hold the intended value.",
        serialize=str,
        parse_value=_parse_decimal,
        parse_literal=_parse_decimal_literal,
    ),
}


T = TypeVar("T")


class Deferred(Generic[T]):
    """A relation not loaded with its object: loaded (through the loaders) only when a query
    selects it. Objects from a look-ahead list carry the loaded value instead, so the field is
    a plain attribute and costs no resolver call."""

    __slots__ = ("load",)

    def __init__(self, load: Callable[[], Awaitable[T]]) -> None:
        self.load = load


def resolve_attribute(source: Any, name: str) -> Any:
    """The schema's default resolver: a plain attribute, or the load of a Deferred one."""
    value = getattr(source, name)
    return value.load() if type(value) is Deferred else value


@strawberry.type(description='An amount in one currency. amount is a decimal string, "1234.50".')
class Money:
    amount: Decimal = strawberry.field(
        description="Exactly the currency's number of decimals (JPY 0, USD 2, KWD 3)."
    )
    currency: CurrencyCode = strawberry.field(
        description="The ISO 4217 code of the amount's currency."
    )

    @classmethod
    def of(cls, value: MoneyValue) -> Money:
        # str(): a currency taken from an argument is an enum member; the output is given the
        # plain string (see CurrencyCode).
        return cls(amount=value.amount, currency=str(value.currency))


@strawberry.interface(description="An object with a globally unique ID (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque global ID; pass it to `node(id:)` to fetch the object again."
    )


@strawberry.type(description="Where a page of a connection stands.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when more nodes follow `endCursor`: pass it as `after` to get them."
    )
    has_previous_page: bool = strawberry.field(
        description="True when nodes come before `startCursor`: pass it as `before` to get them "
        "(where the list supports `last`/`before`)."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the first edge of this page; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the last edge of this page; null when the page is empty."
    )


NodeType = TypeVar("NodeType")


@strawberry.type(description="An item of a page and the cursor to continue after it.")
class Edge(Generic[NodeType]):
    cursor: str = strawberry.field(
        description="Opaque; pass it as `after` (or `before`) to page on from this item. Only "
        "valid for the same list in the same sort order."
    )
    node: NodeType = strawberry.field(description="The item itself.")


@strawberry.type(description="A page of a list. Pages hold at most 100 nodes.")
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]] = strawberry.field(
        description="The items of this page, in the list's order, each with its cursor."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether there are more pages, and the cursors to fetch them."
    )
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many nodes the whole list has (all pages).")
    async def total_count(self) -> int:
        return await self.count()


class PageOfRows(Protocol):
    """What a resolver's keyset page tells about itself (ProductPage, OrderPage, ...)."""

    @property
    def cursors(self) -> list[str]: ...

    @property
    def has_next_page(self) -> bool: ...

    @property
    def has_previous_page(self) -> bool: ...


def connection_of(
    page: PageOfRows, nodes: Sequence[NodeType], count: Callable[[], Awaitable[int]]
) -> Connection[NodeType]:
    """A connection of `nodes` (one per cursor of `page`, in order)."""
    return Connection(
        edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        count=count,
    )


async def _none_counted() -> int:
    return 0


async def two_party_connection(
    ctx: Any,
    table: TwoPartyTable,
    *,
    first: int | None,
    after: str | None,
    status: enum.Enum | None,
    role: Side | None,
    node_of: Callable[[Any], NodeType],
) -> Connection[NodeType]:
    """A page of what the viewer's company bought or sold (orders, quote requests); empty for
    a user of no company."""
    if ctx.viewer.company_id is None:
        empty = PageInfo(
            has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
        )
        return Connection(edges=[], page_info=empty, count=_none_counted)
    page = page_request(
        first=first, after=after, last=None, before=None, sort=two_party_listing.SORT
    )
    result = await two_party_listing.list_newest_first(ctx, table, page, status, role)
    return connection_of(
        result,
        [node_of(row) for row in result.rows],
        lambda: two_party_listing.count_listed(ctx, table, result),
    )


def user_errors(problems: Iterable[Problem]) -> list[UserError]:
    return [
        UserError(
            field=list(p.path) or None,
            message=p.message,
            code=p.code,
            retry_after_seconds=p.retry_after_seconds,
        )
        for p in problems
    ]


# One home: the codes are domain.problems.ProblemCode, exposed to clients under this name.
UserErrorCode = strawberry.enum(
    ProblemCode, name="UserErrorCode", description="Why a mutation refused part of its input."
)


@strawberry.type(
    description="A client's mistake, reported inside a mutation payload (never as a top-level "
    "GraphQL error)."
)
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "variants", "0", "sku"].'
    )
    message: str = strawberry.field(
        description="A human-readable explanation in English, fit to show next to the field; do "
        "not parse it (use `code`)."
    )
    code: ProblemCode = strawberry.field(description="What kind of mistake it is: branch on this.")
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="With THROTTLED: the seconds to wait before trying again; null otherwise.",
    )
