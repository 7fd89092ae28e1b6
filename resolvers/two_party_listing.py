"""Listing what a company bought or sold (orders, quote requests), newest first, a keyset page
at a time, optionally by status and side.

Each side reads its own index ((buyer_id|seller_id, [status,] created_at, id)): with no side
asked for, both are read newest first, `limit` each, and merged (UNION ALL: a company is never
both parties of one object).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_, union_all
from sqlalchemy.engine import Row

from dataloaders.batching import fetch_rows
from domain.orders import Side
from resolvers.context import Context
from resolvers.errors import BadUserInputError
from resolvers.pagination import PageRequest, encode_cursor, newest_first_position

SORT = "NEWEST"


@dataclass(frozen=True, slots=True)
class TwoPartyTable:
    """The columns a listing reads and the ones it filters and orders by."""

    name: str  # the list's field name, for error messages
    columns: Sequence[Any]
    buyer_id: Any
    seller_id: Any
    status: Any
    created_at: Any
    id: Any


@dataclass(frozen=True, slots=True)
class TwoPartyPage:
    rows: list[Row[Any]]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    company_id: uuid.UUID
    status: enum.Enum | None
    role: Side | None


async def list_newest_first(
    ctx: Context,
    table: TwoPartyTable,
    page: PageRequest,
    status: enum.Enum | None,
    role: Side | None,
) -> TwoPartyPage:
    """Only what the viewer's company is a party of (forward pages only)."""
    company_id = ctx.viewer.company_id
    assert company_id is not None
    if not page.forward:
        raise BadUserInputError(f"{table.name} pages forwards: use `first` and `after`")
    after = newest_first_position(page.cursor, "after") if page.cursor is not None else None
    statement = _newest_first(table, company_id, role, status, after, page.size + 1)
    rows = list(await fetch_rows(ctx.engine, statement))
    has_more = len(rows) > page.size
    rows = rows[: page.size]
    return TwoPartyPage(
        rows=rows,
        cursors=[encode_cursor(SORT, [row.created_at.isoformat(), str(row.id)]) for row in rows],
        has_next_page=has_more,
        has_previous_page=page.cursor is not None,
        company_id=company_id,
        status=status,
        role=role,
    )


def _newest_first(
    table: TwoPartyTable,
    company_id: uuid.UUID,
    role: Side | None,
    status: enum.Enum | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Any:
    def side(party: Any) -> Any:
        statement = select(*table.columns).where(party == company_id)
        if status is not None:
            statement = statement.where(table.status == status)
        if after is not None:
            statement = statement.where(tuple_(table.created_at, table.id) < tuple_(*after))
        return statement.order_by(table.created_at.desc(), table.id.desc()).limit(limit)

    if role == Side.BUYER:
        return side(table.buyer_id)
    if role == Side.SELLER:
        return side(table.seller_id)
    both = union_all(side(table.buyer_id), side(table.seller_id)).subquery()
    return select(*both.c).order_by(both.c.created_at.desc(), both.c.id.desc()).limit(limit)


async def count_listed(ctx: Context, table: TwoPartyTable, page: TwoPartyPage) -> int:
    company = page.company_id
    if page.role == Side.BUYER:
        visible = table.buyer_id == company
    elif page.role == Side.SELLER:
        visible = table.seller_id == company
    else:
        visible = or_(table.buyer_id == company, table.seller_id == company)
    statement = select(func.count()).select_from(table.id.table).where(visible)
    if page.status is not None:
        statement = statement.where(table.status == page.status)
    rows = await fetch_rows(ctx.engine, statement)
    return int(rows[0][0])
