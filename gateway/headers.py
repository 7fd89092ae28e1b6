"""Response headers every HTTP answer carries, and CORS for the configured frontends."""

from __future__ import annotations

import logging

import orjson
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import INTERNAL_MESSAGE
from gateway.http import request_id

log = logging.getLogger("gateway.errors")

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


# Request headers a browser may send cross-origin: ours, and those of the client libraries
# frontends use (Apollo Client's client awareness, W3C trace context and baggage, Sentry).
ALLOWED_REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "x-request-id",
    "apollographql-client-name",
    "apollographql-client-version",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
)
# Response headers a browser script may read (fetch hides all but a few otherwise).
EXPOSED_RESPONSE_HEADERS = ("Retry-After", "X-Cache", "X-Request-Id")
# How long a browser may reuse a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = 600


def internal_error_body(rid: str) -> bytes:
    """The body of a masked error (gateway/errors.py) that escaped the schema."""
    error = {
        "message": INTERNAL_MESSAGE,
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
    }
    return orjson.dumps({"errors": [error]})


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (not to WebSocket handshakes). The
    outermost middleware, so CORS preflights and the 500 of UnexpectedErrorAnswer get them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class UnexpectedErrorAnswer:
    """Answers an unexpected exception (a bug outside the schema) with a GraphQL error body and
    the request's X-Request-Id, and logs it with its stack and the same id.

    Starlette would answer it from outside every middleware (its ServerErrorMiddleware): a
    bare 500 without the security headers, without CORS headers (a browser could not read
    it) and without an id to quote. So this sits inside both (server.create_app)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as error:
            if started:  # too late to answer: the server drops the connection and logs it
                raise
            # The id the view gave this request (gateway/http.py), else the one it would give.
            state = scope.get("state") or {}
            supplied = Headers(scope=scope).get("x-request-id")
            rid = state.get("request_id") or request_id(supplied)
            log.error(
                "unexpected error answering %s %s",
                scope.get("method"),
                scope.get("path"),
                exc_info=error,
                extra={"request_id": rid},
            )
            body = internal_error_body(rid)
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"cache-control", b"no-store"),
                        (b"x-request-id", rid.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


def cors(
    allowed_origins: tuple[str, ...], allowed_headers: tuple[str, ...] = ()
) -> list[Middleware]:
    """CORS for the listed frontends only (none listed: no cross-origin browser access), with
    ALLOWED_REQUEST_HEADERS and the operator's `allowed_headers`. Credentials travel in the
    Authorization header, never in cookies."""
    if not allowed_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=sorted({*ALLOWED_REQUEST_HEADERS, *allowed_headers}),
            expose_headers=list(EXPOSED_RESPONSE_HEADERS),
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE,
        )
    ]
