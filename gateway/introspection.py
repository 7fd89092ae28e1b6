"""Who may introspect the schema (`__schema`, `__type`): INTROSPECTION = on | authenticated | off.

The decision depends on the viewer, so it cannot be a validation rule (the validation cache
would share one viewer's answer with the next): it is an extension that looks at the document
once validation has run and refuses before anything executes, with INTROSPECTION_DISABLED.
`__typename` is not introspection: clients add it everywhere.
"""

from __future__ import annotations

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


class IntrospectionPolicy(SchemaExtension):
    def __init__(self, mode: Literal["on", "authenticated", "off"]) -> None:
        self.mode = mode

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if self.mode != "on" and document is not None and introspects(document):
            viewer = getattr(context.context, "viewer", None)
            signed_in = viewer is not None and viewer.is_authenticated
            if self.mode == "off":
                message = "introspection is disabled on this server"
            elif not signed_in:
                message = "introspection is for signed-in clients: send an access token"
            else:
                message = ""
            if message:
                refuse_before_execution(
                    context,
                    GraphQLError(message, extensions={"code": "INTROSPECTION_DISABLED"}),
                )
        yield


def introspection_extensions(mode: Literal["on", "authenticated", "off"]) -> list[Any]:
    """The schema extensions INTROSPECTION asks for (none when it is on)."""
    if mode == "on":
        return []
    return [lambda: IntrospectionPolicy(mode)]
