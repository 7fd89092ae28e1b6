"""Quotes (RFQ): who may move a quote request and its quotes from which status to which, and
the rules a request or a quote must meet before it is written.

A buyer asks one seller for prices (a request, OPEN). The seller answers with a quote; either
side may counter with a new version, which supersedes the pending one. At most one quote of a
request is PENDING at a time, and who proposed it decides whose move it is:

- OPEN: the seller's turn (a new request, or the buyer countered).
- QUOTED: the buyer's turn (a seller's quote is pending).
- ACCEPTED, DECLINED, CANCELLED, EXPIRED: final.

An action the status does not allow at all is an INVALID_TRANSITION; one the status allows only
to the other party is FORBIDDEN (it is not this side's move).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from domain.money import Money, currency_exponent, has_at_most_exponent_decimals
from domain.orders import Side
from domain.pricing import (
    MAX_QUANTITY,
    MAX_UNIT_PRICE,
    AmountTooLargeError,
    order_total,
    price_line,
)
from domain.problems import Problem, ProblemCode

# Bounds of what a request or a quote may hold.
MAX_LINES = 100
MAX_NOTE_LENGTH = 2000
# How far ahead a quote may stay open.
MAX_VALIDITY = timedelta(days=90)


class QuoteRequestStatus(enum.StrEnum):
    OPEN = "OPEN"
    QUOTED = "QUOTED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class QuoteStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    SUPERSEDED = "SUPERSEDED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"


class QuoteAction(enum.StrEnum):
    """What a party (or, for EXPIRE, the system) does to a request and its pending quote."""

    SUBMIT = "SUBMIT"  # a new quote version: an offer or a counter-offer
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
    CANCEL = "CANCEL"
    EXPIRE = "EXPIRE"


class QuoteEventKind(enum.StrEnum):
    """What the outbox reports for each step of a negotiation."""

    REQUESTED = "REQUESTED"
    QUOTED = "QUOTED"
    COUNTERED = "COUNTERED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


# Who acts: a side of the request, or None for the system (the expiry task).
Actor = Side | None

_S, _B = Side.SELLER, Side.BUYER


@dataclass(frozen=True, slots=True)
class Move:
    action: QuoteAction
    by: frozenset[Actor]
    to: QuoteRequestStatus


_SYSTEM: frozenset[Actor] = frozenset({None})

# Every allowed move of a request; anything else is refused.
REQUEST_MOVES: dict[QuoteRequestStatus, tuple[Move, ...]] = {
    QuoteRequestStatus.OPEN: (
        Move(QuoteAction.SUBMIT, frozenset({_S}), QuoteRequestStatus.QUOTED),
        # The seller declines the buyer's pending counter-offer.
        Move(QuoteAction.DECLINE, frozenset({_S}), QuoteRequestStatus.DECLINED),
        Move(QuoteAction.CANCEL, frozenset({_B}), QuoteRequestStatus.CANCELLED),
        # The buyer's pending counter-offer ran out.
        Move(QuoteAction.EXPIRE, _SYSTEM, QuoteRequestStatus.EXPIRED),
    ),
    QuoteRequestStatus.QUOTED: (
        # The seller revises its pending quote; the buyer counters it.
        Move(QuoteAction.SUBMIT, frozenset({_S}), QuoteRequestStatus.QUOTED),
        Move(QuoteAction.SUBMIT, frozenset({_B}), QuoteRequestStatus.OPEN),
        Move(QuoteAction.ACCEPT, frozenset({_B}), QuoteRequestStatus.ACCEPTED),
        Move(QuoteAction.DECLINE, frozenset({_B}), QuoteRequestStatus.DECLINED),
        Move(QuoteAction.CANCEL, frozenset({_B}), QuoteRequestStatus.CANCELLED),
        Move(QuoteAction.EXPIRE, _SYSTEM, QuoteRequestStatus.EXPIRED),
    ),
    QuoteRequestStatus.ACCEPTED: (),
    QuoteRequestStatus.DECLINED: (),
    QuoteRequestStatus.CANCELLED: (),
    QuoteRequestStatus.EXPIRED: (),
}

FINAL_REQUEST_STATUSES = frozenset(status for status, moves in REQUEST_MOVES.items() if not moves)

# What each action does to the pending quote it concerns (SUBMIT: the one it replaces).
QUOTE_AFTER: dict[QuoteAction, QuoteStatus] = {
    QuoteAction.SUBMIT: QuoteStatus.SUPERSEDED,
    QuoteAction.ACCEPT: QuoteStatus.ACCEPTED,
    QuoteAction.DECLINE: QuoteStatus.DECLINED,
    QuoteAction.CANCEL: QuoteStatus.WITHDRAWN,
    QuoteAction.EXPIRE: QuoteStatus.EXPIRED,
}


def _actor_name(actor: Actor) -> str:
    return "the system" if actor is None else f"the {actor.value.lower()}"


def _verb(action: QuoteAction) -> str:
    return {
        QuoteAction.SUBMIT: "quote on",
        QuoteAction.ACCEPT: "accept",
        QuoteAction.DECLINE: "decline",
        QuoteAction.CANCEL: "cancel",
        QuoteAction.EXPIRE: "expire",
    }[action]


def request_move(current: QuoteRequestStatus, action: QuoteAction, actor: Actor) -> Move | Problem:
    """The move `actor` makes on a request in `current` by `action`, or why it may not."""
    moves = [move for move in REQUEST_MOVES[current] if move.action == action]
    if not moves:
        return Problem(
            ("status",),
            f"cannot {_verb(action)} a quote request that is {current.value}",
            ProblemCode.INVALID_TRANSITION,
        )
    for move in moves:
        if actor in move.by:
            return move
    return Problem(
        ("status",),
        f"{_actor_name(actor)} cannot {_verb(action)} a quote request that is {current.value}",
        ProblemCode.FORBIDDEN,
    )


def check_quote_step(
    quote: QuoteStatus, proposed_by: Side, action: QuoteAction, actor: Actor
) -> Problem | None:
    """Why `actor` may not `action` a quote (in status `quote`, proposed by `proposed_by`), or
    None. Only a PENDING quote moves: the buyer accepts the seller's; the party that did not
    propose it declines it; a new version supersedes it; cancelling the request withdraws it;
    the system expires it."""
    if action == QuoteAction.SUBMIT:
        raise ValueError("a submission concerns the request; see request_move")
    if quote != QuoteStatus.PENDING:
        return Problem(
            ("status",),
            f"cannot {_verb(action)} a quote that is {quote.value}",
            ProblemCode.INVALID_TRANSITION,
        )
    allowed: frozenset[Actor]
    if action == QuoteAction.ACCEPT:
        if proposed_by != _S:
            return Problem(
                ("status",),
                "only a seller's quote can be accepted: the seller answers a buyer's "
                "counter-offer with a quote of its own",
                ProblemCode.INVALID_TRANSITION,
            )
        allowed = frozenset({_B})
    elif action == QuoteAction.DECLINE:
        allowed = frozenset({_S if proposed_by == _B else _B})
    elif action == QuoteAction.CANCEL:
        allowed = frozenset({_B})
    else:
        allowed = _SYSTEM
    if actor not in allowed:
        return Problem(
            ("status",),
            f"{_actor_name(actor)} cannot {_verb(action)} this quote",
            ProblemCode.FORBIDDEN,
        )
    return None


def submission_event(side: Side, *, earlier_quotes: int) -> QuoteEventKind:
    """QUOTED for the seller's first quote of a request, COUNTERED for every later one."""
    return QuoteEventKind.QUOTED if earlier_quotes == 0 and side == _S else QuoteEventKind.COUNTERED


EVENT_OF: dict[QuoteAction, QuoteEventKind] = {
    QuoteAction.ACCEPT: QuoteEventKind.ACCEPTED,
    QuoteAction.DECLINE: QuoteEventKind.DECLINED,
    QuoteAction.CANCEL: QuoteEventKind.CANCELLED,
    QuoteAction.EXPIRE: QuoteEventKind.EXPIRED,
}


def is_due(valid_until: datetime, now: datetime) -> bool:
    """A quote is valid up to (not including) `valid_until`."""
    return valid_until <= now


# --- input rules ----------------------------------------------------------------------------


def check_note(note: str | None, path: tuple[str, ...]) -> Problem | None:
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        return Problem(path, f"must be at most {MAX_NOTE_LENGTH} characters")
    return None


def check_line_count(count: int) -> Problem | None:
    """At least one line and at most MAX_LINES; the path is ("lines",)."""
    if count < 1:
        return Problem(("lines",), "at least one line is required")
    if count > MAX_LINES:
        return Problem(("lines",), f"at most {MAX_LINES} lines")
    return None


def check_quantity_bound(quantity: int) -> Problem | None:
    """Far above any sensible order; the variant's own rules are checked apart."""
    if quantity > MAX_QUANTITY:
        return Problem(("quantity",), f"must be at most {MAX_QUANTITY}")
    return None


def check_unit_price(amount: Decimal, currency: str) -> Problem | None:
    """A price a party names: above zero, bounded, and exact in the currency (path
    ("unitPrice",); nest it where the field has another name)."""
    if not amount.is_finite() or amount <= 0:
        return Problem(("unitPrice",), "must be greater than zero")
    if amount > MAX_UNIT_PRICE:
        return Problem(("unitPrice",), f"must be at most {MAX_UNIT_PRICE}")
    if not has_at_most_exponent_decimals(amount, currency):
        exponent = currency_exponent(currency)
        return Problem(("unitPrice",), f"{currency} prices have at most {exponent} decimal places")
    return None


def too_costly(lines: Sequence[tuple[int, Money]], currency: str) -> tuple[int, str] | None:
    """(index, why) of the first (quantity, unit price) line whose total, or the running sum
    of the totals, is above the money bounds checkout keeps to; None when all fit."""
    totals: list[Money] = []
    for index, (quantity, unit) in enumerate(lines):
        try:
            totals.append(price_line(unit, quantity, currency, None).total)
            order_total(totals, currency)
        except AmountTooLargeError as too_large:
            return index, str(too_large)
    return None


def check_valid_until(valid_until: datetime, now: datetime) -> Problem | None:
    """In the future, at most MAX_VALIDITY ahead; the path is ("validUntil",)."""
    if valid_until.utcoffset() is None:
        return Problem(("validUntil",), "must carry a timezone (e.g. 2026-12-01T12:00:00Z)")
    if valid_until <= now:
        return Problem(("validUntil",), "must be in the future")
    if valid_until > now + MAX_VALIDITY:
        return Problem(("validUntil",), f"must be at most {MAX_VALIDITY.days} days ahead")
    return None


def check_needed_by(needed_by: date | None, today: date) -> Problem | None:
    if needed_by is not None and needed_by < today:
        return Problem(("neededBy",), "must not be in the past")
    return None
