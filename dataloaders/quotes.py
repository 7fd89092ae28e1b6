"""Quote requests, their lines, their quotes (oldest first) and the quotes' lines."""

from __future__ import annotations

from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dataloaders.batching import CompiledRead, any_of_keys, many_per_key, one_per_key
from db.models import Quote, QuoteLine, QuoteRequest, QuoteRequestLine

QUOTE_REQUEST_COLUMNS = (
    QuoteRequest.id,
    QuoteRequest.buyer_id,
    QuoteRequest.seller_id,
    QuoteRequest.requested_by_id,
    QuoteRequest.status,
    QuoteRequest.currency,
    QuoteRequest.note,
    QuoteRequest.needed_by,
    QuoteRequest.close_reason,
    QuoteRequest.order_id,
    QuoteRequest.created_at,
    QuoteRequest.updated_at,
)
QUOTE_COLUMNS = (
    Quote.id,
    Quote.request_id,
    Quote.version,
    Quote.status,
    Quote.proposed_by,
    Quote.created_by_id,
    Quote.currency,
    Quote.total_minor,
    Quote.valid_until,
    Quote.note,
    Quote.created_at,
    Quote.updated_at,
)

QUOTE_REQUEST_BY_ID = CompiledRead(
    select(*QUOTE_REQUEST_COLUMNS).where(any_of_keys(QuoteRequest.id))
)
LINES_BY_QUOTE_REQUEST_ID = CompiledRead(
    select(
        QuoteRequestLine.request_id,
        QuoteRequestLine.variant_id,
        QuoteRequestLine.quantity,
        QuoteRequestLine.target_unit_price_minor,
    )
    .where(any_of_keys(QuoteRequestLine.request_id))
    .order_by(QuoteRequestLine.request_id, QuoteRequestLine.position)
)
QUOTE_BY_ID = CompiledRead(select(*QUOTE_COLUMNS).where(any_of_keys(Quote.id)))
QUOTES_BY_REQUEST_ID = CompiledRead(
    select(*QUOTE_COLUMNS)
    .where(any_of_keys(Quote.request_id))
    .order_by(Quote.request_id, Quote.version)
)
LINES_BY_QUOTE_ID = CompiledRead(
    select(
        QuoteLine.quote_id,
        QuoteLine.variant_id,
        QuoteLine.quantity,
        QuoteLine.unit_price_minor,
        QuoteLine.line_total_minor,
    )
    .where(any_of_keys(QuoteLine.quote_id))
    .order_by(QuoteLine.quote_id, QuoteLine.position)
)


def quote_request_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, QUOTE_REQUEST_BY_ID, "id")


def lines_by_quote_request_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, LINES_BY_QUOTE_REQUEST_ID, "request_id")


def quote_by_id(engine: AsyncEngine) -> DataLoader:
    return one_per_key(engine, QUOTE_BY_ID, "id")


def quotes_by_request_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, QUOTES_BY_REQUEST_ID, "request_id")


def lines_by_quote_id(engine: AsyncEngine) -> DataLoader:
    return many_per_key(engine, LINES_BY_QUOTE_ID, "quote_id")
