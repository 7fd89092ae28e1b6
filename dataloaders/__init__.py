"""Per-request batched loaders. Create a `Loaders` per request (never share one: its caches
would leak data between viewers, and aiodataloader binds the event loop when created)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncEngine

from dataloaders import catalog, companies, orders, pricing, quotes


class Loaders:
    """Each loader is made on first use, so a request pays only for those it touches."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._made: dict[str, DataLoader] = {}

    def _get(self, name: str, factory: Callable[[AsyncEngine], DataLoader]) -> DataLoader:
        loader = self._made.get(name)
        if loader is None:
            loader = self._made[name] = factory(self._engine)
        return loader

    @property
    def company_by_id(self) -> DataLoader:
        return self._get("company_by_id", companies.company_by_id)

    @property
    def user_by_id(self) -> DataLoader:
        return self._get("user_by_id", companies.user_by_id)

    @property
    def membership_by_user_id(self) -> DataLoader:
        return self._get("membership_by_user_id", companies.membership_by_user_id)

    @property
    def category_by_id(self) -> DataLoader:
        return self._get("category_by_id", catalog.category_by_id)

    @property
    def categories_by_parent_id(self) -> DataLoader:
        return self._get("categories_by_parent_id", catalog.categories_by_parent_id)

    @property
    def product_by_id(self) -> DataLoader:
        return self._get("product_by_id", catalog.product_by_id)

    @property
    def product_by_slug(self) -> DataLoader:
        return self._get("product_by_slug", catalog.product_by_slug)

    @property
    def variant_by_id(self) -> DataLoader:
        return self._get("variant_by_id", catalog.variant_by_id)

    @property
    def variants_by_product_id(self) -> DataLoader:
        return self._get("variants_by_product_id", catalog.variants_by_product_id)

    @property
    def tiers_by_variant_id(self) -> DataLoader:
        return self._get("tiers_by_variant_id", catalog.tiers_by_variant_id)

    @property
    def available_quantity_by_variant_id(self) -> DataLoader:
        return self._get(
            "available_quantity_by_variant_id", catalog.available_quantity_by_variant_id
        )

    @property
    def order_by_id(self) -> DataLoader:
        return self._get("order_by_id", orders.order_by_id)

    @property
    def lines_by_order_id(self) -> DataLoader:
        return self._get("lines_by_order_id", orders.lines_by_order_id)

    @property
    def events_by_order_id(self) -> DataLoader:
        return self._get("events_by_order_id", orders.events_by_order_id)

    @property
    def quote_request_by_id(self) -> DataLoader:
        return self._get("quote_request_by_id", quotes.quote_request_by_id)

    @property
    def lines_by_quote_request_id(self) -> DataLoader:
        return self._get("lines_by_quote_request_id", quotes.lines_by_quote_request_id)

    @property
    def quote_by_id(self) -> DataLoader:
        return self._get("quote_by_id", quotes.quote_by_id)

    @property
    def quotes_by_request_id(self) -> DataLoader:
        return self._get("quotes_by_request_id", quotes.quotes_by_request_id)

    @property
    def lines_by_quote_id(self) -> DataLoader:
        return self._get("lines_by_quote_id", quotes.lines_by_quote_id)

    @property
    def stock_levels_by_variant_id(self) -> DataLoader:
        return self._get("stock_levels_by_variant_id", catalog.stock_levels_by_variant_id)

    @property
    def latest_fx_table(self) -> DataLoader:
        return self._get("latest_fx_table", catalog.latest_fx_table)

    @property
    def price_list_by_id(self) -> DataLoader:
        return self._get("price_list_by_id", pricing.price_list_by_id)

    @property
    def entries_by_price_list_id(self) -> DataLoader:
        return self._get("entries_by_price_list_id", pricing.entries_by_price_list_id)

    def contract_breaks_by_variant_id(self, buyer_id: uuid.UUID) -> DataLoader:
        """The contract breaks valid today of one buyer company, keyed by variant id."""
        return self._get(
            f"contract_breaks_by_variant_id:{buyer_id}",
            lambda engine: pricing.contract_breaks_by_variant_id(engine, buyer_id),
        )
