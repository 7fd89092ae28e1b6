"""Shared schema pieces: scalars, Money, Node and global IDs, connections, user errors."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Generic, NewType, Protocol, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from domain.geography import is_country
from domain.money import Money as MoneyValue
from domain.money import is_currency
from domain.orders import Side
from domain.problems import Problem, ProblemCode
from resolvers import two_party_listing

# Re-exported: the edge (gateway/cost.py) bounds pages by it too.
from resolvers.pagination import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from resolvers.pagination import page_request
from resolvers.two_party_listing import TwoPartyTable

# GraphQLError, not ValueError: a code written in the query text is checked during
# validation, where any other exception would read as a server fault (a 500).


def _parse_currency(value: object) -> str:
    if not isinstance(value, str) or not is_currency(value):
        raise GraphQLError(f"{value!r} is not an ISO 4217 currency code (e.g. EUR, USD, JPY)")
    return value


def _parse_country(value: object) -> str:
    if not isinstance(value, str) or not is_country(value):
        raise GraphQLError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, US)")
    return value


CurrencyCode = NewType("CurrencyCode", str)
CountryCode = NewType("CountryCode", str)

# Bound to the schema through StrawberryConfig(scalar_map=...).
SCALAR_MAP: dict[object, ScalarDefinition] = {
    CurrencyCode: strawberry.scalar(
        name="CurrencyCode",
        description="An ISO 4217 currency code such as EUR, USD or JPY; unknown codes are refused.",
        serialize=str,
        parse_value=_parse_currency,
    ),
    CountryCode: strawberry.scalar(
        name="CountryCode",
        description="An ISO 3166-1 alpha-2 country code such as DE or US; unknown codes are "
        "refused.",
        serialize=str,
        parse_value=_parse_country,
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
        return cls(amount=value.amount, currency=CurrencyCode(value.currency))


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
    return [UserError(field=list(p.path) or None, message=p.message, code=p.code) for p in problems]


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
