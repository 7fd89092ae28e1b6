"""The job worker (jobs/) against the real database: periodic tasks run on their schedule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jobs.worker import run_worker
from resolvers.context import Services
from tests.api import test_quotes
from tests.api.test_quotes import quote_events, quoted, read, set_valid_until

market = test_quotes.market  # the fixture: two companies trading, with products

# Generous: the machine is shared and busy; the outcome, not the time, is what is asserted.
GUARD_SECONDS = 60


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(GUARD_SECONDS):
        while True:
            if await check():
                return
            await asyncio.sleep(0.2)


@asynccontextmanager
async def worker(services: Services, **settings: object) -> AsyncIterator[None]:
    stop = asyncio.Event()
    configured = replace(services, settings=services.settings.model_copy(update=settings))
    task = asyncio.create_task(run_worker(configured, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, GUARD_SECONDS)


async def test_the_worker_expires_due_quotes_on_its_schedule(client, services, market):
    due_request, due_quote = await quoted(client, market)
    live_request, _ = await quoted(client, market)
    await set_valid_until(services, due_quote, datetime.now(UTC) - timedelta(seconds=1))

    async with worker(services, quote_expiry_schedule="* * * * * *"):  # every second

        async def expired() -> bool:
            return (await quote_events(services, due_request))[-1] == "EXPIRED"

        await eventually(expired)

    due = await read(client, market.buyer, due_request)
    live = await read(client, market.buyer, live_request)
    assert due is not None and live is not None
    assert (due["status"], [q["status"] for q in due["quotes"]]) == ("EXPIRED", ["EXPIRED"])
    assert (live["status"], [q["status"] for q in live["quotes"]]) == ("QUOTED", ["PENDING"])
    assert await quote_events(services, due_request) == ["REQUESTED", "QUOTED", "EXPIRED"]
