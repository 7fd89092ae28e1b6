"""Contract price lists: lists by id, their entries, and one buyer's contract breaks per variant."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Hashable
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Date, and_, bindparam, cast, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import UUID, distinct_on
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from dataloaders.batching import CompiledRead, any_of_keys, many_per_key, one_per_key
from db.models import PriceList, PriceListEntry, ProductVariant

PRICE_LIST_COLUMNS = (
    PriceList.id,
    PriceList.seller_id,
    PriceList.buyer_id,
    PriceList.name,
    PriceList.currency,
    PriceList.valid_from,
    PriceList.valid_to,
    PriceList.created_at,
)


def today_utc() -> ColumnElement[Any]:
    """Today's date in UTC, whatever the session's TimeZone (a list is valid by UTC dates)."""
    # A literal, not a parameter: compiled reads bind only their named parameters.
    return cast(func.timezone(literal_column("'UTC'"), func.now()), Date)


def valid_today() -> ColumnElement[bool]:
    """`valid_from <= today AND (valid_to IS NULL OR valid_to >= today)`, both ends inclusive."""
    today = today_utc()
    return and_(
        PriceList.valid_from <= today,
        or_(PriceList.valid_to.is_(None), PriceList.valid_to >= today),
    )


PRICE_LIST_BY_ID = CompiledRead(select(*PRICE_LIST_COLUMNS).where(any_of_keys(PriceList.id)))
ENTRIES_BY_PRICE_LIST_ID = CompiledRead(
    select(
        PriceListEntry.price_list_id,
        PriceListEntry.variant_id,
        PriceListEntry.min_quantity,
        PriceListEntry.unit_price_minor,
        PriceList.currency,
    )
    .join(PriceList, PriceList.id == PriceListEntry.price_list_id)
    .where(any_of_keys(PriceListEntry.price_list_id))
    .order_by(PriceListEntry.variant_id, PriceListEntry.min_quantity)
)

# Which list prices each variant for one buyer today: among the valid lists of that buyer with
# entries for the variant, the most recently created one wins, ties broken by id. Deterministic,
# and a seller replaces a contract by creating a newer list without having to end the old one
# first. Only lists of the variant's own seller count, and only entries in the variant's
# currency: setPriceListEntries refuses anything else, and this read does not trust that alone.
_CHOSEN = (
    select(PriceListEntry.variant_id, PriceListEntry.price_list_id, PriceList.currency)
    .join(PriceList, PriceList.id == PriceListEntry.price_list_id)
    .join(ProductVariant, ProductVariant.id == PriceListEntry.variant_id)
    .where(
        any_of_keys(PriceListEntry.variant_id),
        PriceList.buyer_id == bindparam("buyer", type_=UUID(as_uuid=True)),
        PriceList.seller_id == ProductVariant.seller_id,
        PriceList.currency == ProductVariant.currency,
        valid_today(),
    )
    .ext(distinct_on(PriceListEntry.variant_id))
    .order_by(PriceListEntry.variant_id, PriceList.created_at.desc(), PriceList.id.desc())
    .cte("chosen")
)
CONTRACT_BREAKS_BY_VARIANT_ID = CompiledRead(
    select(
        PriceListEntry.variant_id,
        PriceListEntry.min_quantity,
        PriceListEntry.unit_price_minor,
        _CHOSEN.c.currency,
    )
    .join(
        _CHOSEN,
        and_(
            _CHOSEN.c.variant_id == PriceListEntry.variant_id,
            _CHOSEN.c.price_list_id == PriceListEntry.price_list_id,
        ),
    )
    .order_by(PriceListEntry.variant_id, PriceListEntry.min_quantity)
)


def price_list_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, PRICE_LIST_BY_ID, "id")


def entries_by_price_list_id(engine: AsyncEngine) -> DataLoader:
    """A list's entries by variant, then ascending minQuantity (at most 100: the write limit)."""
    return many_per_key(engine, ENTRIES_BY_PRICE_LIST_ID, "price_list_id")


def contract_breaks_by_variant_id(engine: AsyncEngine, buyer_id: uuid.UUID) -> DataLoader:
    """Key: variant id. The breaks (ascending minQuantity) of `buyer_id`'s contract valid today
    for the variant; [] when there is none. The buyer is fixed: one loader per buyer."""

    async def batch(keys: list[Hashable]) -> list[list[Any]]:
        rows = await CONTRACT_BREAKS_BY_VARIANT_ID.fetch(engine, keys=keys, buyer=buyer_id)
        grouped: dict[Hashable, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[row.variant_id].append(row)
        return [grouped.get(key, []) for key in keys]

    return DataLoader(batch, max_batch_size=1000)
