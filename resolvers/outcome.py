"""What a mutation did: the key of the object it changed, or the problems that stopped it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from domain.problems import Problem


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a mutation did: the affected object's key, or the problems that stopped it."""

    key: uuid.UUID | None = None
    problems: list[Problem] = field(default_factory=list)
