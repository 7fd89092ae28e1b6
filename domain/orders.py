"""The order state machine: who may move an order from which status to which."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from domain.problems import Problem, ProblemCode

# The longest note on an order: a checkout's note for the sellers, a reason, a delivery proof.
MAX_NOTE_LENGTH = 2000


class OrderStatus(enum.StrEnum):
    PLACED = "PLACED"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    DISPUTED = "DISPUTED"


class PaymentStatus(enum.StrEnum):
    UNPAID = "UNPAID"
    AUTHORIZED = "AUTHORIZED"
    IN_ESCROW = "IN_ESCROW"
    RELEASED = "RELEASED"
    REFUNDED = "REFUNDED"


class Side(enum.StrEnum):
    """Which party of the order is acting."""

    BUYER = "BUYER"
    SELLER = "SELLER"


@dataclass(frozen=True, slots=True)
class Move:
    to: OrderStatus
    by: frozenset[Side]
    needs_note: bool = False  # a reason (cancel, dispute) or a proof (seller-confirmed delivery)


_S, _B = Side.SELLER, Side.BUYER
_BOTH = frozenset({_S, _B})

# Every allowed move; anything else is INVALID_TRANSITION.
MOVES: dict[OrderStatus, tuple[Move, ...]] = {
    OrderStatus.PLACED: (
        Move(OrderStatus.CONFIRMED, frozenset({_S})),
        Move(OrderStatus.CANCELLED, _BOTH, needs_note=True),
    ),
    OrderStatus.CONFIRMED: (
        Move(OrderStatus.SHIPPED, frozenset({_S})),
        Move(OrderStatus.CANCELLED, _BOTH, needs_note=True),
    ),
    OrderStatus.SHIPPED: (
        Move(OrderStatus.DELIVERED, frozenset({_B})),
        Move(OrderStatus.DISPUTED, frozenset({_B}), needs_note=True),
    ),
    OrderStatus.DELIVERED: (
        Move(OrderStatus.COMPLETED, frozenset({_B})),
        Move(OrderStatus.DISPUTED, frozenset({_B}), needs_note=True),
    ),
    OrderStatus.COMPLETED: (),
    OrderStatus.CANCELLED: (),
    OrderStatus.DISPUTED: (),
}

# The seller may mark a shipped order delivered only with a delivery proof (the note).
SELLER_DELIVERY_WITH_PROOF = Move(OrderStatus.DELIVERED, frozenset({_S}), needs_note=True)


def check_transition(
    current: OrderStatus, target: OrderStatus, side: Side, note: str | None
) -> Problem | None:
    """Why `side` may not move the order from `current` to `target`, or None when it may."""
    moves = list(MOVES[current])
    if current == OrderStatus.SHIPPED:
        moves.append(SELLER_DELIVERY_WITH_PROOF)
    allowed = [move for move in moves if move.to == target]
    if not allowed:
        return Problem(
            ("status",),
            f"an order cannot go from {current.value} to {target.value}",
            ProblemCode.INVALID_TRANSITION,
        )
    by_side = [move for move in allowed if side in move.by]
    if not by_side:
        return Problem(
            ("status",),
            f"the {side.value.lower()} cannot move an order from {current.value} to {target.value}",
            ProblemCode.INVALID_TRANSITION,
        )
    if all(move.needs_note for move in by_side) and not (note and note.strip()):
        what = "a delivery proof" if target == OrderStatus.DELIVERED else "a reason"
        return Problem(("note",), f"{what} is required for this change", ProblemCode.INVALID)
    return None


def releases_stock(target: OrderStatus) -> bool:
    return target == OrderStatus.CANCELLED


def consumes_stock(target: OrderStatus) -> bool:
    return target == OrderStatus.SHIPPED
