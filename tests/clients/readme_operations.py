"""The README's GraphQL examples as named operations, for client tool chains that need names
(relay-compiler wants `<Module>…Query`, Code Generator a name per persisted document)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from graphql import NameNode, OperationDefinitionNode, parse, print_ast

README = Path(__file__).resolve().parents[2] / "README.md"

SUFFIX = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


def readme_operations(prefix: str = "Readme") -> dict[str, str]:
    """Every operation of the README's ```graphql blocks, in order, by its name: the README's
    own name or its first root field, after `prefix`, ending in Query/Mutation/Subscription."""
    operations: dict[str, str] = {}
    for block in re.findall(r"```graphql\n(.*?)```", README.read_text(), re.DOTALL):
        for definition in parse(block).definitions:
            assert isinstance(definition, OperationDefinitionNode)
            kind = SUFFIX[definition.operation.value]
            own = definition.name.value if definition.name else None
            if own is None:
                root = definition.selection_set.selections[0]
                own = root.name.value  # type: ignore[attr-defined]
            base = f"{prefix}{own[0].upper()}{own[1:]}"
            name = f"{base}{kind}"
            number = 2
            while name in operations:
                name, number = f"{base}{number}{kind}", number + 1
            operations[name] = print_ast(replace(definition, name=NameNode(value=name)))
    return operations
