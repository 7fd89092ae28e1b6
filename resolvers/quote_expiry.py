"""Expiring quotes: every PENDING quote past its `valid_until` becomes EXPIRED, and so does its
request, with an EXPIRED event each. A periodic job runs it (jobs/sweeps.py).

Several replicas may run the task at once: each batch locks its quotes and their requests with
FOR UPDATE SKIP LOCKED, so replicas take different rows and never wait for a mutation holding a
request (that mutation meets the due quote itself and expires it: see resolvers/quotes.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from db.models import Quote, QuoteRequest
from domain.quotes import QuoteStatus
from resolvers.context import Services
from resolvers.quotes import expire_quote
from resolvers.transactions import WriteTransaction, run_transaction

EXPIRY_BATCH_SIZE = 200


async def expire_due_quotes(services: Services, *, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """Expire every quote due now, one transaction per batch; how many were expired."""
    expired = 0

    async def expire_batch(tx: WriteTransaction) -> int:
        session = tx.session
        now = datetime.now(UTC)
        due = (
            await session.execute(
                select(
                    Quote.id.label("quote_id"),
                    QuoteRequest.id,
                    QuoteRequest.status,
                    QuoteRequest.buyer_id,
                    QuoteRequest.seller_id,
                )
                .join(QuoteRequest, QuoteRequest.id == Quote.request_id)
                .where(Quote.status == QuoteStatus.PENDING, Quote.valid_until <= now)
                .order_by(Quote.valid_until)
                .limit(batch_size)
                # Both rows: the re-check after a concurrent commit then sees both as they are.
                .with_for_update(of=(Quote, QuoteRequest), skip_locked=True)
            )
        ).all()
        for row in due:
            await expire_quote(session, row, row.quote_id, now)
        if due:
            tx.changed(events=True)
        return len(due)

    while True:
        count = await run_transaction(services, expire_batch)
        expired += count
        if count < batch_size:
            return expired
