"""Request limits: body size (enforced while the body streams in), input hygiene, root fields
per operation, batch size and execution time."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from functools import lru_cache
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    Visitor,
    visit,
)
from graphql.language import BREAK
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

# Half of a UTF-16 pair with no other half: JSON's "\ud800" decodes to one, but it is no
# character, so neither PostgreSQL nor a JSON answer can carry it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    """What makes `text` unfit to store or answer, or None."""
    if "\x00" in text:
        return "a NUL character (\\u0000), which is not accepted"
    if not text.isascii() and _LONE_SURROGATE.search(text):
        return "a lone surrogate (not valid Unicode text)"
    return None


def _printable(name: str) -> str:
    """A client's key as it can appear in a message (lone surrogates written as escapes)."""
    return name.encode("utf-8", "backslashreplace").decode()


def invalid_variable_text(variables: Mapping[str, Any]) -> str | None:
    """Why a string anywhere inside `variables` (values and keys, at any depth) cannot be
    accepted, naming the variable and the path into it; None when all is well. Iterative: a
    deeply nested value must not exhaust the interpreter's recursion."""
    pending: list[tuple[str, Any]] = []
    for name, value in variables.items():
        if (problem := _text_problem(name)) is not None:
            return f"the name of variable ${_printable(name)} contains {problem}"
        pending.append((f"${name}", value))
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            if (problem := _text_problem(value)) is not None:
                return f"variable {where} contains {problem}"
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and (problem := _text_problem(key)) is not None:
                    return f"variable {where} has a key that contains {problem}"
                pending.append((f"{where}.{key}", item))
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
    return None


NUL_IN_DOCUMENT = "NUL characters (\\u0000) are not accepted"


def invalid_document_text(text: str, document: DocumentNode | None) -> str | None:
    """Why the document cannot be accepted, or None. A lone surrogate never gets here: the
    parser refuses one anywhere in a document, raw or as an escape."""
    # The lexer accepts a raw NUL anywhere (comments too): refused in the text.
    if "\x00" in text:
        return NUL_IN_DOCUMENT
    # A string literal may spell NUL as an escape ("\u0000", "\u{0}"); only its decoded value
    # says so, not the six characters (a comment, a block string or "\\u0000" may hold those).
    # No `\u` in the text: no escape can have made one (a cheap test on the common case).
    if document is not None and "\\u" in text and _has_nul_string(document):
        return NUL_IN_DOCUMENT
    return None


class _NulStringFinder(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if "\x00" in node.value:
            self.found = True
            return BREAK
        return None


def _has_nul_string(document: DocumentNode) -> bool:
    """Whether a string value anywhere in `document` (arguments, defaults, directives)
    holds NUL once its escapes are decoded."""
    finder = _NulStringFinder()
    visit(document, finder)
    return finder.found


def refuse_before_execution(context: ExecutionContext, error: GraphQLError) -> None:
    """Answer the operation with `error` instead of running it. Called from `on_validate`
    (after the validation cache): Strawberry then replies on every transport as it does to a
    validation error, where an exception raised from a hook would end a WebSocket operation
    with a bare `complete`."""
    context.pre_execution_errors = [error, *(context.pre_execution_errors or [])]


class RefuseInvalidText(SchemaExtension):
    """Text that PostgreSQL cannot store (NUL) or that is not Unicode at all (a lone surrogate)
    has no business in a request: refuse it once, up front, instead of failing deep in a
    statement, a hash or the encoding of the answer."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        name = context.operation_name
        if isinstance(name, str) and _text_problem(name) is not None:
            # No operation can have such a name (the parser refuses it in a document): let it
            # name none, in words the answer can carry.
            context._provided_operation_name = _printable(name)  # no public setter
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        problem = invalid_document_text(
            context.query or "", context.graphql_document
        ) or invalid_variable_text(context.variables or {})
        if problem is not None:
            refuse_before_execution(
                context, GraphQLError(problem, extensions={"code": "BAD_USER_INPUT"})
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


# --- root fields, batches, execution time ----------------------------------------------------


def _root_response_keys(
    selection: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> set[str]:
    """The response keys (alias or name) an operation selects at its root, through fragments.
    Repeating a key adds nothing: the fields merge and run once."""
    keys: set[str] = set()
    for node in selection.selections:
        if isinstance(node, FieldNode):
            keys.add(node.alias.value if node.alias else node.name.value)
        elif isinstance(node, InlineFragmentNode):
            keys |= _root_response_keys(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            fragment = fragments.get(node.name.value)
            if fragment is not None:  # an unknown fragment is validation's to report
                keys |= _root_response_keys(
                    fragment.selection_set, fragments, seen | {node.name.value}
                )
    return keys


def create_root_fields_validator(maximum: int) -> type[ValidationRule]:
    """A validation rule refusing operations with more than `maximum` root fields. Each root
    field is a separate entry point (its own loaders, its own SQL): without a bound one
    request could ask for hundreds of unrelated lists at once."""

    class MaxRootFieldsValidator(ValidationRule):
        # Reports from __init__, like Strawberry's depth and alias rules (see
        # `reports_too_complex`).
        def __init__(self, context: ValidationContext) -> None:
            document = context.document
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            for operation in document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                count = len(_root_response_keys(operation.selection_set, fragments))
                if count > maximum:
                    name = f"'{operation.name.value}'" if operation.name else "the operation"
                    context.report_error(
                        GraphQLError(
                            f"{name} selects {count} root fields, more than the {maximum} "
                            "allowed: split it into several operations",
                            nodes=[operation],
                        )
                    )
            super().__init__(context)

    return MaxRootFieldsValidator


class BatchRefusedError(HTTPException):
    """A JSON array body refused as a whole (400), before any of its operations runs."""

    def __init__(self, reason: str, code: str = "BAD_USER_INPUT") -> None:
        super().__init__(400, reason)
        self.code = code


def check_batch(operations: list[Any], max_batch_size: int) -> None:
    """A batch (a JSON array of operations) is refused whole when batching is off, when it is
    empty or longer than `max_batch_size`, or when an item is not a JSON object."""
    if max_batch_size == 0:
        raise BatchRefusedError("batching is disabled: send one operation per request")
    if not operations:
        raise BatchRefusedError("an empty batch: send at least one operation")
    if len(operations) > max_batch_size:
        raise BatchRefusedError(
            f"a batch of {len(operations)} operations, more than the {max_batch_size} allowed",
            "BATCH_TOO_LARGE",
        )
    # Each item's parameters are checked next, by gateway.http.request_data, still before any
    # operation runs.
    for index, item in enumerate(operations):
        if not isinstance(item, dict):
            raise BatchRefusedError(f"batch item {index} is not a JSON object")


class ExecutionTimeLimit(SchemaExtension):
    """Cancels a query or mutation still running after `seconds` and answers TIMEOUT.

    Only execution is timed (parsing and validation are bounded by MAX_TOKENS). Cancelling a
    mutation inside its transaction rolls the transaction back; one cancelled while committing
    may have committed: a retry with the same idempotency key tells. Subscriptions are
    long-lived by design and exempt."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            yield
            return
        try:
            async with asyncio.timeout(self.seconds):
                yield
        except TimeoutError:
            raise GraphQLError(
                f"the operation ran longer than {self.seconds:g} s and was cancelled: ask for "
                "less, or try again later",
                extensions={"code": "TIMEOUT"},
            ) from None


# --- fragment expansion ----------------------------------------------------------------------

# Fragments let a short document stand for a huge one: `fragment F1 on Query { ...F2 ...F2 }`
# chained 40 times is 2^40 selections in a few hundred tokens. Execution collects each fragment
# once, but the depth, alias and cost rules walk every path: such a document would hold the
# worker for hours. So the expanded size is measured first, in one memoized pass.
MAX_EXPANDED_SELECTIONS = 10_000
# A chain of fragments deeper than this is not a real client's (and would exhaust the
# interpreter's recursion in the rules that follow it).
MAX_FRAGMENT_NESTING = 50


class _TooDeepError(Exception):
    pass


def expanded_selections(document: DocumentNode) -> int | None:
    """How many selections the document's operations hold once every fragment spread is
    replaced by its fragment; None when fragments nest deeper than MAX_FRAGMENT_NESTING."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}
    open_fragments: list[str] = []

    def fragment_size(name: str) -> int:
        if name in sizes:
            return sizes[name]
        fragment = fragments.get(name)
        if fragment is None or name in open_fragments:  # unknown or a cycle: validation's
            return 0
        if len(open_fragments) >= MAX_FRAGMENT_NESTING:
            raise _TooDeepError
        open_fragments.append(name)
        size = selection_size(fragment.selection_set)
        open_fragments.pop()
        sizes[name] = size
        return size

    def selection_size(selection: SelectionSetNode | None) -> int:
        total = 0
        for node in selection.selections if selection else ():
            total += 1
            if isinstance(node, FieldNode | InlineFragmentNode):
                total += selection_size(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                total += fragment_size(node.name.value)
        return total

    try:
        return sum(
            selection_size(d.selection_set)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        )
    except (_TooDeepError, RecursionError):
        return None


@lru_cache
def _refusal_rule(message: str) -> type[ValidationRule]:
    """A validation rule that only reports `message` (one class per message, so the validation
    cache keeps working)."""

    class Refused(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            context.report_error(GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX"}))

    return Refused


class FragmentExpansionLimit(SchemaExtension):
    """Refuses documents whose fragments expand past MAX_EXPANDED_SELECTIONS (or nest past
    MAX_FRAGMENT_NESTING), as a validation error. It must come before the validation cache:
    it swaps the validation rules for one that only reports the refusal, so the rules that
    walk every path never see the document."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            size = expanded_selections(context.graphql_document)
            if size is None:
                message = f"fragments nest more than {MAX_FRAGMENT_NESTING} deep"
            elif size > MAX_EXPANDED_SELECTIONS:
                message = (
                    "the document expands through its fragments to more than the "
                    f"{MAX_EXPANDED_SELECTIONS} selections allowed: spread fragments fewer times"
                )
            else:
                message = ""
            if message:
                context.validation_rules = (_refusal_rule(message),)
        yield
