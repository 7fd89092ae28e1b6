"""Queued jobs: enqueued with the business transaction (gone with its rollback), run by a
worker, retried with backoff and kept as `failed` (dead letter) once retries are exhausted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from pgqueuer import PgQueuer
from pgqueuer.models import Job
from sqlalchemy import text

from jobs.retries import RetryWithBackoff
from jobs.worker import Register, run_worker
from resolvers.context import Services
from resolvers.job_queue import enqueue_job
from tests.jobs.test_worker import GUARD_SECONDS, eventually


@asynccontextmanager
async def worker(services: Services, register: Register) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(services, stop, register=register))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, GUARD_SECONDS)


async def status_of(services: Services, job_id: int) -> str | None:
    async with services.engine.connect() as connection:
        status = await connection.scalar(
            text("SELECT status::text FROM pgqueuer WHERE id = :id"), {"id": job_id}
        )
    return None if status is None else str(status)


async def test_a_job_exists_only_if_its_transaction_commits(services):
    entrypoint = f"test_commit_{uuid.uuid4().hex[:8]}"
    ran: list[bytes | None] = []

    def register(queue: PgQueuer, _services: Services) -> None:
        @queue.entrypoint(entrypoint)
        async def record(job: Job) -> None:
            ran.append(job.payload)

    async with services.sessions() as session, session.begin():
        dropped = await enqueue_job(session, entrypoint, {"n": 1})
        await session.rollback()
    async with services.sessions() as session, session.begin():
        await enqueue_job(session, entrypoint, {"n": 2})

    assert await status_of(services, dropped) is None
    async with worker(services, register):

        async def done() -> bool:
            return bool(ran)

        await eventually(done)
    assert ran == [b'{"n":2}']


async def test_a_failing_job_is_retried_then_kept_as_failed(services):
    entrypoint = f"test_failing_{uuid.uuid4().hex[:8]}"
    attempts: list[int] = []

    def register(queue: PgQueuer, _services: Services) -> None:
        @queue.entrypoint(
            entrypoint,
            on_failure="hold",
            executor_factory=partial(
                RetryWithBackoff, max_attempts=3, first_delay=timedelta(milliseconds=50)
            ),
        )
        async def fail(job: Job) -> None:
            attempts.append(job.attempts)
            raise RuntimeError("the receiver is down")

    async with services.sessions() as session, session.begin():
        job_id = await enqueue_job(session, entrypoint, {})

    async with worker(services, register):

        async def dead() -> bool:
            return await status_of(services, job_id) == "failed"

        await eventually(dead)
    assert attempts == [0, 1, 2]
