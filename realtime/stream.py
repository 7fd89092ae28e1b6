"""Following a stream of events: the events after `since` replayed from the outbox table, then
live ones from the broker, with no gap and no duplicate.

The subscriber joins the broker channel first and reads the table second, so every event is in
one or the other (the relay publishes only events already committed and numbered, in number
order); events at or below the last one delivered are dropped. When the broker connection was
lost and re-established (a resync), or the subscriber fell behind, the table fills the gap.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import OutboxEvent
from realtime.broadcast import EventBroadcast, Resync
from realtime.outbox import company_channel

REPLAY_PAGE = 100


@dataclass(frozen=True, slots=True)
class StreamEvent:
    seq: int
    stream: str
    kind: str
    buyer_id: uuid.UUID
    seller_id: uuid.UUID
    payload: dict[str, Any]

    def concerns(self, company_id: uuid.UUID | None) -> bool:
        return company_id is not None and company_id in (self.buyer_id, self.seller_id)


@dataclass(frozen=True, slots=True)
class Scope:
    """What one subscription follows: one object's channel, or a company's whole stream."""

    stream: str
    channel: str | None = None
    company_id: uuid.UUID | None = None

    @property
    def broker_channel(self) -> str:
        if self.channel is not None:
            return self.channel
        assert self.company_id is not None
        return company_channel(self.company_id, self.stream)

    def where(self) -> Any:
        if self.channel is not None:
            return OutboxEvent.channel == self.channel
        return (OutboxEvent.stream == self.stream) & or_(
            OutboxEvent.buyer_id == self.company_id, OutboxEvent.seller_id == self.company_id
        )


async def latest_seq(engine: AsyncEngine) -> int:
    """The number of the newest event published or about to be (0 when there is none)."""
    async with engine.connect() as connection:
        top = await connection.scalar(select(func.max(OutboxEvent.seq)))
    return int(top or 0)


async def kept_range(engine: AsyncEngine) -> tuple[int, int]:
    """The oldest `since` a replay can start from (the number before the oldest event kept:
    outbox retention deletes old events) and the newest eventId; (0, 0) when there is none."""
    async with engine.connect() as connection:
        oldest, newest = (
            await connection.execute(select(func.min(OutboxEvent.seq), func.max(OutboxEvent.seq)))
        ).one()
    return (int(oldest) - 1 if oldest is not None else 0), int(newest or 0)


def _event(row: Any) -> StreamEvent:
    return StreamEvent(row.seq, row.stream, row.kind, row.buyer_id, row.seller_id, row.payload)


def parse_wire_message(message: str) -> StreamEvent:
    data = orjson.loads(message)
    return StreamEvent(
        seq=int(data["seq"]),
        stream=data["stream"],
        kind=data["kind"],
        buyer_id=uuid.UUID(data["buyerId"]),
        seller_id=uuid.UUID(data["sellerId"]),
        payload=data["payload"],
    )


async def replay(engine: AsyncEngine, scope: Scope, after: int) -> AsyncIterator[StreamEvent]:
    """The scope's numbered events after `after`, oldest first, a page at a time."""
    while True:
        statement = (
            select(
                OutboxEvent.seq,
                OutboxEvent.stream,
                OutboxEvent.kind,
                OutboxEvent.buyer_id,
                OutboxEvent.seller_id,
                OutboxEvent.payload,
            )
            .where(scope.where(), OutboxEvent.seq > after)
            .order_by(OutboxEvent.seq)
            .limit(REPLAY_PAGE)
        )
        async with engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        for row in rows:
            yield _event(row)
            after = row.seq
        if len(rows) < REPLAY_PAGE:
            return


async def follow(
    broadcast: EventBroadcast, engine: AsyncEngine, scope: Scope, since: int | None
) -> AsyncIterator[StreamEvent]:
    """Events of `scope` after `since` (or from now on when None), each exactly once, in order.

    Raises the broadcast's SubscriberTooSlow when the consumer falls too far behind: the
    caller ends the subscription, and the client resumes with `since`."""
    async with broadcast.subscribe(scope.broker_channel) as subscriber:
        last = since if since is not None else await latest_seq(engine)
        async for event in replay(engine, scope, last):
            yield event
            last = event.seq
        while True:
            received = await subscriber.get()
            if isinstance(received, Resync):
                async for event in replay(engine, scope, last):
                    yield event
                    last = event.seq
                continue
            event = parse_wire_message(received.message)
            if event.seq <= last:
                continue
            yield event
            last = event.seq
