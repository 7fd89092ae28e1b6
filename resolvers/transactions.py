"""The one write path: every mutation's transaction runs through `write_transaction`.

It owns the session and the transaction, and with them
- refusals: `Refused(problems)` raised anywhere inside rolls everything back, and the problems
  become the payload's userErrors;
- lock conflicts (a deadlock, a serialization failure, a `lock_timeout` that ran out): the whole
  transaction runs once more, and if it conflicts again the answer is a CONFLICT userError, not
  a server error (PostgreSQL rolled the loser back, so nothing of it is written);
- after-commit hooks registered during the transaction (`tx.changed(events=..., catalog=...)`,
  `tx.after_commit(hook)`): publishing the outbox events it wrote, dropping cached catalog
  answers, fresh loaders. They run after a successful commit only, in the order registered, and
  never after a rollback (a retried attempt starts with none). They run once the retry is
  over, so a failing hook never re-runs a committed write; the write has happened, so a hook
  that raises is logged, the others still run, and the mutation answers with its result.

A write that returns normally commits, problems or not: a mutation may record something (a due
quote expired) and still answer with a userError.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.problems import Problem, ProblemCode
from resolvers.outcome import Outcome

if TYPE_CHECKING:
    from resolvers.context import Context, Services

log = logging.getLogger(__name__)

T = TypeVar("T")
AfterCommit = Callable[[], Awaitable[None] | None]

# deadlock_detected, serialization_failure, lock_not_available (lock_timeout ran out).
LOCK_CONFLICT_STATES = frozenset({"40P01", "40001", "55P03"})
BUSY_MESSAGE = "busy, try again"


class Refused(Exception):
    """Raised inside a write transaction: roll it all back and answer with these problems."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("refused")
        self.problems = list(problems)


class WriteTransaction:
    """One attempt at a mutation's transaction: its session, and what to do once it commits."""

    def __init__(
        self, session: AsyncSession, services: Services, forget_reads: Callable[[], None] | None
    ) -> None:
        self.session = session
        self._services = services
        self._forget_reads = forget_reads
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, hook: AfterCommit) -> None:
        """Run `hook` (sync or async) once this transaction has committed; a hook registered
        twice runs once."""
        if hook not in self._after_commit:
            self._after_commit.append(hook)

    def changed(self, *, events: bool = False, catalog: bool = False) -> None:
        """This transaction changed data. After its commit: with `events` (it wrote outbox
        rows) the relay publishes them now; the request's loaders start afresh (a payload
        shows the object as committed); with `catalog` (it changed what the public catalog
        shows: products, variants, tiers, stock, prices, rates, sellers) cached catalog answers
        are dropped on every replica."""
        if events:
            self.after_commit(self._services.on_events_committed)
        if self._forget_reads is not None:
            self.after_commit(self._forget_reads)
        if catalog:
            self.after_commit(self._services.on_catalog_changed)

    async def _committed(self) -> None:
        # The write is committed whatever a hook does: a hook's failure is logged, not
        # answered (a client told "error" would repeat a write that happened).
        for hook in self._after_commit:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("after-commit hook %r failed; the write stays committed", hook)


def is_lock_conflict(error: DBAPIError) -> bool:
    """A deadlock, serialization failure or lock timeout: the same write may well pass again."""
    orig = error.orig
    # SQLAlchemy's asyncpg adapter copies the SQLSTATE; the asyncpg error is its __cause__.
    cause = orig.__cause__ if orig is not None else None
    state = getattr(orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
    return state in LOCK_CONFLICT_STATES


async def retry_lock_conflict(
    attempt: Callable[[], Awaitable[T]], conflict_at: tuple[str, ...] = ("input",)
) -> T:
    """Run `attempt` (one whole transaction); after a lock conflict run it once more, and if
    that conflicts too, raise Refused with CONFLICT at `conflict_at`."""
    try:
        return await attempt()
    except DBAPIError as error:
        if not is_lock_conflict(error):
            raise
    # A short random pause, so two losers of one deadlock do not meet again at once.
    await asyncio.sleep(random.uniform(0.01, 0.05))  # noqa: S311 (jitter, not a secret)
    try:
        return await attempt()
    except DBAPIError as error:
        if not is_lock_conflict(error):
            raise
    raise Refused([Problem(conflict_at, BUSY_MESSAGE, ProblemCode.CONFLICT)])


async def run_transaction(
    services: Services,
    write: Callable[[WriteTransaction], Awaitable[T]],
    *,
    conflict_at: tuple[str, ...] = ("input",),
    forget_reads: Callable[[], None] | None = None,
) -> T:
    """Run `write` in a transaction of its own (see the module's docstring); raises Refused
    when it was refused or lost a lock conflict twice, with nothing written."""

    async def attempt() -> tuple[T, WriteTransaction]:
        async with services.sessions() as session:
            tx = WriteTransaction(session, services, forget_reads)
            async with session.begin():
                result = await write(tx)
        return result, tx

    # Hooks run outside the retry: nothing they raise may run the committed write again.
    result, committed = await retry_lock_conflict(attempt, conflict_at)
    await committed._committed()
    return result


async def write_transaction(
    ctx: Context,
    write: Callable[[WriteTransaction], Awaitable[T]],
    *,
    conflict_at: tuple[str, ...] = ("input",),
) -> T:
    """A mutation's transaction (see the module's docstring); raises Refused."""
    return await run_transaction(
        ctx.services, write, conflict_at=conflict_at, forget_reads=ctx.forget_reads
    )


async def write_outcome(
    ctx: Context,
    write: Callable[[WriteTransaction], Awaitable[Outcome]],
    *,
    conflict_at: tuple[str, ...] = ("input",),
) -> Outcome:
    """A mutation's transaction whose refusal is its Outcome's problems."""
    try:
        return await write_transaction(ctx, write, conflict_at=conflict_at)
    except Refused as refused:
        return Outcome(problems=refused.problems)
