"""Outbox retention: published events older than OUTBOX_RETENTION_DAYS are deleted (a periodic
job runs it: jobs/sweeps.py). A subscription resuming from before what is kept is refused with
the oldest eventId it can resume from (resolvers/subscriptions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from realtime.outbox import prune_published
from resolvers.context import Services


async def prune_outbox(services: Services, *, now: datetime | None = None) -> int:
    """Delete the events published more than the retention period ago; how many went."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=services.settings.outbox_retention_days)
    return await prune_published(services.engine, cutoff)
