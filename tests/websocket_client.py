"""A GraphQL-over-WebSocket test client: both subprotocols against the ASGI app in-process
(httpx-ws's ASGIWebSocketTransport, on the test session's event loop)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import wsproto.events
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
TIMEOUT = 5.0


@asynccontextmanager
async def connect(
    app: Any, subprotocols: list[str], headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncWebSocketSession]:
    async with (
        ASGIWebSocketTransport(app=app) as transport,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        session: AsyncWebSocketSession
        async with aconnect_ws(
            "/graphql",
            http,
            subprotocols=subprotocols,
            headers=headers or {},
            keepalive_ping_interval_seconds=None,
        ) as session:
            yield session


async def receive(ws: AsyncWebSocketSession, *, skip_keep_alive: bool = True) -> dict[str, Any]:
    """The next message; it must arrive as a text frame (GraphQL clients parse text only)."""
    while True:
        event = await ws.receive(timeout=TIMEOUT)
        assert isinstance(event, wsproto.events.TextMessage), event
        message: dict[str, Any] = json.loads(event.data)
        if skip_keep_alive and message.get("type") == "ka":
            continue
        return message


async def closed(ws: AsyncWebSocketSession) -> WebSocketDisconnect:
    """Expects the server to close the socket before sending anything else."""
    try:
        message = await ws.receive_text(timeout=TIMEOUT)
    except WebSocketDisconnect as disconnect:
        return disconnect
    pytest.fail(f"expected the socket to close, got {message}")


async def init(ws: AsyncWebSocketSession, payload: dict[str, Any] | None = None) -> None:
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    await ws.send_json(message)
    ack = await receive(ws)
    assert ack["type"] == "connection_ack", ack


async def subscribe(ws: AsyncWebSocketSession, id_: str, query: str, **payload: Any) -> None:
    await ws.send_json({"type": "subscribe", "id": id_, "payload": {"query": query, **payload}})
