"""The WebSocket edge of /graphql: graphql-transport-ws and legacy graphql-ws, authentication
in connection_init, protocol violations, origin checks, and error codes and masking.

The sockets run on the test session's event loop through httpx-ws's ASGIWebSocketTransport,
against the same app (and the same pooled engine) the HTTP tests use.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import pytest
import strawberry
from httpx_ws import (
    WebSocketDisconnect,
    WebSocketUpgradeError,
)
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from auth.tokens import decode_access_token, issue_access_token
from gateway.errors import INTERNAL_MESSAGE, ErrorPolicy, GatewaySchema
from gateway.http import GatewayView
from server import create_app
from tests.support import gateway_records, register
from tests.websocket_client import (
    LEGACY_WS,
    TIMEOUT,
    TRANSPORT_WS,
    closed,
    connect,
    init,
    receive,
    subscribe,
)


def flatten(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in flatten(inner)]
    return [error]


async def refused_handshake(app: Any, subprotocols: list[str], headers: dict[str, str]) -> int:
    """The close code or HTTP status the server refused the handshake with."""
    try:
        async with connect(app, subprotocols, headers) as ws:
            await ws.receive_text(timeout=TIMEOUT)
    except BaseException as error:  # httpx-ws wraps what escapes in exception groups
        for leaf in flatten(error):
            if isinstance(leaf, WebSocketDisconnect):
                return leaf.code
            if isinstance(leaf, WebSocketUpgradeError):
                return leaf.response.status_code
        raise
    pytest.fail("the handshake was accepted")


# --- graphql-transport-ws ----------------------------------------------------------------------


async def test_transport_ws_anonymous_query(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        assert ws.subprotocol == TRANSPORT_WS
        await init(ws)
        await subscribe(ws, "1", "{ me { id } }")
        message = await receive(ws)
        assert (message["id"], message["type"]) == ("1", "next")
        assert message["payload"]["data"] == {"me": None}
        assert message["payload"]["extensions"]["cost"]["requestedQueryCost"] == 1
        assert await receive(ws) == {"id": "1", "type": "complete"}

        # The socket stays open for further operations.
        await subscribe(ws, "2", "{ __typename }")
        message = await receive(ws)
        assert message["payload"]["data"] == {"__typename": "Query"}
        assert await receive(ws) == {"id": "2", "type": "complete"}


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(lambda token: {"Authorization": f"Bearer {token}"}, id="Authorization"),
        pytest.param(lambda token: {"authorization": f"bearer {token}"}, id="lowercase"),
        pytest.param(lambda token: {"authToken": token}, id="authToken-without-scheme"),
    ],
)
async def test_transport_ws_authenticated_me(app, client, params):
    account = await register(client, buyer=True)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws, params(account.token))
        await subscribe(ws, "1", "{ me { id email } }")
        message = await receive(ws)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["me"] == {"id": account.user_id, "email": account.email}
        assert await receive(ws) == {"id": "1", "type": "complete"}


async def test_transport_ws_operations_stop_when_the_token_expires(app, client, services):
    account = await register(client, buyer=True)
    viewer = decode_access_token(services.tokens, account.token)
    short_lived = replace(services.tokens, access_ttl_seconds=1)
    token = issue_access_token(short_lived, viewer)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws, {"Authorization": f"Bearer {token}"})
        await subscribe(ws, "1", "{ me { id } }")
        assert (await receive(ws))["payload"]["data"]["me"] == {"id": account.user_id}
        assert await receive(ws) == {"id": "1", "type": "complete"}
        await asyncio.sleep(1.2)
        await subscribe(ws, "2", "{ me { id } }")
        message = await receive(ws)
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_transport_ws_refuses_nul_characters_with_an_error_message(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        query = "query($q: String) { products(first: 1, filter: {query: $q}) { totalCount } }"
        await subscribe(ws, "1", query, variables={"q": "bolt\x00"})
        message = await receive(ws)
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"Authorization": "Bearer forged.jwt.token"}, id="forged"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="wrong-scheme"),
        pytest.param({"Authorization": 12345}, id="not-a-string"),
    ],
)
async def test_transport_ws_bad_token_closes_4403(app, payload):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await ws.send_json({"type": "connection_init", "payload": payload})
        disconnect = await closed(ws)
        assert disconnect.code == 4403
        assert disconnect.reason == "Forbidden"


async def test_transport_ws_forged_token_signed_with_another_secret(app, client):
    account = await register(client, buyer=True)
    header, body, _signature = account.token.split(".")
    forged = f"{header}.{body}.{'A' * 43}"
    async with connect(app, [TRANSPORT_WS]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": forged}})
        assert (await closed(ws)).code == 4403


async def test_transport_ws_subscribe_before_init_closes_4401(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await subscribe(ws, "1", "{ __typename }")
        disconnect = await closed(ws)
        assert disconnect.code == 4401
        assert disconnect.reason == "Unauthorized"


async def test_transport_ws_second_init_closes_4429(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await ws.send_json({"type": "connection_init"})
        assert (await closed(ws)).code == 4429


async def test_transport_ws_invalid_message_closes_4400(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await ws.send_json({"type": "no-such-type"})
        assert (await closed(ws)).code == 4400


# Text Python's json reads (or fails on with a plain ValueError) that is not JSON.
NOT_JSON_NUMBERS = [pytest.param("1" * 5000, id="5000-digits"), "NaN", "-Infinity", "1e999"]


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
async def test_transport_ws_a_message_that_is_not_json_closes_4400(app, number, caplog):
    text = '{"type":"subscribe","id":"1","payload":{"query":"{ __typename }","variables":{"v":%s}}}'
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        with caplog.at_level(logging.INFO):
            await ws.send_text(text % number)
            disconnect = await closed(ws)
    assert disconnect.code == 4400
    assert disconnect.reason == "WebSocket message must be valid JSON"
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
async def test_legacy_ws_ignores_a_message_that_is_not_json(app, number, caplog):
    # The legacy protocol skips unparsable messages; the socket goes on serving.
    text = '{"type":"start","id":"1","payload":{"query":"{ __typename }","variables":{"v":%s}}}'
    async with connect(app, [LEGACY_WS]) as ws:
        await ws.send_json({"type": "connection_init"})
        assert (await receive(ws))["type"] == "connection_ack"
        with caplog.at_level(logging.INFO):
            await ws.send_text(text % number)
            await ws.send_json({"type": "start", "id": "2", "payload": {"query": "{ me { id } }"}})
            message = await receive(ws)
        # Queries are refused over `start` (see below): an answer to the next message.
        assert message["type"] == "error", message
        assert message["id"] == "2"
        await ws.send_json({"type": "connection_terminate"})
        assert (await closed(ws)).code == 1000
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


async def test_transport_ws_ping_pong(app):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_transport_ws_validation_error_has_a_code(app, caplog):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        with caplog.at_level(logging.ERROR):
            await subscribe(ws, "1", "{ noSuchField }")
            message = await receive(ws)
        assert message["type"] == "error", message
        [error] = message["payload"]
        assert "noSuchField" in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        # Still usable afterwards.
        await subscribe(ws, "2", "{ __typename }")
        assert (await receive(ws))["payload"]["data"] == {"__typename": "Query"}
    assert gateway_records(caplog) == []


async def test_transport_ws_depth_limit(app):
    selection = "id"
    for _ in range(20):
        selection = f"children {{ {selection} }}"
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "1", f"{{ categories {{ {selection} }} }}")
        message = await receive(ws)
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert "depth" in message["payload"][0]["message"]


async def test_transport_ws_syntax_error_closes_4400(app, caplog):
    # Strawberry answers an unparsable document by closing with 4400 and the parser's message.
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        with caplog.at_level(logging.ERROR):
            await subscribe(ws, "1", "{ me { id } ")
            disconnect = await closed(ws)
    assert disconnect.code == 4400
    assert disconnect.reason.startswith("Syntax Error")
    # Not a crash of the operation task, and not an incident in our log.
    assert gateway_records(caplog) == []


async def test_transport_ws_unknown_operation_name_closes_4400(app, caplog):
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        with caplog.at_level(logging.ERROR):
            await subscribe(
                ws, "1", "query A { __typename } query B { __typename }", operationName="C"
            )
            disconnect = await closed(ws)
    assert disconnect.code == 4400
    assert gateway_records(caplog) == []


async def test_bad_subprotocol_is_refused(app):
    code = await refused_handshake(app, ["graphql-nonsense"], {})
    assert code == 4406


# --- legacy graphql-ws -------------------------------------------------------------------------


async def test_legacy_ws_ack_and_keep_alive(app):
    async with connect(app, [LEGACY_WS]) as ws:
        assert ws.subprotocol == LEGACY_WS
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert await receive(ws, skip_keep_alive=False) == {"type": "connection_ack"}
        assert await receive(ws, skip_keep_alive=False) == {"type": "ka"}


async def test_legacy_ws_start_query_is_refused_as_a_client_error(app, caplog):
    """Strawberry's graphql-ws handler runs subscriptions only (`Schema.subscribe`), and the
    schema has no Subscription type yet: a query over `start` answers an `error` message —
    a client error with a code, not a masked incident."""
    async with connect(app, [LEGACY_WS]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await receive(ws))["type"] == "connection_ack"
        with caplog.at_level(logging.ERROR):
            await ws.send_json({"type": "start", "id": "1", "payload": {"query": "{ me { id } }"}})
            message = await receive(ws)
        assert message["type"] == "error", message
        assert message["id"] == "1"
        assert message["payload"]["message"] == "queries are not allowed"
        assert message["payload"]["extensions"]["code"] == "BAD_USER_INPUT"
        # The connection is still alive: it answers a terminate with a normal close.
        await ws.send_json({"type": "connection_terminate"})
        disconnect = await closed(ws)
        assert disconnect.code == 1000
    assert gateway_records(caplog) == []


async def test_legacy_ws_forged_token_gets_connection_error(app):
    async with connect(app, [LEGACY_WS]) as ws:
        await ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": "Bearer forged"}}
        )
        message = await receive(ws)
        assert message["type"] == "connection_error", message
        assert "message" in message["payload"]
        disconnect = await closed(ws)
        assert disconnect.code == 1011


async def test_legacy_ws_start_before_init_closes_4401(app):
    async with connect(app, [LEGACY_WS]) as ws:
        await ws.send_json({"type": "start", "id": "1", "payload": {"query": "{ __typename }"}})
        assert (await closed(ws)).code == 4401


# --- origin checks -----------------------------------------------------------------------------
# Strawberry's `_check_websocket_origin`: no Origin header (not a browser) and same-origin
# handshakes (Origin host:port == Host, or Sec-Fetch-Site: same-origin) always pass; any other
# origin must be in `allowed_origins` (or it holds "*"). An empty list refuses every
# cross-origin handshake, with a close before accept (HTTP 403 on a real server).


async def test_cross_origin_handshake_refused_with_empty_allow_list(app, settings):
    assert settings.allowed_origins == ()
    code = await refused_handshake(app, [TRANSPORT_WS], {"origin": "https://evil.example"})
    assert code == 1008


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-origin"),
        pytest.param({"origin": "http://testserver"}, id="same-origin"),
        pytest.param(
            {"origin": "https://evil.example", "sec-fetch-site": "same-origin"},
            id="sec-fetch-site",
        ),
    ],
)
async def test_handshakes_that_pass_the_origin_check(app, headers):
    async with connect(app, [TRANSPORT_WS], headers) as ws:
        await init(ws)


async def test_allow_list(settings, services):
    allowing = create_app(
        settings.model_copy(update={"allowed_origins": ("https://app.example",)}), services
    )
    async with connect(allowing, [TRANSPORT_WS], {"origin": "https://app.example"}) as ws:
        await init(ws)
        await subscribe(ws, "1", "{ __typename }")
        assert (await receive(ws))["payload"]["data"] == {"__typename": "Query"}
    for origin in (
        "https://evil.example",
        "https://app.example.evil.example",
        "http://app.example",
    ):
        code = await refused_handshake(allowing, [TRANSPORT_WS], {"origin": origin})
        assert code == 1008, origin


# --- masking over WebSocket --------------------------------------------------------------------


@strawberry.type
class ExplodingQuery:
    @strawberry.field
    def explode(self) -> str | None:
        raise RuntimeError("boom: secret connection string")


async def test_unexpected_exception_is_masked_over_websocket(services, caplog):
    schema = GatewaySchema(query=ExplodingQuery, extensions=[ErrorPolicy])
    throwaway = Starlette(routes=[WebSocketRoute("/graphql", GatewayView(schema, services))])
    with caplog.at_level(logging.ERROR, logger="gateway.errors"):
        async with connect(throwaway, [TRANSPORT_WS], {"x-request-id": "ws-req-1"}) as ws:
            await init(ws)
            await subscribe(ws, "1", "query Explode { explode }")
            message = await receive(ws)
            assert await receive(ws) == {"id": "1", "type": "complete"}
    assert message["type"] == "next", message
    assert message["payload"]["data"] == {"explode": None}
    [error] = message["payload"]["errors"]
    assert error["message"] == INTERNAL_MESSAGE
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "ws-req-1"}
    assert "boom" not in str(message)
    records = [r for r in caplog.records if r.name == "gateway.errors"]
    assert len(records) == 1
    assert records[0].request_id == "ws-req-1"
