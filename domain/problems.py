"""A client's mistake found by a rule: where in the input, what is wrong, and a stable code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    path: tuple[str, ...]
    message: str
    # A UserErrorCode name: INVALID, NOT_FOUND, FORBIDDEN, CONFLICT, ...
    code: str = "INVALID"

    def under(self, *prefix: str) -> Problem:
        """The same problem with its path nested under `prefix` (e.g. "input", "variants", "0")."""
        return Problem((*prefix, *self.path), self.message, self.code)


def nest(problems: Sequence[Problem], *prefix: str) -> list[Problem]:
    return [problem.under(*prefix) for problem in problems]
