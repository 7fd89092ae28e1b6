"""Order subscriptions over WebSocket: live events, replay with `since` (no gap, no duplicate),
company-wide streams, authorization on subscribe and per event, bad input, token expiry, the
relay sending what a crashed process left, and a flooding socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect
from sqlalchemy import func, select

from auth.tokens import decode_access_token, issue_access_token
from db.models import OutboxEvent
from realtime.outbox import ORDERS, company_channel, order_channel, record_order_status
from resolvers.global_ids import key_of
from tests.api.test_checkout import add_to_cart, checkout, offer
from tests.api.test_orders import move
from tests.support import Account, register
from tests.websocket_client import LEGACY_WS, TRANSPORT_WS, closed, connect, init, receive

ORDER_EVENTS = """
subscription Follow($orderId: ID, $since: String) {
  orderStatusChanged(orderId: $orderId, since: $since) {
    eventId previousStatus status at
    order { id number status buyer { name } lines { quantity variant { sku } } }
  }
}
"""


async def place_order(client: Any, services: Any) -> tuple[Account, Account, str]:
    """A seller, a buyer and the buyer's PLACED order (global ID)."""
    shop = await offer(client, services)
    buyer = await register(client, buyer=True)
    assert await add_to_cart(client, buyer.token, shop.variants[0], 3) == []
    placed = await checkout(client, buyer.token)
    assert placed["userErrors"] == []
    return shop.seller, buyer, placed["orders"][0]["id"]


async def follow(
    ws: AsyncWebSocketSession, token: str, variables: dict[str, Any], op: str = "1"
) -> None:
    await init(ws, {"Authorization": f"Bearer {token}"})
    await ws.send_json(
        {"type": "subscribe", "id": op, "payload": {"query": ORDER_EVENTS, "variables": variables}}
    )


async def next_event(ws: AsyncWebSocketSession) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["orderStatusChanged"]
    return event


async def no_message_within(ws: AsyncWebSocketSession, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            await receive(ws)


def key(global_id: str, type_name: str) -> uuid.UUID:
    found = key_of(global_id, type_name)
    assert found is not None, global_id
    return found


async def subscribed(services: Any, order: str | None = None, company: str | None = None) -> None:
    """Wait until the server follows the order's (or the company's) channel: events committed
    before that are not live events for the subscriber."""
    if order is not None:
        channel = order_channel(key(order, "Order"))
    else:
        assert company is not None
        channel = company_channel(key(company, "Company"), ORDERS)
    async with asyncio.timeout(2):
        while services.broadcast.subscriber_count(channel) == 0:  # noqa: ASYNC110 (polls)
            await asyncio.sleep(0.01)


async def test_an_order_status_change_arrives_live(app, client, services):
    seller, buyer, order = await place_order(client, services)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, buyer.token, {"orderId": order})
        await subscribed(services, order)
        assert (await move(client, seller, order, "CONFIRMED"))["userErrors"] == []
        event = await asyncio.wait_for(next_event(ws), 2)
    assert event["previousStatus"] == "PLACED"
    assert event["status"] == "CONFIRMED"
    assert event["order"]["id"] == order
    assert event["order"]["status"] == "CONFIRMED"
    assert event["order"]["lines"][0]["quantity"] == 3
    assert int(event["eventId"]) > 0
    assert datetime.fromisoformat(event["at"]).tzinfo is not None


async def test_legacy_graphql_ws_receives_the_same_events(app, client, services):
    seller, _buyer, order = await place_order(client, services)
    async with connect(app, [LEGACY_WS]) as ws:
        await ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {seller.token}"}}
        )
        assert (await receive(ws))["type"] == "connection_ack"
        await ws.send_json(
            {
                "type": "start",
                "id": "7",
                "payload": {"query": ORDER_EVENTS, "variables": {"orderId": order}},
            }
        )
        await subscribed(services, order)
        assert (await move(client, seller, order, "CONFIRMED"))["userErrors"] == []
        message = await receive(ws)
    assert message["type"] == "data", message
    assert message["id"] == "7"
    assert message["payload"]["data"]["orderStatusChanged"]["status"] == "CONFIRMED"


async def test_since_replays_what_was_missed_then_follows_live_without_duplicates(
    app, client, services
):
    seller, buyer, order = await place_order(client, services)
    # The buyer saw PLACED (say) and then went offline while the order moved twice.
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, buyer.token, {"orderId": order})
        await subscribed(services, order)
        await move(client, seller, order, "CONFIRMED")
        confirmed = await asyncio.wait_for(next_event(ws), 2)
    await move(client, seller, order, "SHIPPED")
    await move(client, buyer, order, "DELIVERED")
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, buyer.token, {"orderId": order, "since": confirmed["eventId"]})
        replayed = [await next_event(ws), await next_event(ws)]
        await move(client, buyer, order, "COMPLETED")
        live = await asyncio.wait_for(next_event(ws), 2)
        await no_message_within(ws, 0.5)
    assert [e["status"] for e in replayed] == ["SHIPPED", "DELIVERED"]
    assert [e["previousStatus"] for e in replayed] == ["CONFIRMED", "SHIPPED"]
    assert live["status"] == "COMPLETED"
    ids = [int(confirmed["eventId"])] + [int(e["eventId"]) for e in (*replayed, live)]
    assert ids == sorted(ids) and len(set(ids)) == 4


async def test_since_zero_replays_the_whole_history_of_an_order(app, client, services):
    seller, _buyer, order = await place_order(client, services)
    await move(client, seller, order, "CONFIRMED")
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, seller.token, {"orderId": order, "since": "0"})
        events = [await next_event(ws), await next_event(ws)]
    assert [(e["previousStatus"], e["status"]) for e in events] == [
        (None, "PLACED"),
        ("PLACED", "CONFIRMED"),
    ]


async def test_company_stream_gets_every_own_order_and_nothing_of_others(app, client, services):
    seller, _buyer, order = await place_order(client, services)
    other_seller, _, other_order = await place_order(client, services)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, seller.token, {})
        await subscribed(services, company=seller.company_id)
        await move(client, other_seller, other_order, "CONFIRMED")
        await move(client, seller, order, "CONFIRMED")
        event = await asyncio.wait_for(next_event(ws), 2)
        await no_message_within(ws, 0.5)
    assert event["order"]["id"] == order


async def test_company_stream_replays_with_since(app, client, services):
    seller, buyer, order = await place_order(client, services)
    before = await newest_event_id(services)
    await move(client, seller, order, "CONFIRMED")
    await move(client, buyer, order, "CANCELLED", "changed our mind")
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, buyer.token, {"since": str(before)})
        events = [await next_event(ws), await next_event(ws)]
        await no_message_within(ws, 0.3)
    assert [e["status"] for e in events] == ["CONFIRMED", "CANCELLED"]


async def newest_event_id(services: Any) -> int:
    async with services.engine.connect() as connection:
        return int(await connection.scalar(select(func.max(OutboxEvent.seq))) or 0)


async def error_of(ws: AsyncWebSocketSession) -> dict[str, Any]:
    message = await receive(ws)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    error: dict[str, Any] = errors[0]
    return error


async def test_another_companys_order_reads_as_not_found(app, client, services):
    _, _, order = await place_order(client, services)
    stranger = await register(client, buyer=True)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, stranger.token, {"orderId": order})
        error = await error_of(ws)
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"orderId": "not-an-id"}, "orderId"),
        ({"since": "abc"}, "since"),
        ({"since": "-1"}, "since"),
        ({"since": "²"}, "since"),
        ({"since": "99999999999999"}, "since"),
    ],
)
async def test_bad_arguments_are_refused_with_bad_user_input(app, client, variables, argument):
    buyer = await register(client, buyer=True)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, buyer.token, variables)
        error = await error_of(ws)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["argument"] == argument


async def test_anonymous_subscribers_are_refused(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await ws.send_json({"type": "subscribe", "id": "1", "payload": {"query": ORDER_EVENTS}})
        error = await error_of(ws)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_subscribe_without_connection_init_closes_4401(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await ws.send_json({"type": "subscribe", "id": "1", "payload": {"query": ORDER_EVENTS}})
        assert (await closed(ws)).code == 4401


async def test_the_socket_closes_4401_when_the_token_expires(app, client, services):
    _seller, buyer, order = await place_order(client, services)
    viewer = decode_access_token(services.tokens, buyer.token)
    token = issue_access_token(replace(services.tokens, access_ttl_seconds=2), viewer)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, token, {"orderId": order})
        disconnect = await closed(ws)
    assert disconnect.code == 4401
    assert "expired" in disconnect.reason


async def test_events_a_crashed_process_never_published_are_sent_by_the_sweep(
    app, client, services
):
    """An event committed without waking any relay (the process died right after commit) is
    published by a relay's periodic sweep."""
    _seller, buyer, order = await place_order(client, services)
    order_id = key_of(order, "Order")
    assert order_id is not None
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow(ws, buyer.token, {"orderId": order})
        await subscribed(services, order)
        async with services.sessions() as session, session.begin():
            row = (
                (
                    await session.execute(
                        select(OutboxEvent).where(OutboxEvent.channel == f"order:{order_id}")
                    )
                )
                .scalars()
                .first()
            )
            await record_order_status(
                session,
                order_id=order_id,
                buyer_id=row.buyer_id,
                seller_id=row.seller_id,
                previous="PLACED",
                status="CONFIRMED",
                at=datetime.now(UTC),
            )
        event = await asyncio.wait_for(next_event(ws), 3)
    assert (event["previousStatus"], event["status"]) == ("PLACED", "CONFIRMED")


async def flood_until_closed(app: Any, messages: int) -> tuple[int, int]:
    """Send `messages` pings at once; the close code and how many pongs came before it."""
    async with connect(app, [TRANSPORT_WS]) as noisy:
        await init(noisy)
        for _ in range(messages):
            await noisy.send_json({"type": "ping"})
        pongs = 0
        try:
            while True:
                assert json.loads(await noisy.receive_text(timeout=2))["type"] == "pong"
                pongs += 1
        except WebSocketDisconnect as disconnect:
            return disconnect.code, pongs


async def test_a_flooding_socket_is_closed_4429_and_others_keep_their_events(
    app, client, services, settings
):
    seller, buyer, order = await place_order(client, services)
    flood = 3 * settings.max_ws_messages_per_second  # more than the burst allows
    async with connect(app, [TRANSPORT_WS]) as calm:
        await follow(calm, buyer.token, {"orderId": order})
        # In a task of its own: httpx-ws's socket contexts must not interleave in one task.
        code, pongs = await asyncio.create_task(flood_until_closed(app, flood))
        assert code == 4429
        assert pongs < flood
        await subscribed(services, order)
        await move(client, seller, order, "CONFIRMED")
        assert (await asyncio.wait_for(next_event(calm), 2))["status"] == "CONFIRMED"


async def test_every_order_event_is_numbered_once_in_commit_order(app, client, services):
    """Concurrent status changes of many orders: the relay numbers each event once, and each
    order's events come in the order they happened."""
    seller, _buyer, first = await place_order(client, services)
    others = [(await place_order(client, services)) for _ in range(3)]
    await asyncio.gather(
        move(client, seller, first, "CONFIRMED"),
        *(move(client, s, o, "CONFIRMED") for s, _, o in others),
    )
    await asyncio.sleep(0.3)
    async with services.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(OutboxEvent.seq, OutboxEvent.channel, OutboxEvent.payload)
                .where(OutboxEvent.seq.is_not(None))
                .order_by(OutboxEvent.seq)
            )
        ).all()
    seqs = [row.seq for row in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for _, _, order in [(None, None, first), *others]:
        key = key_of(order, "Order")
        statuses = [r.payload["status"] for r in rows if r.channel == f"order:{key}"]
        assert statuses == ["PLACED", "CONFIRMED"]
