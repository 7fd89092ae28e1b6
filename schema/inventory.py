"""Sellers' warehouses and per-warehouse stock."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.types import Info

from auth.permissions import seller
from resolvers import warehouses as warehouse_resolvers
from resolvers.context import Context
from resolvers.global_ids import to_global_id
from schema.common import CountryCode, UserError, user_errors


@strawberry.type(description="A place a seller keeps stock. setStock without one uses the default.")
class Warehouse:
    id: strawberry.ID = strawberry.field(description="Pass it to setStock(warehouseId:).")
    name: str = strawberry.field(description="The seller's name for it (1-120 characters).")
    country: CountryCode = strawberry.field(description="Where the warehouse is.")
    is_default: bool = strawberry.field(
        description="True for the company's default warehouse (exactly one)."
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> Warehouse:
        return cls(
            id=strawberry.ID(to_global_id("Warehouse", row.id)),
            name=row.name,
            country=row.country,
            is_default=row.is_default,
        )


@strawberry.type(description="Stock of a variant in one warehouse (seen by its seller only).")
class StockLevel:
    warehouse_id: strawberry.ID = strawberry.field(description="The Warehouse's ID.")
    warehouse_name: str = strawberry.field(description="The warehouse's name.")
    on_hand: int = strawberry.field(
        description="Units physically in this warehouse, reserved ones included."
    )
    reserved: int = strawberry.field(description="Held for open orders.")
    available: int = strawberry.field(description="on hand minus reserved.")

    @classmethod
    def from_row(cls, row: Row[Any]) -> StockLevel:
        return cls(
            warehouse_id=strawberry.ID(to_global_id("Warehouse", row.warehouse_id)),
            warehouse_name=row.warehouse_name,
            on_hand=row.on_hand,
            reserved=row.reserved,
            available=row.on_hand - row.reserved,
        )


@strawberry.input(description="A new warehouse.")
class CreateWarehouseInput:
    name: str = strawberry.field(description="1-120 characters.")
    country: CountryCode = strawberry.field(description="Where the warehouse is.")
    is_default: bool = strawberry.field(
        default=False, description="Make it the default (the previous default stops being one)."
    )


@strawberry.type(description="The result of creating a warehouse.")
class WarehousePayload:
    warehouse: Warehouse | None = strawberry.field(
        description="The new warehouse; null when it was not created."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.type
class InventoryQuery:
    @strawberry.field(
        description="Your company's warehouses, the default first (at most 50; sellers).",
        extensions=seller(),
    )
    async def warehouses(self, info: Info[Context, None]) -> list[Warehouse]:
        rows = await warehouse_resolvers.own_warehouses(info.context)
        return [Warehouse.from_row(row) for row in rows]


@strawberry.type
class InventoryMutation:
    @strawberry.mutation(
        description="Add a warehouse (at most 50 a company; sellers).", extensions=seller()
    )
    async def create_warehouse(
        self, info: Info[Context, None], input: CreateWarehouseInput
    ) -> WarehousePayload:
        outcome = await warehouse_resolvers.create_warehouse(
            info.context, input.name, input.country, input.is_default
        )
        warehouse = None
        if outcome.key is not None:
            rows = await warehouse_resolvers.own_warehouses(info.context)
            warehouse = next(
                (Warehouse.from_row(row) for row in rows if row.id == outcome.key), None
            )
        return WarehousePayload(warehouse=warehouse, user_errors=user_errors(outcome.problems))
