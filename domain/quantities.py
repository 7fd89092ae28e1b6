"""Order quantity rules of a variant: minimum, increment and an optional maximum."""

from __future__ import annotations

from dataclasses import dataclass

from domain.problems import Problem, ProblemCode


@dataclass(frozen=True, slots=True)
class QuantityRules:
    minimum: int
    increment: int
    maximum: int | None = None

    def check(self, quantity: int) -> Problem | None:
        """Why `quantity` cannot be ordered, or None. The path is ("quantity",)."""
        if quantity < 1:
            return Problem(("quantity",), "must be at least 1", ProblemCode.INVALID)
        if quantity < self.minimum:
            return Problem(
                ("quantity",),
                f"the minimum order quantity is {self.minimum}",
                ProblemCode.BELOW_MINIMUM_QUANTITY,
            )
        if (quantity - self.minimum) % self.increment:
            below = quantity - (quantity - self.minimum) % self.increment
            return Problem(
                ("quantity",),
                f"order in steps of {self.increment} from {self.minimum} "
                f"(e.g. {below} or {below + self.increment})",
                ProblemCode.INVALID_QUANTITY_INCREMENT,
            )
        if self.maximum is not None and quantity > self.maximum:
            return Problem(
                ("quantity",),
                f"at most {self.maximum} can be ordered at once",
                ProblemCode.ABOVE_MAXIMUM_QUANTITY,
            )
        return None
