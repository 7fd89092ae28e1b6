"""A worker SIGKILLed mid-job: the job is taken again by another worker once the dead one's
heartbeat is stale, and its effect happens once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from jobs.worker import run_worker
from resolvers.job_queue import enqueue_job
from tests.jobs import crash_worker
from tests.jobs.test_worker import GUARD_SECONDS, eventually

ROOT = Path(__file__).resolve().parents[2]


async def scalar(services, sql: str, **params: object) -> object:
    async with services.engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def test_a_job_killed_mid_way_is_retried_and_its_effect_happens_once(services, database_url):
    async with services.engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE IF NOT EXISTS test_job_runs (job_id bigint NOT NULL)")
        )
        await connection.execute(
            text("CREATE TABLE IF NOT EXISTS test_job_effects (job_id bigint PRIMARY KEY)")
        )
    async with services.sessions() as session, session.begin():
        job_id = await enqueue_job(session, crash_worker.ENTRYPOINT, {})

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.jobs.crash_worker",
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "", "ENVIRONMENT": "test"},
    )
    try:

        async def first_run_applied() -> bool:
            runs = "SELECT count(*) FROM test_job_runs WHERE job_id = :id"
            return await scalar(services, runs, id=job_id) == 1

        await eventually(first_run_applied)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), GUARD_SECONDS)
    assert await scalar(
        services, "SELECT status::text FROM pgqueuer WHERE id = :id", id=job_id
    ) == ("picked")

    # Another worker takes the job once the dead worker's heartbeat is older than 2 s.
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            services,
            stop,
            register=crash_worker.register,
            heartbeat_timeout=timedelta(seconds=2),
        )
    )
    try:

        async def finished() -> bool:
            done = "SELECT count(*) FROM pgqueuer_log WHERE job_id = :id AND status = 'successful'"
            return await scalar(services, done, id=job_id) == 1

        await eventually(finished)
    finally:
        stop.set()
        await asyncio.wait_for(worker, GUARD_SECONDS)

    runs = "SELECT count(*) FROM test_job_runs WHERE job_id = :id"
    assert await scalar(services, runs, id=job_id) == 2
    effects = "SELECT count(*) FROM test_job_effects WHERE job_id = :id"
    assert await scalar(services, effects, id=job_id) == 1
