"""Request limits: body size (enforced while the body streams in) and input hygiene."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from graphql import GraphQLError, ValidationContext, ValidationRule
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext


def contains_nul(value: object) -> bool:
    """Whether a NUL character hides anywhere in a document or a variables value."""
    if isinstance(value, str):
        # A GraphQL string literal may also spell it as an escape.
        return "\x00" in value or "\\u0000" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


def refuse_before_execution(context: ExecutionContext, error: GraphQLError) -> None:
    """Answer the operation with `error` instead of running it. Called from `on_validate`
    (after the validation cache): Strawberry then replies on every transport as it does to a
    validation error, where an exception raised from a hook would end a WebSocket operation
    with a bare `complete`."""
    context.pre_execution_errors = [error, *(context.pre_execution_errors or [])]


class RefuseNulCharacters(SchemaExtension):
    """PostgreSQL cannot store NUL in text and no client has a reason to send one: refuse it
    up front instead of failing deep in a statement."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if contains_nul(context.query) or contains_nul(context.variables):
            refuse_before_execution(
                context,
                GraphQLError(
                    "NUL characters (\\u0000) are not accepted",
                    extensions={"code": "BAD_USER_INPUT"},
                ),
            )
        yield


def reports_too_complex(rule: type[ValidationRule]) -> type[ValidationRule]:
    """The same validation rule, its errors coded QUERY_TOO_COMPLEX (a limit, not a typo)."""

    class TooComplexRule(rule):  # type: ignore[valid-type,misc]
        # Strawberry's depth and alias rules report straight to the context, from __init__.
        def __init__(self, context: ValidationContext) -> None:
            report = context.report_error

            def report_coded(error: GraphQLError) -> None:
                error.extensions = {**(error.extensions or {}), "code": "QUERY_TOO_COMPLEX"}
                report(error)

            context.report_error = report_coded  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                del context.report_error

    TooComplexRule.__name__ = rule.__name__
    return TooComplexRule


class BodyTooLargeError(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if not response_started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "errors": [
                    {
                        "message": f"request body is larger than {self.max_bytes} bytes",
                        "extensions": {"code": "BAD_USER_INPUT"},
                    }
                ]
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
