"""The GraphQL endpoint: POST/GET over HTTP and both WebSocket protocols.

Strawberry's ASGI view has no context getter argument, answers `application/json` with 200
for everything and renders its HTTP errors as plain text; this subclass builds our Context,
negotiates the GraphQL-over-HTTP media type, and answers every refusal as a GraphQL error.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import Any, cast

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UnsetType

from auth.tokens import InvalidTokenError, decode_access_token
from auth.viewer import ANONYMOUS, Viewer
from gateway.limits import refuse_before_execution
from schema import Context, Services, new_context

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# WebSocket close code for a client sending messages faster than allowed (graphql-ws uses 4429
# for "too many" too).
TOO_MANY_MESSAGES = 4429


def error_body(message: str, code: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id(supplied: str | None) -> str:
    """The client's X-Request-Id when it is a short plain token (it goes into logs and error
    extensions), else a new one."""
    if supplied and _REQUEST_ID.match(supplied):
        return supplied
    return uuid.uuid4().hex


def bearer_token(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (None when absent)."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("use `Authorization: Bearer <access token>`")
    return token.strip()


class WebSocketOperations(SchemaExtension):
    """A WebSocket keeps one context for its whole life. Each operation on it must still be
    authorized now (the token checked at connection_init may have expired since) and must not
    read through loader caches filled by earlier operations (they would serve stale rows)."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.is_websocket:
            context.forget_reads()
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.viewer.expired(time.time()):
            refuse_before_execution(
                self.execution_context,
                GraphQLError(
                    "the access token has expired: reconnect with a fresh one",
                    extensions={"code": "UNAUTHENTICATED"},
                ),
            )
        yield


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends every message as a text frame. Strawberry sends bytes as a binary frame, and our
    `encode_json` gives bytes; GraphQL WebSocket clients parse text frames only (a browser
    hands a binary frame over as a Blob, which graphql-ws refuses with close 4400)."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        """The client's messages, at most `max_ws_messages_per_second` on average (a token
        bucket, burst twice that): a client flooding its socket is closed with 4429 and no
        longer takes the worker's time from the other sockets."""
        settings = cast(GatewayView, self.view).services.settings
        rate = float(settings.max_ws_messages_per_second)
        burst = 2 * rate
        allowance, last = burst, time.monotonic()
        async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
            now = time.monotonic()
            allowance = min(burst, allowance + (now - last) * rate)
            last = now
            if allowance < 1:
                await self.ws.close(code=TOO_MANY_MESSAGES, reason="too many messages")
                return
            allowance -= 1
            yield message

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GatewayView(GraphQL[Context, None]):
    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(self, schema: Any, services: Services, **options: Any) -> None:
        super().__init__(schema, **options)
        self.services = services
        # More operations on one socket are refused with an error message (Strawberry's).
        self.max_subscriptions_per_connection = services.settings.max_subscriptions_per_connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            status = error.status_code
            if error.reason == "Unsupported content type":
                status = 415
            response = Response(
                error_body(error.reason, "BAD_USER_INPUT"),
                status_code=status,
                media_type="application/json",
            )
        await response(scope, receive, send)

    def _viewer(self, authorization: str | None) -> Viewer:
        token = bearer_token(authorization)
        if token is None:
            return ANONYMOUS
        return decode_access_token(self.services.tokens, token)

    async def run(
        self,
        request: Request | WebSocket,
        context: Context | UnsetType | None = None,
        root_value: Any = None,
    ) -> Any:
        if isinstance(request, Request):
            try:
                request.state.viewer = self._viewer(request.headers.get("authorization"))
            except InvalidTokenError as error:
                # A bad token is refused outright rather than treated as anonymous: a client
                # with an expired token must learn to refresh it, not see a public answer.
                return Response(
                    error_body(str(error), "UNAUTHENTICATED"),
                    status_code=401,
                    media_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
        return await super().run(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        is_websocket = isinstance(request, WebSocket)
        viewer = ANONYMOUS if is_websocket else request.state.viewer
        return new_context(
            self.services,
            viewer,
            request_id(request.headers.get("x-request-id")),
            request,
            is_websocket=is_websocket,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, Mapping) else {}
        raw = params.get("Authorization") or params.get("authorization") or params.get("authToken")
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise ConnectionRejectionError({"message": "the token must be a string"})
        if not raw.lower().startswith("bearer "):
            raw = f"Bearer {raw}"
        try:
            context.viewer = self._viewer(raw)
        except InvalidTokenError as error:
            raise ConnectionRejectionError({"message": str(error)}) from None
        return None

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        accept = request.headers.get("accept", "")
        # GraphQL over HTTP: the new media type when the client accepts it, with 4xx for
        # requests that could not execute; legacy application/json answers 200.
        sub_response.media_type = (
            GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in accept else "application/json"
        )
        return sub_response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def parse_json(self, data: str | bytes) -> Any:
        # Strawberry calls `.get` on whatever the body decodes to: a bare number, string or
        # null would escape as an AttributeError (a 500), so refuse it here as a 400.
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "Expected a JSON object")
        return parsed

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media_type = sub_response.media_type or "application/json"
        status = sub_response.status_code or 200
        if (
            media_type == GRAPHQL_RESPONSE_JSON
            and isinstance(response_data, dict)
            and "data" not in response_data
        ):
            status = 400
        response = Response(self.encode_json(response_data), status, media_type=media_type)
        for name, value in sub_response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    async def process_result(self, request: Request, result: Any) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {}
        # A request that never executed (unparsable, invalid) has no `data` entry at all.
        if not isinstance(result, PreExecutionError):
            data["data"] = result.data
        if result.errors:
            data["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data
