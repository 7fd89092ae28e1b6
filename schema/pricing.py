"""Contract price lists (a seller's negotiated prices for one buyer) and exchange rates."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.types import Info

from auth.permissions import platform_admin, seller
from domain.money import Money as MoneyValue
from resolvers import catalog as catalog_resolvers
from resolvers import pricing as pricing_resolvers
from resolvers.context import Context
from resolvers.global_ids import to_global_id
from resolvers.outcome import Outcome
from resolvers.pagination import page_request
from schema.catalog import ProductVariant
from schema.common import (
    Connection,
    CurrencyCode,
    Money,
    Node,
    UserError,
    connection_of,
    user_errors,
)
from schema.companies import Company


@strawberry.type(
    description="A contract price: from `minQuantity` units on, the list's buyer pays "
    "`unitPrice` per unit of `variant`."
)
class PriceListEntry:
    variant: ProductVariant = strawberry.field(description="The variant this price is for.")
    min_quantity: int = strawberry.field(
        description="The break: the price applies from this many units on."
    )
    unit_price: Money = strawberry.field(description="Per unit, in the list's currency.")


@strawberry.type(
    description="A seller's negotiated prices for one buyer company, valid between two dates "
    "(UTC, both included). Seen only by that seller and that buyer. While a list is valid, the "
    "buyer pays its entry for a variant and quantity instead of the volume tier; when several "
    "valid lists price one variant, the most recently created one applies."
)
class PriceList(Node):
    name: str = strawberry.field(description="The seller's name for the list (1-120 characters).")
    currency: CurrencyCode = strawberry.field(
        description="The currency of every entry: the currency its variants are priced in."
    )
    valid_from: date = strawberry.field(description="The first day the list applies (UTC).")
    valid_to: date | None = strawberry.field(
        description="The last day the list applies (UTC); null: until further notice."
    )
    created_at: datetime = strawberry.field(
        description="When the seller created the list; the newest valid list of a variant applies."
    )
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> PriceList:
        return cls(
            id=strawberry.ID(to_global_id("PriceList", row.id)),
            name=row.name,
            currency=row.currency,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="The company that set these prices.")
    async def seller(self, info: Info[Context, None]) -> Company:
        return Company.from_row(await info.context.loaders.company_by_id.load(self.row.seller_id))

    @strawberry.field(description="The company these prices are for.")
    async def buyer(self, info: Info[Context, None]) -> Company:
        return Company.from_row(await info.context.loaders.company_by_id.load(self.row.buyer_id))

    @strawberry.field(
        description="The prices, by variant and then ascending `minQuantity`; at most 100 "
        "(a price list holds at most 100 entries). Variants of products the viewer may not see "
        "(a seller's drafts, for the buyer) are left out."
    )
    async def entries(self, info: Info[Context, None]) -> list[PriceListEntry]:
        ctx = info.context
        rows = await pricing_resolvers.entries_of(ctx, self.row.id)
        variant_ids = list(dict.fromkeys(row.variant_id for row in rows))
        # One batch per level (variants, then their products) whatever the number of entries.
        found = await asyncio.gather(
            *(catalog_resolvers.variant_by_id(ctx, key) for key in variant_ids)
        )
        variants = {
            key: ProductVariant.from_row(variant, ctx)
            for key, variant in zip(variant_ids, found, strict=True)
            if variant is not None
        }
        return [
            PriceListEntry(
                variant=variants[row.variant_id],
                min_quantity=row.min_quantity,
                unit_price=Money.of(MoneyValue(row.unit_price_minor, row.currency)),
            )
            for row in rows
            if row.variant_id in variants
        ]


async def price_list_node(info: Info[Context, None], key: Any) -> PriceList | None:
    """`node(id:)` for a PriceList: null unless the viewer's company is one of its parties."""
    row = await pricing_resolvers.price_list_by_id(info.context, key)
    return PriceList.from_row(row) if row else None


@strawberry.type(description="An exchange rate: `rate` units of `quote` buy one unit of `base`.")
class FxRate:
    base: CurrencyCode = strawberry.field(description="The currency one unit of which is priced.")
    quote: CurrencyCode = strawberry.field(description="The currency the rate is expressed in.")
    rate: Decimal = strawberry.field(description="At most 12 decimal places.")
    effective_at: datetime = strawberry.field(
        description="From this moment on the rate applies, until a later one for the pair."
    )


@strawberry.input(description="A new contract price list for one buyer company.")
class CreatePriceListInput:
    buyer_id: strawberry.ID = strawberry.field(
        description="The buyer company: a company that buys on the marketplace, not yours."
    )
    name: str = strawberry.field(description="1 to 120 characters.")
    currency: CurrencyCode = strawberry.field(
        description="Entries must be for variants priced in this currency (no conversion)."
    )
    valid_from: date = strawberry.field(description="The first day the list applies (UTC).")
    valid_to: date | None = strawberry.field(
        default=None,
        description="The last day the list applies (UTC), not before validFrom; "
        "null: until further notice.",
    )


@strawberry.input(description="A contract price for one of your variants from a quantity on.")
class PriceListEntryInput:
    variant_id: strawberry.ID = strawberry.field(
        description="One of your variants, priced in the list's currency."
    )
    min_quantity: int = strawberry.field(
        description="At least the variant's minimum order quantity; one entry per variant "
        "and minQuantity."
    )
    unit_price: Decimal = strawberry.field(
        description="Per unit, greater than zero, with at most the list currency's decimals."
    )


@strawberry.type(description="The result of creating or changing a price list.")
class PriceListPayload:
    price_list: PriceList | None = strawberry.field(
        description="The list as it is now; null when the mutation changed nothing."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.type(description="The result of deleting a price list.")
class DeletePriceListPayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        description="The ID of the deleted list; null when nothing was deleted."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.type(description="The result of setting an exchange rate.")
class FxRatePayload:
    fx_rate: FxRate | None = strawberry.field(
        description="The rate as stored; null when the mutation changed nothing."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


async def _price_list_payload(info: Info[Context, None], outcome: Outcome) -> PriceListPayload:
    price_list = None
    if outcome.key is not None:
        row = await pricing_resolvers.price_list_by_id(info.context, outcome.key)
        price_list = PriceList.from_row(row) if row else None
    return PriceListPayload(price_list=price_list, user_errors=user_errors(outcome.problems))


@strawberry.type
class PricingQuery:
    @strawberry.field(
        description="The contract price lists your company sells or buys under, newest first. "
        "`first`/`last` at most 100 (default 20). Empty when signed out."
    )
    async def price_lists(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[PriceList]:
        ctx = info.context
        page = page_request(
            first=first,
            after=after,
            last=last,
            before=before,
            sort=pricing_resolvers.PRICE_LIST_SORT,
        )
        result = await pricing_resolvers.list_price_lists(ctx, page)
        return connection_of(
            result,
            [PriceList.from_row(row) for row in result.rows],
            lambda: pricing_resolvers.count_price_lists(ctx, result),
        )


@strawberry.type
class PricingMutation:
    @strawberry.mutation(
        description="Start a contract price list for one buyer company (sellers). Add its "
        "prices with `setPriceListEntries`.",
        extensions=seller(),
    )
    async def create_price_list(
        self, info: Info[Context, None], input: CreatePriceListInput
    ) -> PriceListPayload:
        spec = pricing_resolvers.PriceListSpec(
            buyer_id=input.buyer_id,
            name=input.name,
            currency=input.currency,
            valid_from=input.valid_from,
            valid_to=input.valid_to,
        )
        outcome = await pricing_resolvers.create_price_list(info.context, spec)
        return await _price_list_payload(info, outcome)

    @strawberry.mutation(
        description="Replace all entries of one of your price lists (sellers). A price list "
        "holds at most 100 entries, so at most 100 a call; an empty list clears it. Any mistake "
        "changes nothing.",
        extensions=seller(),
    )
    async def set_price_list_entries(
        self,
        info: Info[Context, None],
        price_list_id: strawberry.ID,
        entries: list[PriceListEntryInput],
    ) -> PriceListPayload:
        specs = [
            pricing_resolvers.EntrySpec(
                variant_id=entry.variant_id,
                min_quantity=entry.min_quantity,
                unit_price=entry.unit_price,
            )
            for entry in entries
        ]
        outcome = await pricing_resolvers.set_price_list_entries(info.context, price_list_id, specs)
        return await _price_list_payload(info, outcome)

    @strawberry.mutation(
        description="Delete one of your price lists and its entries (sellers); its buyer pays "
        "tier prices again unless another list applies.",
        extensions=seller(),
    )
    async def delete_price_list(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> DeletePriceListPayload:
        outcome = await pricing_resolvers.delete_price_list(info.context, id)
        return DeletePriceListPayload(
            deleted_id=id if outcome.key is not None else None,
            user_errors=user_errors(outcome.problems),
        )

    @strawberry.mutation(
        description="Set an exchange rate (platform admins): `rate` units of `quote` for one "
        "`base`, from `effectiveAt` (default now) on. Prices convert at the latest rate at or "
        "before now; the reverse direction uses the inverse when no rate of its own exists.",
        extensions=platform_admin(),
    )
    async def set_fx_rate(
        self,
        info: Info[Context, None],
        base: CurrencyCode,
        quote: CurrencyCode,
        rate: Decimal,
        effective_at: datetime | None = None,
    ) -> FxRatePayload:
        outcome = await pricing_resolvers.set_fx_rate(info.context, base, quote, rate, effective_at)
        row = outcome.row
        return FxRatePayload(
            fx_rate=FxRate(
                base=row.base,
                quote=row.quote,
                rate=row.rate,
                effective_at=row.effective_at,
            )
            if row is not None
            else None,
            user_errors=user_errors(outcome.problems),
        )
