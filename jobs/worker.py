"""A worker: one connection to PostgreSQL for the queue (it LISTENs for new jobs and takes them),
the tasks registered on it, run until asked to stop. Run any number of them, on any machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
from pgqueuer import PgQueuer
from sqlalchemy.engine import make_url

from jobs.sweeps import register_sweeps
from resolvers.context import Services

log = logging.getLogger("jobs.worker")

# How long a stopping worker waits for its running jobs; a job cut short is picked again by
# another worker once its heartbeat is stale.
STOP_GRACE_SECONDS = 30
# pgqueuer's default: a running job's worker beats every 15 s.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


def queue_dsn(database_url: str) -> str:
    """The plain libpq URL asyncpg takes, from SQLAlchemy's postgresql+asyncpg:// one."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


Register = Callable[[PgQueuer, Services], None]


def register_tasks(queue: PgQueuer, services: Services) -> None:
    """Every task a worker runs."""
    register_sweeps(queue, services)


async def run_worker(
    services: Services,
    stop: asyncio.Event,
    *,
    register: Register = register_tasks,
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
) -> None:
    """Run jobs and periodic tasks until `stop` is set. The tasks' own queries go through
    `services` (its engine and sessions); the queue has a connection of its own. A job whose
    heartbeat is older than `heartbeat_timeout` (its worker died) is taken again."""
    assert services.settings.database_url is not None
    connection = await asyncpg.connect(
        queue_dsn(services.settings.database_url),
        server_settings={"application_name": "b2b-gateway-worker"},
    )
    try:
        queue = PgQueuer.from_asyncpg_connection(connection)
        register(queue, services)
        stopper = asyncio.create_task(_stop_when(stop, queue))
        try:
            log.info("worker started")
            await queue.run(heartbeat_timeout=heartbeat_timeout)
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
    finally:
        await connection.close()
    log.info("worker stopped")


async def _stop_when(stop: asyncio.Event, queue: PgQueuer) -> None:
    await stop.wait()
    queue.shutdown.set()


@asynccontextmanager
async def running_worker(services: Services) -> AsyncIterator[None]:
    """A worker inside the serving process for as long as the block runs."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(services, stop), name="job-worker")
    task.add_done_callback(_report_failure)
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning(
                "worker did not stop within %s s; its jobs will be retried", STOP_GRACE_SECONDS
            )
        except Exception:  # already reported by _report_failure when it ended
            log.debug("the in-process worker had failed", exc_info=True)


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("the in-process worker failed; no jobs run here", exc_info=error)
