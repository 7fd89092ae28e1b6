"""The GraphQL schema: Query and Mutation assembled from the domain modules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError, parse
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import Info
from strawberry.types.base import get_object_definition

from auth.viewer import Viewer
from dataloaders import Loaders
from resolvers.context import Context, Services
from resolvers.global_ids import from_global_id
from schema.cart import CartMutation, CartQuery
from schema.catalog import (
    CatalogMutation,
    CatalogQuery,
    Category,
    Product,
    ProductVariant,
    category_node,
    product_node,
    variant_node,
)
from schema.common import SCALAR_MAP, Node, resolve_attribute
from schema.companies import (
    Company,
    CompanyMutation,
    CompanyQuery,
    User,
    company_node,
    user_node,
)
from schema.inventory import InventoryMutation, InventoryQuery
from schema.orders import OrderMutation, OrderQuery, order_node
from schema.pricing import PricingMutation, PricingQuery, price_list_node
from schema.quotes import QuoteMutation, QuoteQuery, quote_node, quote_request_node
from schema.subscriptions import Subscription

# `node(id)` answers through the loader of the global ID's type, one per domain module.
NODE_LOADERS: dict[str, Callable[[Info[Context, None], Any], Any]] = {
    "Product": product_node,
    "ProductVariant": variant_node,
    "Category": category_node,
    "Company": company_node,
    "User": user_node,
    "Order": order_node,
    "PriceList": price_list_node,
    "QuoteRequest": quote_request_node,
    "Quote": quote_node,
}


@strawberry.type
class NodeQuery:
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


# Each domain module contributes its part of the root types.
Query = merge_types(
    "Query",
    (
        NodeQuery,
        CompanyQuery,
        CatalogQuery,
        CartQuery,
        InventoryQuery,
        OrderQuery,
        PricingQuery,
        QuoteQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        CompanyMutation,
        CatalogMutation,
        CartMutation,
        InventoryMutation,
        OrderMutation,
        PricingMutation,
        QuoteMutation,
    ),
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


def is_large_document(query: str) -> bool:
    """Whether a document is too large to parse on the event loop: it is parsed on
    LARGE_DOCUMENT_PARSER, never kept in a cache, and no response is cached for it."""
    return len(query) > PARSE_OFF_LOOP_ABOVE_CHARS


# One thread of its own: large documents queue behind each other, never in front of (or behind)
# the default executor's work such as password hashing (auth/passwords.py).
LARGE_DOCUMENT_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="large-document")


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

    A large document is parsed on LARGE_DOCUMENT_PARSER (the GIL still lets the loop run
    between bytecodes) and not cached: 1 000 entries of a megabyte each would be a gigabyte.
    Its syntax error is raised from here, since parsing it again on the loop would block it as
    if the thread had not been there: over HTTP as is (ErrorPolicy codes it), over WebSocket
    as the one kind of exception Strawberry's stream answers (an `error` message where a small
    document's syntax error closes the socket with 4400)."""

    # Strawberry runs a hook async or not as it is written; the base class's is not.
    async def on_parse(self) -> AsyncIterator[None]:  # type: ignore[override]
        context = self.execution_context
        query = context.query
        if query is not None and is_large_document(query):
            try:
                context.graphql_document = await asyncio.get_running_loop().run_in_executor(
                    LARGE_DOCUMENT_PARSER, partial(parse, query, **context.parse_options)
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


class _ValidationCache(ValidationCache):
    """A large document is validated without the cache: an entry keeps its document, and
    with it the whole text (its locations point into it)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is None or not is_large_document(context.query):
            yield from super().on_validate()
            return
        # Imported here as ValidationCache does: strawberry.schema imports the extensions.
        from strawberry.schema.schema import validate_document

        assert context.graphql_document is not None  # on_validate runs after a parse
        context.pre_execution_errors = validate_document(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        yield


# Entries of the parser and of the validation cache (small documents only).
DOCUMENT_CACHE_SIZE = 1000


def schema_extensions() -> list[Any]:
    """Parse and validation caches: validation dominates a small query's cost."""
    return [
        lambda: _ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: _ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ]


__all__ = [
    "DOCUMENT_CACHE_SIZE",
    "PARSE_OFF_LOOP_ABOVE_CHARS",
    "SCHEMA_TYPES",
    "Context",
    "Mutation",
    "Query",
    "Services",
    "Subscription",
    "is_large_document",
    "new_context",
    "schema_config",
    "schema_extensions",
]
