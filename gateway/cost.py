"""Static query cost, in the style of Shopify's Admin API, checked before execution.

Scalars and enums cost 0, an object 1, a connection 2 + `first`/`last` (default 20) times the cost
of one node, another list its estimated size times the cost of one item, a mutation field 10 on
top. Nested connections multiply. A request over the maximum is refused (QUERY_TOO_COMPLEX);
every answer carries `extensions.cost`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from gateway.limits import refuse_before_execution
from schema.common import MAX_PAGE_SIZE

DEFAULT_PAGE_SIZE = 20
MUTATION_COST = 10
# Plain (non-connection) lists are bounded by the domain; these are the sizes we charge for.
LIST_SIZE_ESTIMATES: Mapping[str, int] = {
    "variants": 4,
    "priceTiers": 4,
    "stockLevels": 5,
    # The category tree is read whole (at most 1 000 nodes, one statement): charge the roots,
    # not an estimate per level, which would grow exponentially with depth.
    "categories": 50,
    "children": 1,
    "lines": 20,
    "history": 10,
    # The versions of one negotiation (offers and counter-offers).
    "quotes": 5,
    "orders": 5,
    "entries": 100,
    "warehouses": 10,
    "userErrors": 0,
}
DEFAULT_LIST_SIZE = 10


def _unwrap(type_: Any) -> tuple[Any, bool]:
    """The named type and whether a list wraps it."""
    is_list = False
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


class QueryCost:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def of_operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        extra = MUTATION_COST if operation.operation == OperationType.MUTATION else 0
        return extra * self._count_fields(operation.selection_set) + self._selection(
            root, operation.selection_set, frozenset()
        )

    def _count_fields(self, selection: SelectionSetNode) -> int:
        return sum(1 for node in selection.selections if isinstance(node, FieldNode))

    def _argument(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value = argument.value
                if isinstance(value, VariableNode):
                    raw = self.variables.get(value.name.value)
                else:
                    raw = value_from_ast_untyped(value, dict(self.variables))
                return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        return None

    def _selection(
        self, parent: Any, selection: SelectionSetNode | None, seen: frozenset[str]
    ) -> int:
        if selection is None:
            return 0
        total = 0
        for node in selection.selections:
            if isinstance(node, FieldNode):
                total += self._field(parent, node, seen)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self._selection(target, node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # cycles are refused by validation
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self._selection(target, fragment.selection_set, seen | {name})
        return total

    def _field(self, parent: Any, node: FieldNode, seen: frozenset[str]) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, (GraphQLObjectType, GraphQLInterfaceType)
        ):
            return 0
        definition: GraphQLField | None = parent.fields.get(name)
        if definition is None:
            return 0
        named, is_list = _unwrap(definition.type)
        if not isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
            return 0
        if named.name.endswith("Connection"):
            size = self._argument(node, "first") or self._argument(node, "last")
            # Larger pages are refused by the field itself, with a clearer message.
            size = DEFAULT_PAGE_SIZE if size is None else min(max(size, 0), MAX_PAGE_SIZE)
            return 2 + size * self._connection_node(named, node, seen)
        one = 1 + self._selection(named, node.selection_set, seen)
        return one * LIST_SIZE_ESTIMATES.get(name, DEFAULT_LIST_SIZE) if is_list else one

    def _connection_node(self, connection: Any, node: FieldNode, seen: frozenset[str]) -> int:
        """The cost of one edge: its node, plus the rest of the connection's selection."""
        edges = connection.fields["edges"]
        edge_type = get_named_type(edges.type)
        per_edge = 0
        for selected in self._flatten(node.selection_set, seen):
            if selected.name.value == "edges":
                for inner in self._flatten(selected.selection_set, seen):
                    if inner.name.value == "node":
                        node_type = get_named_type(edge_type.fields["node"].type)
                        per_edge += 1 + self._selection(node_type, inner.selection_set, seen)
        return per_edge

    def _flatten(
        self, selection: SelectionSetNode | None, seen: frozenset[str]
    ) -> Iterator[FieldNode]:
        if selection is None:
            return
        for node in selection.selections:
            if isinstance(node, FieldNode):
                yield node
            elif isinstance(node, InlineFragmentNode):
                yield from self._flatten(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    yield from self._flatten(fragment.selection_set, seen | {node.name.value})


def requested_cost(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: Mapping[str, Any]
) -> int | None:
    """The cost of the operation the request runs (None when there is no single one)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return QueryCost(schema, fragments, variables).of_operation(operations[0])


class CostLimit(SchemaExtension):
    """Refuses requests over `maximum` before they run and reports the cost of every request."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.cost: int | None = None

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and not context.pre_execution_errors:
            self.cost = requested_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables or {},
            )
            if self.cost is not None and self.cost > self.maximum:
                refuse_before_execution(
                    context,
                    GraphQLError(
                        f"the query costs {self.cost}, more than the {self.maximum} allowed: "
                        "ask for fewer items (first/last) or fewer nested lists",
                        extensions={
                            "code": "QUERY_TOO_COMPLEX",
                            "cost": {"requestedQueryCost": self.cost, "maximum": self.maximum},
                        },
                    ),
                )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requestedQueryCost": self.cost, "maximumAvailable": self.maximum}}
