"""Handing work to the job queue (pgqueuer, run by jobs/) inside a business transaction: the job
row is written on the transaction's own connection, so it exists exactly when the change that
caused it commits; a process killed right after the commit loses no job."""

from __future__ import annotations

from typing import Any

import orjson
from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
from pgqueuer.queries import Queries
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def enqueue_job(
    session: AsyncSession,
    entrypoint: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> int:
    """Queue a job for `entrypoint` in the session's transaction; its id."""
    connection = await session.connection()
    # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it runs itself: run
    # one, or a job enqueued first would be written outside the transaction, and kept if it
    # rolls back.
    await connection.execute(text("SELECT 1"))
    raw = await connection.get_raw_connection()
    queries = Queries(AsyncpgDriver(raw.driver_connection))
    ids = await queries.enqueue(entrypoint, orjson.dumps(payload), dedupe_key=dedupe_key)
    return int(ids[0])
