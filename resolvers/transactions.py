"""Write transactions that a lock conflict turns into a CONFLICT userError, not a server error."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DBAPIError

from domain.problems import Problem, ProblemCode
from resolvers.outcome import Outcome

# deadlock_detected, serialization_failure, lock_not_available (lock_timeout ran out).
LOCK_CONFLICT_STATES = frozenset({"40P01", "40001", "55P03"})
BUSY_MESSAGE = "busy, try again"


def is_lock_conflict(error: DBAPIError) -> bool:
    """A deadlock, serialization failure or lock timeout: the same write may well pass again."""
    orig = error.orig
    # SQLAlchemy's asyncpg adapter copies the SQLSTATE; the asyncpg error is its __cause__.
    cause = orig.__cause__ if orig is not None else None
    state = getattr(orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
    return state in LOCK_CONFLICT_STATES


async def run_write(
    write: Callable[[], Awaitable[Outcome]], path: tuple[str, ...] = ("input",)
) -> Outcome:
    """Run `write` (one whole transaction of its own); after a lock conflict run it once more,
    and if that conflicts too, answer CONFLICT at `path`. PostgreSQL has rolled the loser back,
    so nothing of it is written."""
    try:
        return await write()
    except DBAPIError as error:
        if not is_lock_conflict(error):
            raise
    # A short random pause, so two losers of one deadlock do not meet again at once.
    await asyncio.sleep(random.uniform(0.01, 0.05))  # noqa: S311 (jitter, not a secret)
    try:
        return await write()
    except DBAPIError as error:
        if not is_lock_conflict(error):
            raise
    return Outcome(problems=[Problem(path, BUSY_MESSAGE, ProblemCode.CONFLICT)])
