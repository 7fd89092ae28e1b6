"""SQLAlchemy models, one module per domain; `Base.metadata` is what Alembic migrates."""

from db.models.base import Base
from db.models.catalog import (
    Category,
    FxRate,
    PriceTier,
    Product,
    ProductVariant,
    StockLevel,
    Warehouse,
)
from db.models.companies import Company, Membership, RefreshToken, User
from db.models.orders import (
    Cart,
    CartLine,
    Checkout,
    Order,
    OrderEvent,
    OrderLine,
    OutboxEvent,
    StockReservation,
)
from db.models.pricing import PriceList, PriceListEntry
from db.models.quotes import Quote, QuoteLine, QuoteRequest, QuoteRequestLine
from domain.catalog import ProductStatus
from domain.identity import MemberRole

__all__ = [
    "Base",
    "Cart",
    "CartLine",
    "Category",
    "Checkout",
    "Company",
    "FxRate",
    "MemberRole",
    "Membership",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OutboxEvent",
    "PriceList",
    "PriceListEntry",
    "PriceTier",
    "Product",
    "ProductStatus",
    "ProductVariant",
    "Quote",
    "QuoteLine",
    "QuoteRequest",
    "QuoteRequestLine",
    "RefreshToken",
    "StockLevel",
    "StockReservation",
    "User",
    "Warehouse",
]
