"""Reading a query's selection ahead of execution (for look-ahead prefetching)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def fields_of(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, with fragments flattened."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from fields_of(selection.selections)


def child_fields(selections: Iterable[Selection], name: str) -> list[SelectedField]:
    """Every selection of field `name` directly under these selections (aliases included)."""
    return [field for field in fields_of(selections) if field.name == name]


def descend(selections: Iterable[Selection], *path: str) -> list[Selection]:
    """The merged sub-selections found by following field names, e.g. ("edges", "node")."""
    current: list[Selection] = list(selections)
    for name in path:
        current = [s for field in child_fields(current, name) for s in field.selections]
    return current


def selects(selections: Iterable[Selection], name: str) -> bool:
    return any(True for _ in child_fields(selections, name))


def any_argument(selections: Iterable[Selection], argument: str) -> bool:
    """Whether any field in the tree below passes this argument (e.g. `currency`)."""
    for field in fields_of(selections):
        if field.arguments.get(argument) is not None or any_argument(field.selections, argument):
            return True
    return False
