"""Catalog types (categories, products, variants, volume price tiers), seller inputs, and the
catalog's root fields (`categories`, `products`, `product`, product and stock mutations).

Relations (seller, category, variants, tiers, stock) are attached by the list's look-ahead when
it loaded them, and fall back to the per-request loaders on every other path (node, product,
mutation payloads). Either way no relation costs a statement per object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.types import Info

from auth.permissions import seller
from domain.catalog import ProductStatus as ProductStatusValue
from domain.money import FxTable
from domain.money import Money as MoneyValue
from domain.pricing import Tier, buyer_unit_price
from resolvers import catalog as catalog_resolvers
from resolvers import pricing as pricing_resolvers
from resolvers import product_writes
from resolvers import warehouses as warehouse_resolvers
from resolvers.catalog import price_in
from resolvers.context import Context
from resolvers.errors import BadUserInputError
from resolvers.global_ids import key_of, to_global_id
from resolvers.outcome import Outcome
from resolvers.pagination import page_request
from resolvers.product_listing import ProductOrder, ProductQuery
from resolvers.product_prefetch import ProductGraph, ProductPrefetch, prefetch_products
from resolvers.product_validation import Keep, ProductSpec, TierSpec, VariantSpec
from schema.common import (
    Connection,
    CurrencyCode,
    Deferred,
    Money,
    Node,
    UserError,
    connection_of,
    user_errors,
)
from schema.companies import Company
from schema.inventory import StockLevel
from schema.selection import any_argument, descend, selects

ProductStatus = strawberry.enum(
    ProductStatusValue,
    name="ProductStatus",
    description="DRAFT is seen only by its seller; ACTIVE is listed; ARCHIVED is no longer sold.",
)


ProductSort = strawberry.enum(
    ProductOrder, name="ProductSort", description="How `products` is ordered."
)


@strawberry.type(description="A node of the category tree.")
class Category(Node):
    name: str = strawberry.field(description="The display name.")
    slug: str = strawberry.field(description='URL-safe and unique, e.g. "office-supplies".')
    row: strawberry.Private[Row[Any]]
    attached_children: strawberry.Private[list[Category] | None] = None
    attached_parent: strawberry.Private[Category | None] = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Category:
        return cls(
            id=strawberry.ID(to_global_id("Category", row.id)),
            name=row.name,
            slug=row.slug,
            row=row,
        )

    @strawberry.field(description="The parent category; null for a root.")
    async def parent(self, info: Info[Context, None]) -> Category | None:
        if self.attached_parent is not None or self.row.parent_id is None:
            return self.attached_parent
        row = await info.context.loaders.category_by_id.load(self.row.parent_id)
        return Category.from_row(row) if row else None

    @strawberry.field(description="Sub-categories, in display order.")
    async def children(self, info: Info[Context, None]) -> list[Category]:
        if self.attached_children is not None:
            return self.attached_children
        rows = await info.context.loaders.categories_by_parent_id.load(self.row.id)
        return [Category.from_row(row) for row in rows]


def category_tree(rows: list[Row[Any]]) -> list[Category]:
    """The roots, with every level attached (the rows are the whole tree)."""
    nodes = {row.id: Category.from_row(row) for row in rows}
    roots = []
    for node in nodes.values():
        node.attached_children = []
    for row in rows:
        node = nodes[row.id]
        parent = nodes.get(row.parent_id) if row.parent_id else None
        if parent is None:
            roots.append(node)
        else:
            node.attached_parent = parent
            assert parent.attached_children is not None
            parent.attached_children.append(node)
    return roots


@strawberry.type(description="A volume price break: from `minQuantity` units on, each costs this.")
class PriceTier:
    min_quantity: int = strawberry.field(
        description="The tier applies from this many units on (per order line)."
    )
    unit_price: Money = strawberry.field(
        description="Per unit, in the seller's currency unless `currency` was asked for."
    )


@strawberry.type(description="The lowest and highest unit price of a product.")
class PriceRange:
    min: Money = strawberry.field(
        description="The lowest unit price (list prices, not contract prices)."
    )
    max: Money = strawberry.field(
        description="The highest unit price (list prices, not contract prices)."
    )


def _tiers(rows: list[Row[Any]]) -> list[Tier]:
    return [Tier(row.min_quantity, MoneyValue(row.unit_price_minor, row.currency)) for row in rows]


@strawberry.type(description="A buyable version of a product (size, pack, colour) with its SKU.")
class ProductVariant(Node):
    sku: str = strawberry.field(
        description="The seller's stock-keeping unit: unique within the seller "
        "(case-insensitive), 1-64 characters."
    )
    name: str = strawberry.field(
        description='What tells this variant apart, e.g. "500 ml, pack of 12".'
    )
    minimum_order_quantity: int = strawberry.field(
        description="The smallest quantity that can be ordered."
    )
    order_increment: int = strawberry.field(
        description="Quantities above the minimum go up in steps of this size."
    )
    maximum_order_quantity: int | None = strawberry.field(
        description="At most this many can be ordered in one line; null: no cap."
    )
    currency: CurrencyCode = strawberry.field(
        description="The currency the seller prices this variant in."
    )
    product: Product | Deferred[Product] = strawberry.field(
        # Product is defined below: refer to it lazily.
        graphql_type=Annotated["Product", strawberry.lazy("schema.catalog")],
        description="The product this variant belongs to.",
    )
    available_quantity: int | Deferred[int] = strawberry.field(
        graphql_type=int,
        description="Units that can be ordered now: on hand minus reserved, all warehouses.",
    )
    row: strawberry.Private[Row[Any]]
    attached_tiers: strawberry.Private[list[Tier] | None] = None
    # The viewer company's contract breaks valid today ([]: none); None until loaded.
    attached_contract: strawberry.Private[list[Tier] | None] = None
    fx: strawberry.Private[FxTable | None] = None
    display_currency: strawberry.Private[str | None] = None

    @classmethod
    def from_row(
        cls,
        row: Row[Any],
        ctx: Context,
        *,
        product: Product | None = None,
        tiers: list[Tier] | None = None,
        contract: list[Tier] | None = None,
        available: int | None = None,
        fx: FxTable | None = None,
        display_currency: str | None = None,
    ) -> ProductVariant:
        async def load_product() -> Product:
            return Product.from_row(await ctx.loaders.product_by_id.load(row.product_id), ctx)

        if contract is None and pricing_resolvers.contract_buyer(ctx) is None:
            contract = []  # a viewer without contracts: nothing to load

        return cls(
            id=strawberry.ID(to_global_id("ProductVariant", row.id)),
            sku=row.sku,
            name=row.name,
            minimum_order_quantity=row.minimum_order_quantity,
            order_increment=row.order_increment,
            maximum_order_quantity=row.maximum_order_quantity,
            currency=row.currency,
            product=product if product is not None else Deferred(load_product),
            available_quantity=available
            if available is not None
            else Deferred(lambda: ctx.loaders.available_quantity_by_variant_id.load(row.id)),
            row=row,
            attached_tiers=tiers,
            attached_contract=contract,
            fx=fx,
            display_currency=display_currency,
        )

    @strawberry.field(
        description="Stock per warehouse; only the seller sees it (null for everyone else)."
    )
    async def stock_levels(self, info: Info[Context, None]) -> list[StockLevel] | None:
        rows = await warehouse_resolvers.stock_levels(info.context, self.row.id)
        return None if rows is None else [StockLevel.from_row(row) for row in rows]

    async def _load_pricing(
        self, info: Info[Context, None], currency: str | None, contract: bool = False
    ) -> None:
        async def load_tiers() -> None:
            rows = await info.context.loaders.tiers_by_variant_id.load(self.row.id)
            self.attached_tiers = _tiers(rows)

        async def load_contract() -> None:
            (breaks,) = await pricing_resolvers.contract_breaks_of(info.context, [self.row.id])
            self.attached_contract = breaks

        jobs = []
        if self.attached_tiers is None:
            jobs.append(load_tiers())
        if contract and self.attached_contract is None:
            jobs.append(load_contract())
        await asyncio.gather(*jobs)
        if currency is not None and currency != self.currency and self.fx is None:
            self.fx = await catalog_resolvers.fx_table(info.context)

    def _ready(self, currency: str | None) -> bool:
        return self.attached_tiers is not None and (
            currency is None or currency == self.currency or self.fx is not None
        )

    def _tier_list(self, currency: str | None) -> list[PriceTier]:
        assert self.attached_tiers is not None
        return [
            PriceTier(
                min_quantity=tier.min_quantity,
                unit_price=Money.of(price_in(tier.unit_price, currency, self.fx)),
            )
            for tier in self.attached_tiers
        ]

    @strawberry.field(
        description="Volume price breaks, ascending by minQuantity; the first has minQuantity = "
        "minimumOrderQuantity. Converted into `currency` when given.",
        graphql_type=list[PriceTier],
    )
    def price_tiers(
        self,
        info: Info[Context, None],
        currency: CurrencyCode | None = None,
    ) -> list[PriceTier] | Awaitable[list[PriceTier]]:
        shown_in = currency or self.display_currency
        if self._ready(shown_in):  # prefetched: answer without a round trip to the loop
            return self._tier_list(shown_in)

        async def load() -> list[PriceTier]:
            await self._load_pricing(info, shown_in)
            return self._tier_list(shown_in)

        return load()

    @strawberry.field(
        description="The unit price this viewer pays for this quantity: contract price list "
        "first, then tiers. Below the minimum order quantity the first tier is quoted.",
        graphql_type=Money,
    )
    def unit_price(
        self,
        info: Info[Context, None],
        quantity: int,
        currency: CurrencyCode | None = None,
    ) -> Money | Awaitable[Money]:
        if quantity < 1:
            raise BadUserInputError("`quantity` must be at least 1", argument="quantity")
        shown_in = currency or self.display_currency

        def answer() -> Money:
            assert self.attached_tiers is not None and self.attached_contract is not None
            price = buyer_unit_price(self.attached_tiers, self.attached_contract, quantity)
            return Money.of(price_in(price, shown_in, self.fx))

        if self._ready(shown_in) and self.attached_contract is not None:
            return answer()

        async def load() -> Money:
            await self._load_pricing(info, shown_in, contract=True)
            return answer()

        return load()


@strawberry.type(description="Something a seller lists, sold through one or more variants.")
class Product(Node):
    name: str = strawberry.field(description="The display name (at most 200 characters).")
    slug: str = strawberry.field(
        description="URL-safe and unique; pass it to product(slug:). Made from the name when the "
        "product is created."
    )
    description: str = strawberry.field(
        description="Plain text, at most 20,000 characters; may be empty."
    )
    status: ProductStatus = strawberry.field(  # type: ignore[valid-type]
        description="DRAFT, ACTIVE or ARCHIVED; only the seller sees its DRAFT and ARCHIVED "
        "products."
    )
    created_at: datetime = strawberry.field(
        description="When the product was created (ISO 8601, UTC)."
    )
    updated_at: datetime = strawberry.field(
        description="When the product last changed (ISO 8601, UTC)."
    )
    seller: Company | Deferred[Company] = strawberry.field(
        graphql_type=Company, description="The company selling this product."
    )
    category: Category | Deferred[Category] = strawberry.field(
        graphql_type=Category, description="The category the product is listed in."
    )
    variants: list[ProductVariant] | Deferred[list[ProductVariant]] = strawberry.field(
        graphql_type=list[ProductVariant], description="The variants, in the seller's order."
    )
    row: strawberry.Private[Row[Any]]
    fx: strawberry.Private[FxTable | None] = None
    display_currency: strawberry.Private[str | None] = None

    @classmethod
    def from_row(
        cls,
        row: Row[Any],
        ctx: Context,
        *,
        seller: Company | None = None,
        category: Category | None = None,
        fx: FxTable | None = None,
        display_currency: str | None = None,
    ) -> Product:
        """The product with the relations given attached; the others load when selected.
        Variants are attached afterwards (they point back at the product)."""

        async def load_seller() -> Company:
            return Company.from_row(await ctx.loaders.company_by_id.load(row.seller_id))

        async def load_category() -> Category:
            return Category.from_row(await ctx.loaders.category_by_id.load(row.category_id))

        product = cls(
            id=strawberry.ID(to_global_id("Product", row.id)),
            name=row.name,
            slug=row.slug,
            description=row.description,
            status=ProductStatusValue(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            seller=seller if seller is not None else Deferred(load_seller),
            category=category if category is not None else Deferred(load_category),
            variants=[],
            row=row,
            fx=fx,
            display_currency=display_currency,
        )

        async def load_variants() -> list[ProductVariant]:
            rows = await ctx.loaders.variants_by_product_id.load(row.id)
            return [
                ProductVariant.from_row(
                    variant, ctx, product=product, display_currency=display_currency
                )
                for variant in rows
            ]

        product.variants = Deferred(load_variants)
        return product

    @strawberry.field(
        description="Lowest and highest unit price over all variants and tiers, in `currency` "
        "when given (else the seller's).",
        graphql_type=PriceRange,
    )
    def price_range(
        self,
        info: Info[Context, None],
        currency: CurrencyCode | None = None,
    ) -> PriceRange | Awaitable[PriceRange]:
        shown_in = currency or self.display_currency
        low = MoneyValue(self.row.price_min_minor, self.row.price_currency)
        high = MoneyValue(self.row.price_max_minor, self.row.price_currency)

        def answer(fx: FxTable | None) -> PriceRange:
            return PriceRange(
                min=Money.of(price_in(low, shown_in, fx)),
                max=Money.of(price_in(high, shown_in, fx)),
            )

        if shown_in is None or shown_in == low.currency or self.fx is not None:
            return answer(self.fx)

        async def load() -> PriceRange:
            return answer(await catalog_resolvers.fx_table(info.context))

        return load()


def products_from_graph(
    rows: list[Row[Any]], graph: ProductGraph, ctx: Context, display_currency: str | None
) -> list[Product]:
    """Products with every prefetched level attached; one object per seller and category."""
    sellers = {key: Company.from_row(row) for key, row in graph.sellers.items() if row}
    categories = {key: Category.from_row(row) for key, row in graph.categories.items() if row}
    products = []
    for row in rows:
        product = Product.from_row(
            row,
            ctx,
            seller=sellers.get(row.seller_id),
            category=categories.get(row.category_id),
            fx=graph.fx,
            display_currency=display_currency,
        )
        variant_rows = graph.variants.get(row.id)
        if variant_rows is not None:
            product.variants = [
                ProductVariant.from_row(
                    variant,
                    ctx,
                    product=product,
                    tiers=None if graph.tiers is None else _tiers(graph.tiers[variant.id]),
                    contract=None
                    if graph.contracts is None
                    else pricing_resolvers.breaks_of_rows(graph.contracts[variant.id]),
                    available=None if graph.available is None else graph.available[variant.id],
                    fx=graph.fx,
                    display_currency=display_currency,
                )
                for variant in variant_rows
            ]
        products.append(product)
    return products


@strawberry.input(description="Narrows `products`. All conditions must hold.")
class ProductFilter:
    query: str | None = strawberry.field(
        default=None,
        description="Full-text search over name, description and SKU (at most 200 characters); "
        "tolerates typos in names where the server supports it.",
    )
    category_id: strawberry.ID | None = strawberry.field(
        default=None, description="This category and all its descendants."
    )
    seller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this seller's products (a Company ID)."
    )
    min_price: Decimal | None = strawberry.field(
        default=None, description="Lowest unit price at least this, in the requested currency."
    )
    max_price: Decimal | None = strawberry.field(
        default=None, description="Lowest unit price at most this, in the requested currency."
    )
    in_stock: bool | None = strawberry.field(
        default=None, description="true: some variant has units available; false: none has."
    )
    status: ProductStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="Default ACTIVE. DRAFT or ARCHIVED list only the viewer's own products.",
    )


@strawberry.input(description="A volume price break of a variant.")
class PriceTierInput:
    min_quantity: int = strawberry.field(
        description="The tier applies from this many units on; ascending, the first equal to the "
        "minimum order quantity."
    )
    unit_price: Decimal = strawberry.field(
        description="Per unit, in the variant's currency, with at most its decimals."
    )


@strawberry.input(description="A variant of a product, identified by its SKU within the seller.")
class VariantInput:
    sku: str = strawberry.field(
        description="1-64 letters, digits and . _ / -, starting with a letter or digit; unique "
        "within your products (case-insensitive)."
    )
    name: str = strawberry.field(description="1-200 characters.")
    currency: CurrencyCode = strawberry.field(
        description="The currency this variant's tiers are priced in."
    )
    minimum_order_quantity: int | None = strawberry.field(default=None, description="Default 1.")
    order_increment: int | None = strawberry.field(default=None, description="Default 1.")
    maximum_order_quantity: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="At most this many per order line; null for no cap; left out: unchanged "
        "(no cap for a new variant).",
    )
    price_tiers: list[PriceTierInput] = strawberry.field(
        description="At least one, at most 20; the first starts at the minimum order quantity."
    )
    stock: int | None = strawberry.field(
        default=None, description="Units on hand in the seller's default warehouse."
    )


@strawberry.input(description="A new product. At most 100 variants.")
class CreateProductInput:
    name: str = strawberry.field(description="1-200 characters.")
    description: str = strawberry.field(
        description="Plain text, at most 20,000 characters; may be empty."
    )
    category_id: strawberry.ID = strawberry.field(description="The Category to list it in.")
    status: ProductStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Default DRAFT: only you see it until it is ACTIVE."
    )
    variants: list[VariantInput] = strawberry.field(description="1-100 variants, SKUs distinct.")


@strawberry.input(description="Changes to a product; what is left out stays as it is.")
class UpdateProductInput:
    name: str | None = strawberry.field(
        default=None, description="1-200 characters; null or left out: unchanged. The slug stays."
    )
    description: str | None = strawberry.field(
        default=None, description="At most 20,000 characters; null or left out: unchanged."
    )
    category_id: strawberry.ID | None = strawberry.field(
        default=None, description="Move it to this Category; null or left out: unchanged."
    )
    status: ProductStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="Publish (ACTIVE), hide (DRAFT) or retire (ARCHIVED); null or left out: "
        "unchanged.",
    )
    variants: list[VariantInput] | None = strawberry.field(
        default=None,
        description="Upserted by SKU: a known SKU is updated (its tiers replaced), a new SKU "
        "added; variants not listed stay. At most 100.",
    )


@strawberry.type(description="The result of creating or updating a product.")
class ProductPayload:
    product: Product | None = strawberry.field(
        description="The product as it is now; null when nothing was saved."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


@strawberry.type(description="The result of changing a variant (e.g. its stock).")
class ProductVariantPayload:
    variant: ProductVariant | None = strawberry.field(
        description="The variant as it is now; null when nothing was saved."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What was wrong with the input; empty when the mutation succeeded."
    )


# --- root fields: the catalog, and sellers' product and stock mutations -----------------------


async def product_node(info: Info[Context, None], key: Any) -> Product | None:
    row = await catalog_resolvers.product_by_id(info.context, key)
    return Product.from_row(row, info.context) if row else None


async def variant_node(info: Info[Context, None], key: Any) -> ProductVariant | None:
    row = await catalog_resolvers.variant_by_id(info.context, key)
    return ProductVariant.from_row(row, info.context) if row else None


async def category_node(info: Info[Context, None], key: Any) -> Category | None:
    row = await info.context.loaders.category_by_id.load(key)
    return Category.from_row(row) if row else None


def _product_prefetch(info: Info[Context, None], currency: str | None) -> ProductPrefetch:
    node = descend(info.selected_fields[0].selections, "edges", "node")
    variants = descend(node, "variants")
    return ProductPrefetch(
        seller=selects(node, "seller"),
        category=selects(node, "category"),
        variants=selects(node, "variants"),
        tiers=selects(variants, "priceTiers") or selects(variants, "unitPrice"),
        stock=selects(variants, "availableQuantity"),
        contracts=selects(variants, "unitPrice"),
        fx=currency is not None or any_argument(node, "currency"),
    )


def _product_query(filter: ProductFilter | None) -> ProductQuery:
    if filter is None:
        return ProductQuery()

    def key(global_id: strawberry.ID | None, type_name: str, name: str) -> Any:
        if global_id is None:
            return None
        found = key_of(global_id, type_name)
        if found is None:
            raise BadUserInputError(f"`filter.{name}` is not a {type_name} ID", argument=name)
        return found

    return ProductQuery(
        text=filter.query.strip() or None if filter.query is not None else None,
        category_id=key(filter.category_id, "Category", "categoryId"),
        seller_id=key(filter.seller_id, "Company", "sellerId"),
        min_price=filter.min_price,
        max_price=filter.max_price,
        in_stock=filter.in_stock,
        status=ProductStatusValue(filter.status) if filter.status else ProductStatusValue.ACTIVE,
    )


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="The root categories; their children nest below.")
    async def categories(self, info: Info[Context, None]) -> list[Category]:
        return category_tree(list(await catalog_resolvers.all_categories(info.context)))

    @strawberry.field(
        description="The catalog: active products (or the viewer's own drafts), filtered and "
        "sorted, one page at a time. `first`/`last` at most 100 (default 20). With `currency`, "
        "prices below are shown in it unless a field asks for another."
    )
    async def products(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ProductFilter | None = None,
        sort_by: ProductSort | None = None,  # type: ignore[valid-type]
        currency: CurrencyCode | None = None,
    ) -> Connection[Product]:
        query = _product_query(filter)
        order: ProductOrder = sort_by or (
            ProductOrder.RELEVANCE if query.text else ProductOrder.NEWEST
        )
        page = page_request(
            first=first,
            after=after,
            last=last,
            before=before,
            sort=catalog_resolvers.listing_sort_name(query, order, currency),
        )
        ctx = info.context
        result = await catalog_resolvers.list_products(ctx, query, order, currency, page)
        graph = await prefetch_products(ctx, result.rows, _product_prefetch(info, currency))
        products = products_from_graph(list(result.rows), graph, ctx, currency)
        return connection_of(
            result, products, lambda: catalog_resolvers.count_products(ctx, result)
        )

    @strawberry.field(description="One product by global ID or by slug (give exactly one).")
    async def product(
        self, info: Info[Context, None], id: strawberry.ID | None = None, slug: str | None = None
    ) -> Product | None:
        if (id is None) == (slug is None):
            raise BadUserInputError("pass exactly one of `id` and `slug`")
        if id is not None:
            key = key_of(id, "Product")
            row = await catalog_resolvers.product_by_id(info.context, key) if key else None
        else:
            row = await catalog_resolvers.product_by_slug(info.context, slug or "")
        return Product.from_row(row, info.context) if row else None


def _variant_spec(variant: VariantInput) -> VariantSpec:
    return VariantSpec(
        sku=variant.sku.strip(),
        name=variant.name,
        currency=variant.currency,
        minimum_order_quantity=variant.minimum_order_quantity,
        order_increment=variant.order_increment,
        maximum_order_quantity=Keep.KEEP
        if variant.maximum_order_quantity is strawberry.UNSET
        else variant.maximum_order_quantity,
        price_tiers=[TierSpec(t.min_quantity, t.unit_price) for t in variant.price_tiers],
        stock=variant.stock,
    )


def _product_spec(data: CreateProductInput | UpdateProductInput) -> ProductSpec:
    variants = data.variants
    return ProductSpec(
        name=data.name,
        description=data.description,
        category_id=data.category_id,
        status=ProductStatusValue(data.status) if data.status else None,
        variants=[_variant_spec(v) for v in variants] if variants is not None else None,
    )


async def _product_payload(info: Info[Context, None], outcome: Outcome) -> ProductPayload:
    product = None
    if outcome.key is not None:
        row = await catalog_resolvers.product_by_id(info.context, outcome.key)
        product = Product.from_row(row, info.context) if row else None
    return ProductPayload(product=product, user_errors=user_errors(outcome.problems))


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="List a new product (sellers).", extensions=seller())
    async def create_product(
        self, info: Info[Context, None], input: CreateProductInput
    ) -> ProductPayload:
        outcome = await product_writes.create_product(info.context, _product_spec(input))
        return await _product_payload(info, outcome)

    @strawberry.mutation(description="Change one of your products (sellers).", extensions=seller())
    async def update_product(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateProductInput
    ) -> ProductPayload:
        outcome = await product_writes.update_product(info.context, id, _product_spec(input))
        return await _product_payload(info, outcome)

    @strawberry.mutation(
        description="Set the units on hand of one of your variants, in the given warehouse or "
        "your default one (sellers). Cannot go below what open orders have reserved.",
        extensions=seller(),
    )
    async def set_stock(
        self,
        info: Info[Context, None],
        variant_id: strawberry.ID,
        quantity: int,
        warehouse_id: strawberry.ID | None = None,
    ) -> ProductVariantPayload:
        outcome = await product_writes.set_stock(info.context, variant_id, quantity, warehouse_id)
        variant = None
        if outcome.key is not None:
            row = await catalog_resolvers.variant_by_id(info.context, outcome.key)
            variant = ProductVariant.from_row(row, info.context) if row else None
        return ProductVariantPayload(variant=variant, user_errors=user_errors(outcome.problems))
