"""Quote subscriptions: every step of a negotiation live, a company's whole quote stream with
`since`, and requests of other companies kept out."""

from __future__ import annotations

import asyncio
from typing import Any

from httpx_ws import AsyncWebSocketSession

from realtime.outbox import QUOTES, company_channel, quote_request_channel
from tests.api.test_quotes import accept, market, opened, submit
from tests.api.test_subscriptions import error_of, key, newest_event_id, no_message_within
from tests.websocket_client import TRANSPORT_WS, connect, init, receive

__all__ = ["market"]  # the module-scoped fixture, shared with test_quotes

QUOTE_EVENTS = """
subscription Follow($requestId: ID, $since: String) {
  quoteUpdated(requestId: $requestId, since: $since) {
    eventId kind at
    quoteRequest { id status order { id status } }
    quote { id version status proposedBy total { amount currency } }
  }
}
"""


async def follow_quotes(ws: AsyncWebSocketSession, token: str, variables: dict[str, Any]) -> None:
    await init(ws, {"Authorization": f"Bearer {token}"})
    await ws.send_json(
        {"type": "subscribe", "id": "1", "payload": {"query": QUOTE_EVENTS, "variables": variables}}
    )


async def next_quote_event(ws: AsyncWebSocketSession) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["quoteUpdated"]
    return event


async def joined(services: Any, channel: str) -> None:
    async with asyncio.timeout(2):
        while services.broadcast.subscriber_count(channel) == 0:  # noqa: ASYNC110 (polls)
            await asyncio.sleep(0.01)


async def test_a_negotiation_arrives_step_by_step(app, client, services, market):
    request_id = await opened(client, market)
    line = market.plain[0]
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow_quotes(ws, market.buyer.token, {"requestId": request_id})
        await joined(services, quote_request_channel(key(request_id, "QuoteRequest")))
        first = await submit(client, market.seller, request_id, [(line, 5, "9.00")])
        counter = await submit(client, market.buyer, request_id, [(line, 5, "8.00")])
        final = await submit(client, market.seller, request_id, [(line, 5, "8.50")])
        accepted = await accept(client, market.buyer, final["quote"]["id"])
        assert accepted["userErrors"] == []
        events = [await asyncio.wait_for(next_quote_event(ws), 10) for _ in range(4)]
        await no_message_within(ws, 0.3)
    assert [e["kind"] for e in events] == ["QUOTED", "COUNTERED", "COUNTERED", "ACCEPTED"]
    assert [e["quote"]["id"] for e in events] == [
        first["quote"]["id"],
        counter["quote"]["id"],
        final["quote"]["id"],
        final["quote"]["id"],
    ]
    assert [e["quote"]["proposedBy"] for e in events[:3]] == ["SELLER", "BUYER", "SELLER"]
    # Each event shows the objects as they are when delivered: by then all was accepted.
    assert events[-1]["quoteRequest"]["status"] == "ACCEPTED"
    assert events[-1]["quoteRequest"]["order"]["id"] == accepted["order"]["id"]
    assert events[-1]["quote"]["total"] == {"amount": "42.50", "currency": "EUR"}
    ids = [int(e["eventId"]) for e in events]
    assert ids == sorted(set(ids))


async def test_the_company_stream_replays_with_since_and_keeps_others_out(
    app, client, services, market
):
    before = await newest_event_id(services)
    request_id = await opened(client, market)
    await submit(client, market.seller, request_id, [(market.plain[1], 5, "9.00")])
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow_quotes(ws, market.seller.token, {"since": str(before)})
        replayed = [await next_quote_event(ws), await next_quote_event(ws)]
        second = await opened(client, market)
        live = await asyncio.wait_for(next_quote_event(ws), 2)
    assert [(e["kind"], e["quoteRequest"]["id"]) for e in replayed] == [
        ("REQUESTED", request_id),
        ("QUOTED", request_id),
    ]
    assert replayed[0]["quote"] is None
    assert (live["kind"], live["quoteRequest"]["id"]) == ("REQUESTED", second)
    # A company party to none of them: nothing replayed, nothing live.
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow_quotes(ws, market.stranger.token, {"since": str(before)})
        await joined(services, company_channel(key(market.stranger.company_id, "Company"), QUOTES))
        await opened(client, market)
        await no_message_within(ws, 0.5)


async def test_a_stranger_cannot_follow_a_request(app, client, market):
    request_id = await opened(client, market)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow_quotes(ws, market.stranger.token, {"requestId": request_id})
        error = await error_of(ws)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_a_malformed_request_id_is_bad_user_input(app, market):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await follow_quotes(ws, market.buyer.token, {"requestId": "T3JkZXI6bm9wZQ=="})
        error = await error_of(ws)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "requestId"}
