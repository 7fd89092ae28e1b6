"""A client's mistake found by a rule: where in the input, what is wrong, and a stable code."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ProblemCode(enum.StrEnum):
    """What kind of mistake a problem is. The schema exposes exactly these as `UserErrorCode`
    (schema/common.py builds that enum from this one)."""

    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    THROTTLED = "THROTTLED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    BELOW_MINIMUM_QUANTITY = "BELOW_MINIMUM_QUANTITY"
    INVALID_QUANTITY_INCREMENT = "INVALID_QUANTITY_INCREMENT"
    ABOVE_MAXIMUM_QUANTITY = "ABOVE_MAXIMUM_QUANTITY"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    EXPIRED = "EXPIRED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    COMPLIANCE_BLOCKED = "COMPLIANCE_BLOCKED"
    DUPLICATE = "DUPLICATE"


@dataclass(frozen=True, slots=True)
class Problem:
    path: tuple[str, ...]
    message: str
    code: ProblemCode = ProblemCode.INVALID
    # With THROTTLED: how long to wait before trying again.
    retry_after_seconds: int | None = None

    def under(self, *prefix: str) -> Problem:
        """The same problem with its path nested under `prefix` (e.g. "input", "variants", "0")."""
        return Problem((*prefix, *self.path), self.message, self.code, self.retry_after_seconds)


def nest(problems: Sequence[Problem], *prefix: str) -> list[Problem]:
    return [problem.under(*prefix) for problem in problems]
