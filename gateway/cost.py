"""Query cost, in the style of Shopify's Admin API: requested before execution, actual after.

Scalars and enums cost 0, an object 1, a connection 2 + `first`/`last` (default 20) times the cost
of one node, another list its estimated size times the cost of one item, a mutation field 10 on
top. Nested connections multiply. A request over the maximum is refused (QUERY_TOO_COMPLEX).

The actual cost applies the same rules to what the result holds: the nodes a connection really
returned, a list's real length, nothing for a null. It never exceeds the requested cost (an
estimate larger than reality is not charged twice). With a rate limiter, the requested cost is
charged to the viewer's bucket before execution (THROTTLED when it cannot pay) and the difference
refunded after. Every answer carries `extensions.cost`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
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
from gateway.metrics import count_throttled
from gateway.rate_limit import RateLimiter, ThrottleStatus, bucket_key, throttled_error
from schema.common import MAX_PAGE_SIZE

log = logging.getLogger(__name__)

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


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    return operations[0] if len(operations) == 1 else None


def _fragments(document: Any) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def requested_cost(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: Mapping[str, Any]
) -> int | None:
    """The cost of the operation the request runs (None when there is no single one)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return None
    return QueryCost(schema, _fragments(document), variables).of_operation(operation)


# How one object (of a static type, under a selection) is costed: for an object type, the fields
# that can cost something, as (response key, kind, what is below), or just their keys (a tuple)
# when all of them are objects with nothing costly below; for an interface or union, an
# `_Abstract`, resolved per object. Compiled once per document and request.
_OBJECT, _LIST, _NESTED_LIST, _CONNECTION = range(4)
_Fields = list[tuple[str, int, Any]] | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Abstract:
    type_: GraphQLInterfaceType | GraphQLUnionType
    selections: tuple[SelectionSetNode, ...]


class ActualCost:
    """The cost of what a result holds, by QueryCost's rules. The document is compiled into a
    plan of the fields that can cost something; the walk then visits only those, and counts a
    list of leaf objects without visiting them (a full catalog page walks in ~1 ms)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self._plans: dict[tuple[str, tuple[int, ...]], tuple[frozenset[str], _Fields]] = {}

    def of_operation(self, operation: OperationDefinitionNode, data: Any) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        if not isinstance(data, dict):
            return 0  # nothing ran: refused (a permission directive, a null root) or failed
        extra = 0
        if operation.operation == OperationType.MUTATION:
            # A mutation field is charged for its writes when it answered; a null one was
            # refused (a permission directive) or failed, and its transaction rolled back.
            answered = [
                key
                for key, nodes in self._collect(root, (operation.selection_set,)).items()
                if not nodes[0].name.value.startswith("__") and data.get(key) is not None
            ]
            extra = MUTATION_COST * len(answered)
        return extra + self._cost(self._fields(root, (operation.selection_set,)), data)

    # --- the walk ---------------------------------------------------------------------------

    def _cost(self, target: _Fields | _Abstract, value: dict[str, Any]) -> int:
        """What the fields of one object cost (the object's own 1 is counted by its parent)."""
        fields = self._resolve(target, value) if isinstance(target, _Abstract) else target
        if isinstance(fields, tuple):
            return sum(1 for key in fields if value.get(key) is not None)
        total = 0
        for key, kind, below in fields:
            found = value.get(key)
            if found is None:
                continue
            if kind == _OBJECT:
                total += 1 + self._cost(below, found) if below else 1
            elif kind == _LIST:
                if not below:
                    total += len(found) - found.count(None)
                elif isinstance(below, tuple):
                    # Hot (price tiers, lines): counted inline rather than a call per item.
                    for item in found:
                        if item is not None:
                            total += 1
                            for leaf in below:
                                if item.get(leaf) is not None:
                                    total += 1
                else:
                    total += sum(1 + self._cost(below, item) for item in found if item is not None)
            elif kind == _NESTED_LIST:
                total += sum(
                    1 + (self._cost(below, item) if below else 0) for item in _items(found)
                )
            else:
                total += 2 + self._connection_nodes(below, found)
        return total

    def _connection_nodes(
        self, edges_plan: list[tuple[str, list[tuple[str, Any]]]], connection: dict[str, Any]
    ) -> int:
        total = 0
        for edges_key, node_plan in edges_plan:
            for edge in connection.get(edges_key) or ():
                if edge is None:
                    continue
                for node_key, below in node_plan:
                    node = edge.get(node_key)
                    if node is not None:
                        total += 1 + self._cost(below, node) if below else 1
        return total

    def _resolve(self, abstract: _Abstract, value: dict[str, Any]) -> _Fields:
        """The fields of the possible type whose selection (its fragments applied) gives
        exactly the value's keys: the result does not say its type unless asked."""
        keys = value.keys()
        for candidate in self.schema.get_possible_types(abstract.type_):
            collected, fields = self._plan(candidate, abstract.selections)
            if collected == keys:
                return fields
        return []

    # --- the plan ---------------------------------------------------------------------------

    def _target(self, type_: Any, selections: tuple[SelectionSetNode, ...]) -> _Fields | _Abstract:
        if isinstance(type_, GraphQLObjectType):
            return self._fields(type_, selections)
        return _Abstract(type_, selections)

    def _fields(
        self, runtime: GraphQLObjectType, selections: tuple[SelectionSetNode, ...]
    ) -> _Fields:
        return self._plan(runtime, selections)[1]

    def _plan(
        self, runtime: GraphQLObjectType, selections: tuple[SelectionSetNode, ...]
    ) -> tuple[frozenset[str], _Fields]:
        """Every response key of the object, and its fields that can cost something."""
        plan_key = (runtime.name, tuple(id(selection) for selection in selections))
        planned = self._plans.get(plan_key)
        if planned is not None:
            return planned
        collected = self._collect(runtime, selections)
        fields: list[tuple[str, int, Any]] = []
        for key, nodes in collected.items():
            name = nodes[0].name.value
            definition = runtime.fields.get(name)
            if definition is None or name.startswith("__"):
                continue
            named, depth = _unwrap_depth(definition.type)
            if not isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                continue
            below = tuple(node.selection_set for node in nodes if node.selection_set)
            if named.name.endswith("Connection"):
                fields.append((key, _CONNECTION, self._edges_plan(named, below)))
            elif depth == 0:
                fields.append((key, _OBJECT, self._target(named, below)))
            else:
                kind = _LIST if depth == 1 else _NESTED_LIST
                fields.append((key, kind, self._target(named, below)))
        leaves = all(kind == _OBJECT and below == [] for _, kind, below in fields)
        keys = frozenset(collected)
        planned = (
            (keys, tuple(key for key, _, _ in fields)) if fields and leaves else (keys, fields)
        )
        self._plans[plan_key] = planned
        return planned

    def _edges_plan(
        self, connection: Any, selections: tuple[SelectionSetNode, ...]
    ) -> list[tuple[str, list[tuple[str, Any]]]]:
        """Where a connection's nodes are in its answer: (edges key, [(node key, plan)])."""
        if not isinstance(connection, GraphQLObjectType) or "edges" not in connection.fields:
            return []
        edge_type = get_named_type(connection.fields["edges"].type)
        if not isinstance(edge_type, GraphQLObjectType) or "node" not in edge_type.fields:
            return []
        node_type = get_named_type(edge_type.fields["node"].type)
        plan = []
        for edges_key, edges_nodes in self._collect(connection, selections).items():
            if edges_nodes[0].name.value != "edges":
                continue
            edge_selections = tuple(n.selection_set for n in edges_nodes if n.selection_set)
            node_plan = [
                (
                    node_key,
                    self._target(
                        node_type, tuple(n.selection_set for n in nodes if n.selection_set)
                    ),
                )
                for node_key, nodes in self._collect(edge_type, edge_selections).items()
                if nodes[0].name.value == "node"
            ]
            plan.append((edges_key, node_plan))
        return plan

    def _collect(
        self, runtime: GraphQLObjectType, selections: tuple[SelectionSetNode, ...]
    ) -> dict[str, list[FieldNode]]:
        fields: dict[str, list[FieldNode]] = {}
        for selection in selections:
            self._gather(runtime, selection, fields, frozenset())
        return fields

    def _gather(
        self,
        runtime: GraphQLObjectType,
        selection: SelectionSetNode,
        fields: dict[str, list[FieldNode]],
        seen: frozenset[str],
    ) -> None:
        """graphql-core's field collection: @skip/@include and type conditions applied."""
        for node in selection.selections:
            if not self._included(node):
                continue
            if isinstance(node, FieldNode):
                key = node.alias.value if node.alias else node.name.value
                fields.setdefault(key, []).append(node)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                if condition is None or self._applies(condition.name.value, runtime):
                    self._gather(runtime, node.selection_set, fields, seen)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                fragment = self.fragments.get(node.name.value)
                if fragment is not None and self._applies(
                    fragment.type_condition.name.value, runtime
                ):
                    self._gather(runtime, fragment.selection_set, fields, seen | {node.name.value})

    def _applies(self, condition: str, runtime: GraphQLObjectType) -> bool:
        target = self.schema.get_type(condition)
        if target is runtime:
            return True
        if isinstance(target, (GraphQLInterfaceType, GraphQLUnionType)):
            return self.schema.is_sub_type(target, runtime)
        return False

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = next((a.value for a in directive.arguments if a.name.value == "if"), None)
            if isinstance(condition, VariableNode):
                flag = self.variables.get(condition.name.value)
            else:
                flag = value_from_ast_untyped(condition) if condition is not None else None
            if (name == "skip" and flag is True) or (name == "include" and flag is not True):
                return False
        return True


def _items(value: Any) -> Iterator[Any]:
    """The non-null items of a nested list."""
    for item in value:
        if isinstance(item, list):
            yield from _items(item)
        elif item is not None:
            yield item


def _unwrap_depth(type_: Any) -> tuple[Any, int]:
    """The named type and how many lists wrap it."""
    depth = 0
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        depth += isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, depth


class CostLimit(SchemaExtension):
    """Refuses requests over `maximum` before they run, charges the viewer's bucket (when there
    is a `rate_limiter`), refunds what the answer did not use, and reports the cost of every
    request."""

    def __init__(self, maximum: int, rate_limiter: RateLimiter | None = None) -> None:
        self.maximum = maximum
        self.rate_limiter = rate_limiter
        self.cost: int | None = None
        self._limiter: RateLimiter | None = None
        self._bucket = ""
        self._charged = 0
        self._status: ThrottleStatus | None = None
        self._executed = False
        self._actual: int | None = None

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and not context.pre_execution_errors:
            self.cost = requested_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables or {},
            )
            if self.cost is not None:
                await self._admit(self.cost)
        yield

    async def _admit(self, cost: int) -> None:
        context = self.execution_context
        limiter = self.rate_limiter
        # A request the bucket could never pay is too complex, not throttled: waiting won't help.
        maximum = self.maximum if limiter is None else min(self.maximum, limiter.capacity)
        if cost > maximum:
            refuse_before_execution(
                context,
                GraphQLError(
                    f"the query costs {cost}, more than the {maximum} allowed: "
                    "ask for fewer items (first/last) or fewer nested lists",
                    extensions={
                        "code": "QUERY_TOO_COMPLEX",
                        "cost": {"requestedQueryCost": cost, "maximum": maximum},
                    },
                ),
            )
            return
        if limiter is None:
            return
        viewer = getattr(context.context, "viewer", None)
        bucket = bucket_key(viewer, getattr(context.context, "request", None))
        charge = await limiter.charge(bucket, cost)
        self._status = charge.status
        if not charge.allowed:
            assert charge.status is not None
            count_throttled()
            refuse_before_execution(context, throttled_error(cost, charge.status))
            return
        self._limiter, self._bucket, self._charged = limiter, bucket, cost

    def on_execute(self) -> Iterator[None]:
        self._executed = True
        yield

    async def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        if self._actual is None:
            # Once per operation (a subscription reports on every event).
            self._actual = self._measure(self.cost)
            unused = self._charged - self._actual
            if unused > 0 and self._limiter is not None:
                self._status = await self._limiter.refund(self._bucket, unused) or self._status
        report: dict[str, Any] = {"requestedQueryCost": self.cost, "actualQueryCost": self._actual}
        if self._status is not None:
            report["throttleStatus"] = self._status.as_extension()
        return {"cost": report}

    def _measure(self, requested: int) -> int:
        if not self._executed:
            return 0  # refused, or stopped before it ran
        context = self.execution_context
        if context.graphql_document is None:
            return 0
        operation = _operation(context.graphql_document, context.operation_name)
        if operation is None:
            return 0
        if operation.operation == OperationType.SUBSCRIPTION:
            return requested  # charged once, at subscribe, whatever its events hold
        try:
            actual = ActualCost(
                context.schema._schema,
                _fragments(context.graphql_document),
                context.variables or {},
            ).of_operation(operation, getattr(context.result, "data", None))
        except Exception:  # a bug here must not cost the answer: charge what was requested
            log.exception("could not measure the actual cost; charging the requested cost")
            return requested
        return min(actual, requested)
