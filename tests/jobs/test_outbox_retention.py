"""Outbox retention on a database of its own: old published events go, never unpublished ones
nor the newest, and `since` from before what is kept is refused naming where to resume."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert, select

from db.models import OutboxEvent
from resolvers.errors import BadUserInputError
from resolvers.outbox_retention import prune_outbox
from resolvers.subscriptions import parse_since

NOW = datetime.now(UTC)


def event(seq: int | None, published_days_ago: float | None) -> dict[str, object]:
    published = None if published_days_ago is None else NOW - timedelta(days=published_days_ago)
    return {
        "seq": seq,
        "channel": "order:x",
        "stream": "orders",
        "buyer_id": uuid.uuid4(),
        "seller_id": uuid.uuid4(),
        "kind": "STATUS_CHANGED",
        "payload": {},
        "published_at": published,
    }


async def test_retention_keeps_the_window_and_since_names_the_oldest(fresh_database, services):
    async with fresh_database() as engine:
        async with engine.begin() as connection:
            await connection.execute(
                insert(OutboxEvent),
                [
                    event(1, 45),
                    event(2, 40),
                    event(3, 31),
                    event(4, 29),  # inside the 30 days
                    event(5, 1),
                    event(None, None),  # committed, not yet numbered by the relay
                ],
            )
        own = replace(services, engine=engine)

        assert await prune_outbox(own, now=NOW) == 3
        assert await prune_outbox(own, now=NOW) == 0

        async with engine.connect() as connection:
            kept = (await connection.scalars(select(OutboxEvent.seq))).all()
        assert sorted(kept, key=lambda seq: seq or 0) == [None, 4, 5]

        ctx: Any = SimpleNamespace(engine=engine)  # parse_since reads only the engine
        assert await parse_since(ctx, "3") == 3  # every event after 3 is kept
        with pytest.raises(BadUserInputError) as refused:
            await parse_since(ctx, "2")
        assert refused.value.extensions == {
            "code": "BAD_USER_INPUT",
            "argument": "since",
            "oldestEventId": "3",
        }
        assert "3" in refused.value.message


async def test_retention_never_deletes_the_newest_event(fresh_database, services):
    async with fresh_database() as engine:
        async with engine.begin() as connection:
            await connection.execute(insert(OutboxEvent), [event(1, 90), event(2, 60)])

        assert await prune_outbox(replace(services, engine=engine), now=NOW) == 1

        # The relay numbers new events after the highest seq kept: eventIds never repeat.
        async with engine.connect() as connection:
            kept = (await connection.scalars(select(OutboxEvent.seq))).all()
        assert kept == [2]
