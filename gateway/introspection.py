"""Who may introspect the schema (`__schema`, `__type`): INTROSPECTION = on | authenticated | off.

The decision depends on the viewer, so it cannot be a validation rule (the validation cache
would share one viewer's answer with the next): it is an extension that looks at the document
once validation has run and refuses before anything executes, with INTROSPECTION_DISABLED.
A client that may not introspect gets no "Did you mean …?" suggestions either.
`__typename` is not introspection: clients add it everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from gateway.limits import refuse_before_execution

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


def introspects(document: DocumentNode) -> bool:
    """Whether any operation or fragment of the document selects `__schema` or `__type`."""
    pending: list[SelectionSetNode] = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, FieldNode) and node.name.value in INTROSPECTION_FIELDS:
                return True
            if isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set:
                pending.append(node.selection_set)
    return False


# graphql-core's "Did you mean …?" (pyutils.did_you_mean), always at the end of a message: the
# names it suggests are the schema, told to whoever guesses near them.
_SUGGESTION = re.compile(r" Did you mean (?:[a-z ]+ )?'[^']*'(?:, '[^']*')*(?:,? or '[^']*')?\?$")


def without_suggestions(errors: list[GraphQLError]) -> None:
    """Drop the suggestions from each error's message, in place."""
    for error in errors:
        error.message = _SUGGESTION.sub("", error.message)


class IntrospectionPolicy(SchemaExtension):
    """Refuses introspection to a viewer who may not introspect, and keeps the schema's names
    out of the suggestions its errors would otherwise make ("Did you mean 'products'?").

    graphql-core 3.3 can leave suggestions out (`hide_suggestions`), but Strawberry passes it
    neither to validation nor to execution, and the validation cache is shared by every
    viewer: so they are taken out of the answer, for both validation and variable errors."""

    def __init__(self, mode: Literal["on", "authenticated", "off"]) -> None:
        self.mode = mode

    def _may_introspect(self) -> bool:
        if self.mode != "authenticated":
            return self.mode == "on"
        viewer = getattr(self.execution_context.context, "viewer", None)
        return viewer is not None and bool(viewer.is_authenticated)

    def on_operation(self) -> Iterator[None]:
        yield
        errors = getattr(self.execution_context.result, "errors", None)
        if errors and not self._may_introspect():
            without_suggestions(errors)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Over WebSocket each result leaves before `on_operation` resumes.
        errors = getattr(result, "errors", None)
        if errors and not self._may_introspect():
            without_suggestions(errors)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and introspects(document) and not self._may_introspect():
            if self.mode == "off":
                message = "introspection is disabled on this server"
            else:
                message = "introspection is for signed-in clients: send an access token"
            refuse_before_execution(
                context, GraphQLError(message, extensions={"code": "INTROSPECTION_DISABLED"})
            )
        yield


def introspection_extensions(mode: Literal["on", "authenticated", "off"]) -> list[Any]:
    """The schema extensions INTROSPECTION asks for (none when it is on)."""
    if mode == "on":
        return []
    return [lambda: IntrospectionPolicy(mode)]
