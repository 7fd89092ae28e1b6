"""SQLAlchemy models, one module per domain; `Base.metadata` is what Alembic migrates."""

from db.models.base import Base
from db.models.catalog import (
    Category,
    FxRate,
    PriceTier,
    Product,
    ProductStatus,
    ProductVariant,
    StockLevel,
    Warehouse,
)
from db.models.companies import Company, Membership, RefreshToken, User
from domain.identity import MemberRole

__all__ = [
    "Base",
    "Category",
    "Company",
    "FxRate",
    "MemberRole",
    "Membership",
    "PriceTier",
    "Product",
    "ProductStatus",
    "ProductVariant",
    "RefreshToken",
    "StockLevel",
    "User",
    "Warehouse",
]
