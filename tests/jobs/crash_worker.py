"""A worker process for tests/jobs/test_worker_crash.py: it runs `test_crash` jobs, whose first
run writes its effect, says so, and hangs until the test SIGKILLs the process."""

from __future__ import annotations

import asyncio

from pgqueuer import PgQueuer
from pgqueuer.models import Job
from sqlalchemy import text

from jobs.worker import run_worker
from resolvers.context import Services
from server import build_services
from settings import get_settings

ENTRYPOINT = "test_crash"


async def apply_effect(services: Services, job: Job) -> None:
    """The job's effect, idempotent: keyed by the job, written once however often it runs."""
    async with services.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO test_job_runs (job_id) VALUES (:id)"), {"id": job.id}
        )
        await connection.execute(
            text("INSERT INTO test_job_effects (job_id) VALUES (:id) ON CONFLICT DO NOTHING"),
            {"id": job.id},
        )
        runs = await connection.scalar(
            text("SELECT count(*) FROM test_job_runs WHERE job_id = :id"), {"id": job.id}
        )
    if runs == 1:
        await asyncio.Event().wait()  # the first run never ends: the test kills us here


def register(queue: PgQueuer, services: Services) -> None:
    @queue.entrypoint(ENTRYPOINT)
    async def crash(job: Job) -> None:
        await apply_effect(services, job)


async def main() -> None:
    services = build_services(get_settings(), null_pool=True)
    await run_worker(services, asyncio.Event(), register=register)


if __name__ == "__main__":
    asyncio.run(main())
