"""The outbox relay: numbers committed events and publishes them to the broker, in order.

One relay runs in every gateway process; a PostgreSQL advisory lock lets one of them work at a
time, so event numbers (`seq`, the eventId clients see) follow commit order and every event is
published after all lower-numbered ones. That is what makes replay safe: a subscriber that
receives event N live knows every event below N is already readable in the table.

A step: under the lock, number the committed events not numbered yet (in insert order, which
is causal order for any one order or quote: each change waits for the previous one's row lock),
commit, publish the numbered-but-unsent events in `seq` order to their channels, mark them sent.
A process killed between commit and publish, or a broker that is down, leaves events unsent:
the next step of any relay sends them first. Steps run when a local transaction commits events
(`wake`) and on a sweep timer (events committed by a process that died before publishing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Protocol

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from realtime.outbox import company_channel

log = logging.getLogger("gateway.relay")

# pg_advisory_lock key: "outbox relay" (any constant shared by every process of one database).
RELAY_LOCK = 7_310_447_200_016
BATCH = 500

_NUMBER = text(
    """
    WITH base AS (SELECT coalesce(max(seq), 0) AS top FROM outbox_events),
    todo AS (
        SELECT id, row_number() OVER (ORDER BY id) AS position
        FROM (SELECT id FROM outbox_events WHERE seq IS NULL ORDER BY id LIMIT :limit) pending
    )
    UPDATE outbox_events AS e SET seq = base.top + todo.position
    FROM todo, base
    WHERE e.id = todo.id
    """
)
_UNSENT = text(
    """
    SELECT seq, channel, stream, kind, buyer_id, seller_id, payload
    FROM outbox_events
    WHERE seq IS NOT NULL AND published_at IS NULL
    ORDER BY seq
    LIMIT :limit
    """
)
_MARK_SENT = text(
    "UPDATE outbox_events SET published_at = now() WHERE seq = ANY(:seqs) AND published_at IS NULL"
)


class Publisher(Protocol):
    async def publish(self, channel: str, message: Any) -> None: ...


def wire_message(row: Any) -> str:
    """What subscribers receive: the event's number and stream, its parties and payload."""
    return orjson.dumps(
        {
            "seq": row.seq,
            "stream": row.stream,
            "kind": row.kind,
            "buyerId": str(row.buyer_id),
            "sellerId": str(row.seller_id),
            "payload": row.payload,
        }
    ).decode()


def channels_of(row: Any) -> tuple[str, ...]:
    """The object's own channel, and each party's channel for the stream."""
    return (
        row.channel,
        company_channel(row.buyer_id, row.stream),
        company_channel(row.seller_id, row.stream),
    )


def _raise_if_cancelled() -> None:
    """Honour a cancellation still requested. Once a cancel() is lost on the way (swallowed in a
    driver's clean-up while relaying, or landing as a timeout expires), Python 3.11's
    asyncio.timeout turns every later sweep's expiry into the TimeoutError suppressed above: the
    relay ran on forever and stop() waited for it (an app shutdown hung)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class OutboxRelay:
    def __init__(
        self, engine: AsyncEngine, broker: Publisher, *, sweep_seconds: float = 1.0
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._sweep_seconds = sweep_seconds
        self._wanted = asyncio.Event()
        self._broker_back = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A local transaction committed events: relay them now rather than at the next sweep."""
        self._wanted.set()

    def broker_reconnected(self) -> None:
        """The broker is back: end a failure's backoff now, so live events resume at once."""
        self._broker_back.set()
        self._wanted.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_seconds):
                    await self._wanted.wait()
            _raise_if_cancelled()
            self._wanted.clear()
            try:
                await self.relay_pending()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # The broker or the database is away: back off (cut short when the broker is
                # back), the events stay unsent. The traceback only for the first failure.
                failures += 1
                pause = min(0.05 * 2**failures, 5.0) * random.uniform(0.5, 1.0)  # noqa: S311
                log.warning(
                    "outbox relay step failed (%s); retrying in %.2fs",
                    error,
                    pause,
                    exc_info=failures == 1,
                )
                self._broker_back.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._broker_back.wait()
                _raise_if_cancelled()
                self._wanted.set()

    async def relay_pending(self) -> int:
        """Number and publish everything pending; returns how many events were published."""
        sent = 0
        async with self._engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": RELAY_LOCK})
            try:
                while True:
                    numbered = await self._number(connection)
                    published = await self._publish_unsent(connection)
                    sent += published
                    if numbered < BATCH and published < BATCH:
                        return sent
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": RELAY_LOCK}
                )

    async def _number(self, connection: AsyncConnection) -> int:
        result = await connection.execute(_NUMBER, {"limit": BATCH})
        return int(getattr(result, "rowcount", 0) or 0)

    async def _publish_unsent(self, connection: AsyncConnection) -> int:
        rows = (await connection.execute(_UNSENT, {"limit": BATCH})).all()
        sent: list[int] = []
        try:
            for row in rows:
                message = wire_message(row)
                for channel in channels_of(row):
                    await self._broker.publish(channel, message)
                sent.append(row.seq)
        finally:
            # What went out is marked even when the broker failed half-way, so it is not sent
            # twice; the rest stays unsent, in order, for the next step.
            if sent:
                await connection.execute(_MARK_SENT, {"seqs": sent})
        return len(sent)
