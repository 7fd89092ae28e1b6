"""Redis going away and coming back, end to end: the API keeps answering, /readyz says the
broker is down, a subscriber stays connected, and after the restart it receives what was
committed meanwhile (replayed from the outbox) and then live events, each once and in order.

The app runs in-process on its own redis-server (killed with SIGKILL and restarted on the same
port) and its own database, so no other relay of the test run publishes its events elsewhere.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from db.models import OutboxEvent
from realtime.outbox import order_channel
from resolvers.context import Services
from resolvers.global_ids import key_of
from server import build_services, create_app
from settings import Settings
from tests.api.test_orders import move, read
from tests.api.test_subscriptions import follow, next_event, no_message_within, place_order
from tests.realtime.test_broadcast import RedisProcess, _free_port
from tests.websocket_client import TRANSPORT_WS, connect

WAIT = 5.0  # upper bound for anything that should take well under a second
RECOVERY = 30.0  # Redis back -> the subscriber has what it missed (a hang guard, not a speed)


@dataclass
class Gateway:
    app: Starlette
    services: Services
    http: httpx.AsyncClient
    redis: RedisProcess


@pytest.fixture
async def gateway(
    settings: Settings,
    tmp_path: Path,
    fresh_database: Callable[[], AbstractAsyncContextManager[AsyncEngine]],
) -> AsyncIterator[Gateway]:
    redis = RedisProcess(_free_port(), tmp_path)
    await redis.start()
    try:
        async with fresh_database() as scratch:
            own = settings.model_copy(
                update={
                    "database_url": scratch.url.render_as_string(hide_password=False),
                    "redis_url": f"redis://127.0.0.1:{redis.port}/0",
                    "redis_key_prefix": f"test:{uuid.uuid4().hex}:",
                }
            )
            services = build_services(own)
            app = create_app(own, services)
            try:
                async with (
                    app.router.lifespan_context(app),
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
                    ) as http,
                ):
                    yield Gateway(app, services, http, redis)
            finally:
                await services.engine.dispose()
    finally:
        await redis.kill()


async def eventually(check: Callable[[], Any], what: str, within: float = WAIT) -> None:
    try:
        async with asyncio.timeout(within):
            while True:
                result = check()
                if not isinstance(result, bool):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"not within {within}s: {what}")


def channel_of(order: str) -> str:
    key = key_of(order, "Order")
    assert key is not None
    return order_channel(key)


async def outbox_rows(services: Services, order: str) -> list[Any]:
    async with services.engine.connect() as connection:
        result = await connection.execute(
            select(OutboxEvent.seq, OutboxEvent.published_at, OutboxEvent.payload)
            .where(OutboxEvent.channel == channel_of(order))
            .order_by(OutboxEvent.id)
        )
        return list(result.all())


async def events_until(ws: AsyncWebSocketSession, status: str, within: float) -> list[Any]:
    """Every event received until (and with) the first one with `status`."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not received or received[-1]["status"] != status:
            received.append(await next_event(ws))
    return received


async def test_subscribers_get_what_was_committed_while_redis_was_down_then_live_events(
    gateway: Gateway,
) -> None:
    client, services = gateway.http, gateway.services
    broadcast = services.broadcast
    assert broadcast is not None
    seller, buyer, order = await place_order(client, services)
    channel = channel_of(order)

    async with connect(gateway.app, [TRANSPORT_WS]) as ws:
        # `since: "0"` replays PLACED: once it is here, the subscription is live.
        await follow(ws, buyer.token, {"orderId": order, "since": "0"})
        placed = await next_event(ws)
        assert placed["status"] == "PLACED"
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert ready.json()["broker"] == "ok"

        await gateway.redis.kill()
        await eventually(lambda: broadcast.status() != "ok", "the broker saw the outage")

        # The API carries on without Redis (still ready, degraded): reads, and a write whose
        # event cannot be sent.
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert ready.json()["broker"].startswith("reconnecting: "), ready.json()
        assert ready.json()["redis"].startswith("unavailable"), ready.json()
        assert (await read(client, buyer, order) or {})["status"] == "PLACED"
        assert (await move(client, seller, order, "CONFIRMED"))["userErrors"] == []

        async def numbered_but_unsent() -> bool:
            rows = await outbox_rows(services, order)
            return [(row.seq is not None, row.published_at is None) for row in rows] == [
                (True, False),  # PLACED
                (True, True),  # CONFIRMED: numbered by the relay, not published
            ]

        await eventually(numbered_but_unsent, "CONFIRMED numbered and left unsent")
        await no_message_within(ws, 0.3)
        # Still subscribed (not dropped), just waiting.
        assert broadcast.subscriber_count(channel) == 1

        await gateway.redis.start()
        missed = await events_until(ws, "CONFIRMED", RECOVERY)
        await eventually(lambda: broadcast.status() == "ok", "the broker is back")
        assert (await client.get("/readyz")).status_code == 200

        assert (await move(client, seller, order, "SHIPPED"))["userErrors"] == []
        live = await events_until(ws, "SHIPPED", WAIT)
        # The relay sends CONFIRMED late (after the Resync replay delivered it): not again.
        await no_message_within(ws, 0.5)

    assert [(e["previousStatus"], e["status"]) for e in (*missed, *live)] == [
        ("PLACED", "CONFIRMED"),
        ("CONFIRMED", "SHIPPED"),
    ]
    ids = [int(e["eventId"]) for e in (placed, *missed, *live)]
    assert ids == sorted(set(ids)), ids
    # Every event is eventually marked sent: nothing is left for a later relay step.
    await eventually(
        lambda: _all_sent(services, order), "the relay sent everything after the restart"
    )


async def _all_sent(services: Services, order: str) -> bool:
    rows = await outbox_rows(services, order)
    return len(rows) == 3 and all(row.published_at is not None for row in rows)
