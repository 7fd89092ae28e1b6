"""The GraphQL schema: Query and Mutation assembled from the domain modules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import Info
from strawberry.types.base import get_object_definition

from auth.permissions import company_admin, seller
from auth.viewer import Viewer
from dataloaders import Loaders
from domain.catalog import ProductStatus as ProductStatusValue
from resolvers import catalog as catalog_resolvers
from resolvers import companies as company_resolvers
from resolvers import identity as identity_resolvers
from resolvers.catalog import Keep, ProductPrefetch, ProductSpec, TierSpec, VariantSpec
from resolvers.context import Context, Services
from resolvers.errors import BadUserInputError
from resolvers.global_ids import from_global_id, key_of
from resolvers.outcome import Outcome
from resolvers.pagination import page_request
from resolvers.product_listing import ProductOrder, ProductQuery
from schema.cart import CartMutation, CartQuery
from schema.catalog import (
    Category,
    CreateProductInput,
    Product,
    ProductFilter,
    ProductPayload,
    ProductSort,
    ProductVariant,
    ProductVariantPayload,
    UpdateProductInput,
    VariantInput,
    category_tree,
    products_from_graph,
)
from schema.common import (
    SCALAR_MAP,
    Connection,
    CurrencyCode,
    Node,
    connection_of,
    resolve_attribute,
    user_errors,
)
from schema.companies import (
    AuthPayload,
    Company,
    CompanyPayload,
    LogoutPayload,
    RegisterInput,
    UpdateCompanyInput,
    User,
)
from schema.inventory import InventoryMutation, InventoryQuery
from schema.orders import OrderMutation, OrderQuery, order_node
from schema.pricing import PricingMutation, PricingQuery, price_list_node
from schema.quotes import QuoteMutation, QuoteQuery, quote_node, quote_request_node
from schema.selection import any_argument, descend, selects
from schema.subscriptions import Subscription


def _node_loaders() -> dict[str, Callable[[Info[Context, None], Any], Any]]:
    async def product(info: Info[Context, None], key: Any) -> Product | None:
        row = await catalog_resolvers.product_by_id(info.context, key)
        return Product.from_row(row, info.context) if row else None

    async def variant(info: Info[Context, None], key: Any) -> ProductVariant | None:
        row = await catalog_resolvers.variant_by_id(info.context, key)
        return ProductVariant.from_row(row, info.context) if row else None

    async def category(info: Info[Context, None], key: Any) -> Category | None:
        row = await info.context.loaders.category_by_id.load(key)
        return Category.from_row(row) if row else None

    async def company(info: Info[Context, None], key: Any) -> Company | None:
        row = await info.context.loaders.company_by_id.load(key)
        return Company.from_row(row) if row else None

    async def user(info: Info[Context, None], key: Any) -> User | None:
        # A user is visible to themselves and to the members of their company only.
        membership = await info.context.loaders.membership_by_user_id.load(key)
        viewer = info.context.viewer
        if viewer.user_id != key and (
            membership is None or membership.company_id != viewer.company_id
        ):
            return None
        return await _user(info, key)

    return {
        "Product": product,
        "ProductVariant": variant,
        "Category": category,
        "Company": company,
        "User": user,
        "Order": order_node,
        "PriceList": price_list_node,
        "QuoteRequest": quote_request_node,
        "Quote": quote_node,
    }


NODE_LOADERS = _node_loaders()


async def _user(info: Info[Context, None], user_id: Any) -> User | None:
    loaders = info.context.loaders
    user = await loaders.user_by_id.load(user_id)
    if user is None:
        return None
    membership = await loaders.membership_by_user_id.load(user_id)
    company = await loaders.company_by_id.load(membership.company_id) if membership else None
    return User.from_rows(user, company, membership.role if membership else None)


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
class CoreQuery:
    @strawberry.field(
        description="Any object by its global ID; null when it does not exist "
        "or the viewer may not see it."
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        decoded = from_global_id(id)
        if decoded is None:
            return None
        load = NODE_LOADERS.get(decoded[0])
        return await load(info, decoded[1]) if load else None

    @strawberry.field(description="The signed-in user; null when anonymous.")
    async def me(self, info: Info[Context, None]) -> User | None:
        viewer = info.context.viewer
        return await _user(info, viewer.user_id) if viewer.user_id else None

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
        sort_by: ProductSort | None = None,
        currency: CurrencyCode | None = None,
    ) -> Connection[Product]:
        query = _product_query(filter)
        order = (
            ProductOrder(sort_by.value)
            if sort_by
            else (ProductOrder.RELEVANCE if query.text else ProductOrder.NEWEST)
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
        graph = await catalog_resolvers.prefetch_products(
            ctx, result.rows, _product_prefetch(info, currency)
        )
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


async def _auth_payload(
    info: Info[Context, None], session: identity_resolvers.Session
) -> AuthPayload:
    return AuthPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        user=await _user(info, session.user_id) if session.user_id else None,
        user_errors=user_errors(session.problems),
    )


async def _product_payload(info: Info[Context, None], outcome: Outcome) -> ProductPayload:
    product = None
    if outcome.key is not None:
        row = await catalog_resolvers.product_by_id(info.context, outcome.key)
        product = Product.from_row(row, info.context) if row else None
    return ProductPayload(product=product, user_errors=user_errors(outcome.problems))


@strawberry.type
class CoreMutation:
    @strawberry.mutation(
        description="Open an account: a new user, owner of a new company. Registrations from "
        "one address are limited per hour (THROTTLED)."
    )
    async def register(self, info: Info[Context, None], input: RegisterInput) -> AuthPayload:
        data = identity_resolvers.Registration(
            email=input.email,
            password=input.password,
            name=input.name,
            company_name=input.company_name,
            country=input.country,
            default_currency=input.default_currency,
            is_seller=input.is_seller,
            is_buyer=input.is_buyer,
        )
        return await _auth_payload(info, await identity_resolvers.register(info.context, data))

    @strawberry.mutation(
        description="Sign in. Too many attempts for one email within the window are refused "
        "(THROTTLED) before any password check; a successful sign-in clears the count."
    )
    async def login(self, info: Info[Context, None], email: str, password: str) -> AuthPayload:
        return await _auth_payload(
            info, await identity_resolvers.login(info.context, email, password)
        )

    @strawberry.mutation(
        description="Trade a refresh token for new tokens. It rotates: the old one dies, and "
        "presenting it again signs out every session of that login."
    )
    async def refresh_token(self, info: Info[Context, None], refresh_token: str) -> AuthPayload:
        return await _auth_payload(
            info, await identity_resolvers.refresh(info.context, refresh_token)
        )

    @strawberry.mutation(description="Sign out: the refresh token and its family stop working.")
    async def logout(self, info: Info[Context, None], refresh_token: str) -> LogoutPayload:
        problems = await identity_resolvers.logout(info.context, refresh_token)
        return LogoutPayload(success=not problems, user_errors=user_errors(problems))

    @strawberry.mutation(
        description="Rename your company or change its default currency (admins and owners).",
        extensions=company_admin(),
    )
    async def update_company(
        self, info: Info[Context, None], input: UpdateCompanyInput
    ) -> CompanyPayload:
        changes = company_resolvers.CompanyChanges(
            name=input.name, default_currency=input.default_currency
        )
        outcome = await company_resolvers.update_company(info.context, changes)
        company = None
        if outcome.key is not None:
            row = await info.context.loaders.company_by_id.load(outcome.key)
            company = Company.from_row(row) if row else None
        return CompanyPayload(company=company, user_errors=user_errors(outcome.problems))

    @strawberry.mutation(description="List a new product (sellers).", extensions=seller())
    async def create_product(
        self, info: Info[Context, None], input: CreateProductInput
    ) -> ProductPayload:
        outcome = await catalog_resolvers.create_product(info.context, _product_spec(input))
        return await _product_payload(info, outcome)

    @strawberry.mutation(description="Change one of your products (sellers).", extensions=seller())
    async def update_product(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateProductInput
    ) -> ProductPayload:
        outcome = await catalog_resolvers.update_product(info.context, id, _product_spec(input))
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
        outcome = await catalog_resolvers.set_stock(
            info.context, variant_id, quantity, warehouse_id
        )
        variant = None
        if outcome.key is not None:
            row = await catalog_resolvers.variant_by_id(info.context, outcome.key)
            variant = ProductVariant.from_row(row, info.context) if row else None
        return ProductVariantPayload(variant=variant, user_errors=user_errors(outcome.problems))


# Each domain module contributes its part of the root types.
Query = merge_types(
    "Query", (CoreQuery, CartQuery, InventoryQuery, OrderQuery, PricingQuery, QuoteQuery)
)
Mutation = merge_types(
    "Mutation",
    (CoreMutation, CartMutation, InventoryMutation, OrderMutation, PricingMutation, QuoteMutation),
)
# merge_types takes no description: set it on the merged definitions.
get_object_definition(Query, strict=True).description = (
    "Read the marketplace: the catalog, and (signed in) your company's cart, orders, "
    "warehouses, price lists and requests for quotation."
)
get_object_definition(Mutation, strict=True).description = (
    "Change things. Mistakes in the input come back in each payload's `userErrors`, not as "
    "GraphQL errors."
)

# Types reachable only through the Node interface still belong in the schema.
SCHEMA_TYPES: Sequence[type] = (Product, ProductVariant, Category, Company, User)


def new_context(
    services: Services,
    viewer: Viewer,
    request_id: str,
    request: Any = None,
    *,
    is_websocket: bool = False,
) -> Context:
    """The context of one request (or one WebSocket connection), with fresh loaders."""
    return Context(
        services=services,
        viewer=viewer,
        loaders=Loaders(services.engine),
        request_id=request_id,
        request=request,
        is_websocket=is_websocket,
    )


def schema_config() -> StrawberryConfig:
    return StrawberryConfig(scalar_map=SCALAR_MAP, default_resolver=resolve_attribute)


# Lexing is a Python loop per character: a document near MAX_BODY_BYTES (a long comment or
# string literal) takes most of a second, which must not hold the event loop. Real documents
# are far smaller (MAX_TOKENS bounds them); larger ones are parsed on a worker thread.
PARSE_OFF_LOOP_ABOVE_CHARS = 50_000


class _UnparsableDocumentError(MissingQueryError):
    """A large document's syntax error, over WebSocket: Strawberry's stream lets only these
    pre-execution exceptions become an answer (the message is the parser's)."""

    def __init__(self, error: GraphQLError) -> None:
        Exception.__init__(self, error.message)

    def __str__(self) -> str:
        return str(self.args[0])


class _ParserCache(ParserCache):
    """ParserCache raises a syntax error from `on_parse`, outside Strawberry's own parse error
    handling: over HTTP the error skips ErrorPolicy (no code), over WebSocket the operation
    dies with a bare `complete`. A bad small document is left unparsed instead, so Strawberry
    parses it again itself and answers with the error like any other pre-execution error.

    A large document is parsed on a thread (the GIL still lets the loop run between
    bytecodes). Its syntax error is raised from here, since parsing it again on the loop would
    block it as if the thread had not been there: over HTTP as is (ErrorPolicy codes it), over
    WebSocket as the one kind of exception Strawberry's stream answers (an `error` message
    where a small document's syntax error closes the socket with 4400)."""

    # Strawberry runs a hook async or not as it is written; the base class's is not.
    async def on_parse(self) -> AsyncIterator[None]:  # type: ignore[override]
        context = self.execution_context
        query = context.query
        if query is not None and len(query) > PARSE_OFF_LOOP_ABOVE_CHARS:
            try:
                context.graphql_document = await asyncio.to_thread(
                    self.cached_parse_document, query, **context.parse_options
                )
            except GraphQLError as error:
                if getattr(context.context, "is_websocket", False):
                    raise _UnparsableDocumentError(error) from None
                raise
        else:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self.cached_parse_document(
                    query, **context.parse_options
                )
        yield


def schema_extensions() -> list[Any]:
    """Parse and validation caches: validation dominates a small query's cost."""
    return [lambda: _ParserCache(maxsize=1000), lambda: ValidationCache(maxsize=1000)]


__all__ = [
    "SCHEMA_TYPES",
    "Context",
    "Mutation",
    "Query",
    "Services",
    "Subscription",
    "new_context",
    "schema_config",
    "schema_extensions",
]
