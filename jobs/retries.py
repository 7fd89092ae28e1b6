"""Retries for queued jobs: exponential backoff with full jitter, then a dead letter.

A job that raises is queued again after a random delay up to first_delay * 2^attempt (capped),
so jobs failing together do not come back together; after `max_attempts` runs it stays in the
queue's table with status `failed` (registered with on_failure="hold") for a manual retry.
A task must be idempotent: a worker killed mid-job leaves it to be run again."""

from __future__ import annotations

import dataclasses
import logging
import random
from datetime import timedelta

from pgqueuer.errors import RetryRequested
from pgqueuer.executors import EntrypointExecutor
from pgqueuer.models import Context, Job

log = logging.getLogger("jobs.retries")


def backoff(attempt: int, first_delay: timedelta, max_delay: timedelta) -> timedelta:
    """The delay before retry number `attempt` + 1 (full jitter)."""
    ceiling = min(first_delay * (2**attempt), max_delay)
    return ceiling * random.random()  # noqa: S311 (spreading retries, not a secret)


@dataclasses.dataclass
class RetryWithBackoff(EntrypointExecutor):
    max_attempts: int = 10
    first_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)

    async def execute(self, job: Job, context: Context) -> None:
        try:
            await super().execute(job, context)
        except RetryRequested:
            raise
        except Exception as error:
            if job.attempts + 1 >= self.max_attempts:
                log.warning(
                    "job %s (%s) failed %d times, kept as failed: %s",
                    job.id,
                    job.entrypoint,
                    job.attempts + 1,
                    error,
                )
                raise
            delay = backoff(job.attempts, self.first_delay, self.max_delay)
            raise RetryRequested(delay=delay, reason=str(error)) from error
