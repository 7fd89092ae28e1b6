"""Response headers every HTTP answer carries, and CORS for the configured frontends."""

from __future__ import annotations

import orjson
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

INTERNAL_ERROR_BODY = orjson.dumps(
    {
        "errors": [
            {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        ]
    }
)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (not to WebSocket handshakes).

    Starlette answers an unexpected exception from outside every middleware (its
    ServerErrorMiddleware), so that 500 would lack them: this answers it here instead (a
    GraphQL error body), then lets the exception go on to be logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            if not started:
                await with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(INTERNAL_ERROR_BODY)).encode()),
                            (b"cache-control", b"no-store"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})
            raise


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
