"""The GraphQL endpoint: POST/GET over HTTP and both WebSocket protocols.

Strawberry's ASGI view has no context getter argument, answers `application/json` with 200
for everything and renders its HTTP errors as plain text; this subclass builds our Context,
negotiates the GraphQL-over-HTTP media type, and answers every refusal as a GraphQL error.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from typing import Any, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from auth.tokens import InvalidTokenError, decode_access_token
from auth.viewer import ANONYMOUS, Viewer
from gateway import graphiql
from gateway.limits import BatchRefusedError, check_batch, refuse_before_execution
from gateway.metrics import websocket_connection
from gateway.persisted import (
    PersistedQueries,
    PersistedRequestData,
    Reply,
    asks_for_the_document,
    resolve_subscribe_message,
)
from gateway.rate_limit import throttled_retry_after
from gateway.response_cache import ResponseCache
from schema import Context, Services, new_context

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# WebSocket close code for a client sending messages faster than allowed (graphql-ws uses 4429
# for "too many" too).
TOO_MANY_MESSAGES = 4429


# A JSON body nested deeper than this is refused before anything reads it: real requests nest
# a few levels, and the recursive code downstream (JSON decoding, variable coercion) would
# exhaust the interpreter's recursion on ~1 000 levels sent in 2 KB.
MAX_JSON_NESTING = 64


def error_body(message: str, code: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


def negotiated_media_type(accept: str) -> str:
    """GraphQL over HTTP: the new media type when the client accepts it, else the legacy
    application/json (whose refusals answer 200 where the new type's answer 4xx)."""
    return GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in accept else "application/json"


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether JSON arrays and objects nest deeper than `limit` in `value` (without recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        children: Iterable[object] = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False


def not_json_constant(name: str) -> object:
    """Python's json reads NaN, Infinity and -Infinity, which are not JSON (and would be written
    back as null, so `{"first": NaN}` would pass for `{"first": null}`)."""
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def finite_float(text: str) -> float:
    """A JSON number as a float, refused when beyond float range (`1e999` would be infinity,
    which is not JSON either)."""
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError("a number beyond the float range", text, 0)
    return value


def request_data(item: dict[str, Any]) -> PersistedRequestData:
    """One operation of a request (a JSON object), its parameters checked per GraphQL over HTTP
    before anything runs: `query`, `operationName` and `documentId` strings, `variables` and
    `extensions` objects, each may be null."""
    for key, kind, name in (
        ("query", str, "a string"),
        ("operationName", str, "a string"),
        ("documentId", str, "a string"),
        ("variables", dict, "an object"),
        ("extensions", dict, "an object"),
    ):
        value = item.get(key)
        if value is not None and not isinstance(value, kind):
            raise HTTPException(400, f"The GraphQL operation's `{key}` must be {name} or null")
    return PersistedRequestData(
        query=item.get("query"),
        variables=item.get("variables"),
        operation_name=item.get("operationName"),
        extensions=item.get("extensions"),
        document_id=item.get("documentId"),
    )


def is_request_error(result: Any) -> bool:
    """An ExecutionResult that is a request error although it went to the executor: no data,
    and no error with a path (every field error has one)."""
    errors = result.errors or ()
    return result.data is None and bool(errors) and all(error.path is None for error in errors)


def error_codes(response_data: Mapping[str, Any]) -> set[object]:
    return {
        (error.get("extensions") or {}).get("code")
        for error in response_data.get("errors") or ()
        if isinstance(error, dict)
    }


# What each method may run. Strawberry also allows subscriptions over HTTP (for streaming
# transports this endpoint does not offer): run as a query, one failed as an internal error.
OPERATIONS_BY_METHOD = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}


class MethodNotAllowedError(HTTPException):
    """A mutation sent over GET: 405 with `Allow: POST` (GraphQL over HTTP)."""

    def __init__(self, reason: str) -> None:
        super().__init__(405, reason)


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
        view = cast(GatewayView, self.view)
        settings = view.services.settings
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
            # A subscribe message may name its document by id (gateway/persisted.py).
            resolved = await resolve_subscribe_message(view.persisted_queries, message)
            if isinstance(resolved, Reply):
                await self.send_json(resolved.message)
                continue
            yield resolved

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GatewayView(GraphQL[Context, None]):
    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(
        self,
        schema: Any,
        services: Services,
        response_cache: ResponseCache | None = None,
        persisted_queries: PersistedQueries | None = None,
        **options: Any,
    ) -> None:
        super().__init__(schema, **options)
        self.services = services
        self.response_cache = response_cache
        self.persisted_queries = persisted_queries or PersistedQueries.from_settings(
            services.settings, services.redis
        )
        # More operations on one socket are refused with an error message (Strawberry's).
        self.max_subscriptions_per_connection = services.settings.max_subscriptions_per_connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket (the only other route to this view)
            with websocket_connection():
                await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        # One id per HTTP request (a batch's operations share it), echoed in X-Request-Id so a
        # client can quote it; the logs and masked errors carry the same.
        request.state.request_id = request_id(request.headers.get("x-request-id"))
        try:
            response = await self.run(request)
        except HTTPException as error:
            status = error.status_code
            if error.reason == "Unsupported content type":
                status = 415
            response = Response(
                error_body(error.reason, getattr(error, "code", "BAD_USER_INPUT")),
                status_code=status,
                media_type=negotiated_media_type(request.headers.get("accept", "")),
            )
            if status == 405:  # RFC 9110: say which methods would do
                mutation_over_get = isinstance(error, MethodNotAllowedError)
                response.headers["Allow"] = "POST" if mutation_over_get else "GET, POST"
        # GraphQL answers are not for HTTP caches, except the public catalog reads that the
        # response cache labels itself.
        response.headers.setdefault("cache-control", "no-store")
        response.headers["X-Request-Id"] = request.state.request_id
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
                    media_type=negotiated_media_type(request.headers.get("accept", "")),
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            if self.response_cache is not None:
                return await self.response_cache.serve(self, request, super().run)
        return await super().run(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        is_websocket = isinstance(request, WebSocket)
        viewer = ANONYMOUS if is_websocket else request.state.viewer
        # A WebSocket has one id for its whole life; an HTTP request got its own in __call__.
        supplied = getattr(request.state, "request_id", None)
        return new_context(
            self.services,
            viewer,
            supplied or request_id(request.headers.get("x-request-id")),
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

    # Our self-hosted GraphiQL page (gateway/graphiql.py) instead of Strawberry's CDN one.
    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        params = request.query_params
        if params.get("extensions") is not None or params.get("documentId") is not None:
            return False  # a persisted query by hash
        return graphiql.wants_ide(request, enabled=self.graphql_ide is not None)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page(request)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiated_media_type(request.headers.get("accept", ""))
        return sub_response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """JSON text (a body, a GET parameter, a WebSocket message) as Python values; any text
        that is not JSON (NaN and Infinity included), not UTF-8, nested deeper than
        MAX_JSON_NESTING or holding a number Python will not read (over 4 300 digits, or beyond
        the float range) is a JSONDecodeError, which each caller answers as the client's
        mistake (a WebSocket handler as a message that is not JSON)."""
        try:
            decoded = json.loads(data, parse_constant=not_json_constant, parse_float=finite_float)
        except json.JSONDecodeError:
            raise
        except UnicodeDecodeError:
            raise json.JSONDecodeError("not UTF-8", "", 0) from None
        except ValueError:  # the only other: an integer beyond Python's 4 300 digits
            raise json.JSONDecodeError("a number with too many digits", "", 0) from None
        except RecursionError:
            decoded = None
        else:
            if not nested_deeper_than(decoded, MAX_JSON_NESTING):
                return decoded
        raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_NESTING} levels", "", 0)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except json.JSONDecodeError as error:
            raise HTTPException(400, f"Unable to parse request body as JSON: {error.msg}") from None
        # Strawberry calls `.get` on whatever the body decodes to: a bare number, string or
        # null would escape as an AttributeError (a 500), so refuse it here as a 400.
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "Expected a JSON object")
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """The request's operations: GET parameters or a JSON body (an object, or an array of
        them: a batch). Strawberry's own reading drops `documentId` and lets an `operationName`
        of any JSON type through to the executor, so the endpoint reads requests itself."""
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "GET":
            data = self.parse_query_params(request.query_params)
        elif "application/json" in content_type:
            data = self.parse_json(await request.get_body())
        else:
            raise HTTPException(400, "Unsupported content type")  # answered as 415
        if isinstance(data, list):
            self._validate_batch_request(data, protocol="http")
            operations = []
            for index, item in enumerate(data):
                try:
                    operations.append(request_data(item))
                except HTTPException as error:  # one malformed item refuses the batch whole
                    raise BatchRefusedError(f"batch item {index}: {error.reason}") from None
            return operations
        return request_data(data)

    def _validate_batch_request(
        self, request_data: list[Any], protocol: GraphQLRequestProtocol
    ) -> None:
        # Strawberry's hook for a JSON array body, before any operation runs: ours refuses it
        # whole when batching is off, the batch too large (BATCH_TOO_LARGE) or an item
        # malformed, then Strawberry's own checks.
        batching = self.schema.config.batching_config  # MAX_BATCH_SIZE (server.build_schema)
        check_batch(request_data, batching["max_operations"] if batching else 0)
        super()._validate_batch_request(request_data, protocol)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: Any,
        sub_response: Response,
    ) -> Any:
        if not isinstance(request_data, list):
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )

        # A batch: its operations run at once, each as if it had come alone (its own context
        # and loaders, limits, cost, authorization, transaction); one operation's mistake is
        # its own error in the answer, not a failure of the others.
        async def run_alone(data: GraphQLRequestData) -> Any:
            own_context = await self.get_context(request, sub_response)
            try:
                return await self.execute_single(
                    request, request_adapter, sub_response, own_context, root_value, data
                )
            except HTTPException as error:
                refusal = GraphQLError(error.reason, extensions={"code": "BAD_USER_INPUT"})
                return PreExecutionError(data=None, errors=[refusal])

        return await asyncio.gather(*(run_alone(data) for data in request_data))

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> Any:
        # Persisted queries (gateway/persisted.py): the document by its hash, or the error
        # that answers the request before anything is parsed.
        resolved = await self.persisted_queries.resolve(request_data)
        if isinstance(resolved, GraphQLError):
            return PreExecutionError(data=None, errors=[resolved])
        data = resolved.request
        try:
            result = await self.schema.execute(
                data.query,
                root_value=root_value,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=OPERATIONS_BY_METHOD[request.method],
                operation_extensions=data.extensions,
            )
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason()) from error
        except InvalidOperationTypeError as error:
            reason = error.as_http_error_reason(request.method)
            if error.operation_type is OperationType.MUTATION:  # over GET
                raise MethodNotAllowedError(reason) from error
            if error.operation_type is OperationType.SUBSCRIPTION:
                reason += ": subscribe over a WebSocket (graphql-transport-ws)"
            raise HTTPException(400, reason) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error
        await self.persisted_queries.remember(resolved, result)
        return result

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
            and not asks_for_the_document(response_data)
        ):
            # An operation cancelled for running too long is the server's failure to answer
            # in time, and one that failed before executing (a hook threw) is the server's
            # fault: neither is a bad request.
            codes = error_codes(response_data)
            if "INTERNAL_SERVER_ERROR" in codes:
                status = 500
            elif "TIMEOUT" in codes:
                status = 504
            else:
                status = 400
        # Throttled (the cost bucket is short): 429 under the new media type (legacy
        # application/json keeps 200), and Retry-After either way.
        retry_after = throttled_retry_after(response_data)
        if retry_after is not None and status == 400:
            status = 429
        response = Response(self.encode_json(response_data), status, media_type=media_type)
        for name, value in sub_response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def process_result(self, request: Request, result: Any) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {}
        # A request that never executed (unparsable, invalid, or its variables could not be
        # coerced: graphql-core answers those with data null and errors without a path) has no
        # `data` entry at all.
        if not isinstance(result, PreExecutionError) and not is_request_error(result):
            data["data"] = result.data
        if result.errors:
            data["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data
