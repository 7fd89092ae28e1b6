"""Periodic tasks: each runs once per tick of its cron schedule across every worker (pgqueuer
takes the schedule's row before running it, so two workers never run the same tick)."""

from __future__ import annotations

import logging

from pgqueuer import PgQueuer
from pgqueuer.models import Schedule

from resolvers.context import Services
from resolvers.outbox_retention import prune_outbox
from resolvers.quote_expiry import expire_due_quotes

log = logging.getLogger("jobs.sweeps")

EXPIRE_QUOTES = "expire_quotes"
PRUNE_OUTBOX = "prune_outbox"
# Hourly, off the top of the hour (when other installations' cron jobs crowd in).
PRUNE_OUTBOX_SCHEDULE = "17 * * * *"


def register_sweeps(queue: PgQueuer, services: Services) -> None:
    @queue.schedule(EXPIRE_QUOTES, services.settings.quote_expiry_schedule)
    async def expire_quotes(schedule: Schedule) -> None:
        # A failed round is logged by pgqueuer and the next tick tries again.
        count = await expire_due_quotes(services)
        if count:
            log.info("expired %d quotes", count)

    @queue.schedule(PRUNE_OUTBOX, PRUNE_OUTBOX_SCHEDULE)
    async def prune_outbox_events(schedule: Schedule) -> None:
        count = await prune_outbox(services)
        if count:
            log.info("deleted %d outbox events past retention", count)
