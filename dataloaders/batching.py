"""Building blocks: a batch = one `SELECT ... WHERE key = ANY(:keys)` on its own connection."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Select, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

# A loader's key: an ORM column attribute such as Product.id.
Key = QueryableAttribute[Any]


async def fetch_rows(engine: AsyncEngine, statement: Select) -> Sequence[Row[Any]]:
    # Each batch takes its own pooled connection: sibling loaders run concurrently and one
    # connection (or AsyncSession) cannot run two statements at once.
    async with engine.connect() as connection:
        return (await connection.execute(statement)).all()


def any_of(column: Key, keys: Sequence[Hashable]) -> ColumnElement[bool]:
    """`column = ANY(:keys)`: one array parameter, so the statement is the same for any count."""
    return column == any_(bindparam(None, list(keys), type_=ARRAY(column.type)))


def one_per_key(engine: AsyncEngine, statement: Select, key: Key) -> DataLoader:
    """Loads the row whose `key` equals each requested key (None when there is none)."""

    async def batch(keys: list[Hashable]) -> list[Row[Any] | None]:
        rows = await fetch_rows(engine, statement.where(any_of(key, keys)))
        by_key = {getattr(row, key.key): row for row in rows}
        return [by_key.get(k) for k in keys]

    return DataLoader(batch, max_batch_size=1000)


def many_per_key(engine: AsyncEngine, statement: Select, key: Key) -> DataLoader:
    """Loads the rows whose `key` equals each requested key, in the statement's order."""

    async def batch(keys: list[Hashable]) -> list[list[Row[Any]]]:
        rows = await fetch_rows(engine, statement.where(any_of(key, keys)))
        grouped: dict[Hashable, list[Row[Any]]] = defaultdict(list)
        for row in rows:
            grouped[getattr(row, key.key)].append(row)
        return [grouped.get(k, []) for k in keys]

    return DataLoader(batch, max_batch_size=1000)


def computed_per_key(
    engine: AsyncEngine,
    statement: Callable[[list[Hashable]], Select],
    default: Any,
) -> DataLoader:
    """Loads one value per key from a statement returning (key, value) rows."""

    async def batch(keys: list[Hashable]) -> list[Any]:
        rows = await fetch_rows(engine, statement(keys))
        values = dict(tuple(row) for row in rows)
        return [values.get(k, default) for k in keys]

    return DataLoader(batch, max_batch_size=1000)
