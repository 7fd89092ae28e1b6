"""Every top-level error gets an `extensions.code`; unexpected exceptions are masked.

Validation, parse and argument errors are the client's (BAD_USER_INPUT); permission and our
own typed errors keep their codes; anything else becomes INTERNAL_SERVER_ERROR with a request
id, its stack trace only in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext

log = logging.getLogger("gateway.errors")

INTERNAL_MESSAGE = "Internal server error. Quote the requestId when reporting it."

# What Strawberry wraps as `original_error` when a request names no runnable operation (over
# HTTP they are 400s; over WebSocket they arrive as errors): the client's, not incidents.
CLIENT_EXCEPTIONS = (
    GraphQLError,
    MissingQueryError,
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)


def is_unexpected(error: GraphQLError) -> bool:
    """True for exceptions our code did not raise on purpose (bugs, outages)."""
    original = error.original_error
    return original is not None and not isinstance(original, CLIENT_EXCEPTIONS)


def _request_id(context: Any) -> str | None:
    return getattr(context, "request_id", None)


def classify(error: GraphQLError, context: Any) -> GraphQLError:
    if is_unexpected(error):
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": _request_id(context)},
        )
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, GraphQLError) and original.extensions:
        extensions = {**original.extensions, **extensions}
    extensions.setdefault("code", "BAD_USER_INPUT")
    error.extensions = extensions
    return error


class ErrorPolicy(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            raise  # no runnable operation named: the view answers 400 or 405
        except Exception as error:
            # An error raised out of another extension's hook escapes the operation and
            # Strawberry returns it as is (an exception as its bare message): give a client
            # error its code in place, and mask anything else before it leaves.
            context = self.execution_context.context
            if isinstance(error, GraphQLError) and not is_unexpected(error):
                classify(error, context)
                raise
            original = error.original_error if isinstance(error, GraphQLError) else error
            raise GraphQLError(
                INTERNAL_MESSAGE,
                original_error=original,  # logged with its stack by GatewaySchema.process_errors
                extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": _request_id(context)},
            ) from error
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            context = self.execution_context.context
            result.errors = [classify(error, context) for error in errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Over WebSocket (`Schema.stream`) each result goes out while the operation is still
        # open, before `on_operation` resumes: classify and mask it here, before it is sent.
        errors = getattr(result, "errors", None)
        if errors:
            context = self.execution_context.context
            result.errors = [classify(error, context) for error in errors]
        yield


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Client mistakes and permission denials are answers, not incidents: log only the
        # unexpected, with the stack, the request id, the operation and the viewer.
        for error in errors:
            if not is_unexpected(error):
                continue
            context = execution_context.context if execution_context else None
            viewer = getattr(context, "viewer", None)
            log.error(
                "unexpected error in %s",
                execution_context.operation_name if execution_context else None,
                exc_info=error.original_error,
                extra={
                    "request_id": _request_id(context),
                    "operation": execution_context.operation_name if execution_context else None,
                    "viewer": str(getattr(viewer, "user_id", None)),
                    "path": error.path,
                },
            )
