"""The quote state machines, exhaustively: every (status, action, actor) of a request and every
(status, proposer, action, actor) of a quote is either allowed or refused with the right code;
and the input rules of requests and quotes."""

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.money import Money
from domain.orders import Side
from domain.problems import Problem
from domain.quotes import (
    FINAL_REQUEST_STATUSES,
    MAX_LINES,
    MAX_VALIDITY,
    Move,
    QuoteAction,
    QuoteEventKind,
    QuoteRequestStatus,
    QuoteStatus,
    check_line_count,
    check_needed_by,
    check_note,
    check_quote_step,
    check_unit_price,
    check_valid_until,
    is_due,
    request_move,
    submission_event,
    too_costly,
)

S, B, SYSTEM = Side.SELLER, Side.BUYER, None
ACTORS = (S, B, SYSTEM)
R = QuoteRequestStatus
A = QuoteAction

# (status, action, actor) -> the request's next status; everything else is refused.
REQUEST_ALLOWED = {
    (R.OPEN, A.SUBMIT, S): R.QUOTED,
    (R.OPEN, A.DECLINE, S): R.DECLINED,
    (R.OPEN, A.CANCEL, B): R.CANCELLED,
    (R.OPEN, A.EXPIRE, SYSTEM): R.EXPIRED,
    (R.QUOTED, A.SUBMIT, S): R.QUOTED,
    (R.QUOTED, A.SUBMIT, B): R.OPEN,
    (R.QUOTED, A.ACCEPT, B): R.ACCEPTED,
    (R.QUOTED, A.DECLINE, B): R.DECLINED,
    (R.QUOTED, A.CANCEL, B): R.CANCELLED,
    (R.QUOTED, A.EXPIRE, SYSTEM): R.EXPIRED,
}


@pytest.mark.parametrize(("status", "action", "actor"), list(itertools.product(R, A, ACTORS)))
def test_every_request_move_is_allowed_or_refused(status, action, actor):
    result = request_move(status, action, actor)
    if (status, action, actor) in REQUEST_ALLOWED:
        assert isinstance(result, Move)
        assert result.to == REQUEST_ALLOWED[status, action, actor]
    else:
        assert isinstance(result, Problem)
        # The other party's move is FORBIDDEN; a move nobody may make is INVALID_TRANSITION.
        others_may = any(
            (status, action, other) in REQUEST_ALLOWED for other in ACTORS if other != actor
        )
        assert result.code == ("FORBIDDEN" if others_may else "INVALID_TRANSITION")


def test_final_request_statuses_have_no_way_out():
    assert {R.ACCEPTED, R.DECLINED, R.CANCELLED, R.EXPIRED} == FINAL_REQUEST_STATUSES
    for final, action, actor in itertools.product(FINAL_REQUEST_STATUSES, A, ACTORS):
        problem = request_move(final, action, actor)
        assert isinstance(problem, Problem) and problem.code == "INVALID_TRANSITION"


# (proposer, action, actor) allowed on a PENDING quote.
QUOTE_ALLOWED = {
    (S, A.ACCEPT, B),
    (S, A.DECLINE, B),
    (B, A.DECLINE, S),
    (S, A.CANCEL, B),
    (B, A.CANCEL, B),
    (S, A.EXPIRE, SYSTEM),
    (B, A.EXPIRE, SYSTEM),
}
QUOTE_ACTIONS = [action for action in A if action != A.SUBMIT]


@pytest.mark.parametrize(
    ("status", "proposed_by", "action", "actor"),
    list(itertools.product(QuoteStatus, Side, QUOTE_ACTIONS, ACTORS)),
)
def test_every_quote_step_is_allowed_or_refused(status, proposed_by, action, actor):
    problem = check_quote_step(status, proposed_by, action, actor)
    if status == QuoteStatus.PENDING and (proposed_by, action, actor) in QUOTE_ALLOWED:
        assert problem is None
    elif status != QuoteStatus.PENDING or (proposed_by, action) == (B, A.ACCEPT):
        # Only a pending quote moves, and nobody accepts a buyer's counter-offer.
        assert problem is not None and problem.code == "INVALID_TRANSITION"
    else:
        assert problem is not None and problem.code == "FORBIDDEN"


def test_a_submission_is_checked_on_the_request_not_on_a_quote():
    with pytest.raises(ValueError, match="request"):
        check_quote_step(QuoteStatus.PENDING, S, A.SUBMIT, S)


def test_the_request_status_tells_whose_move_it_is():
    # A seller's pending quote makes the request QUOTED (the buyer's move), a buyer's OPEN.
    assert request_move(R.OPEN, A.SUBMIT, S).to == R.QUOTED  # type: ignore[union-attr]
    assert request_move(R.QUOTED, A.SUBMIT, B).to == R.OPEN  # type: ignore[union-attr]
    # Accepting and the buyer's decline need a seller's quote (QUOTED), the seller's decline a
    # buyer's counter-offer (OPEN).
    assert isinstance(request_move(R.OPEN, A.ACCEPT, B), Problem)
    assert isinstance(request_move(R.OPEN, A.DECLINE, B), Problem)
    assert isinstance(request_move(R.QUOTED, A.DECLINE, S), Problem)


@pytest.mark.parametrize(
    ("side", "earlier", "kind"),
    [
        (S, 0, QuoteEventKind.QUOTED),
        (S, 1, QuoteEventKind.COUNTERED),
        (S, 5, QuoteEventKind.COUNTERED),
        (B, 1, QuoteEventKind.COUNTERED),
        (B, 0, QuoteEventKind.COUNTERED),
    ],
)
def test_the_first_seller_quote_is_quoted_every_later_one_countered(side, earlier, kind):
    assert submission_event(side, earlier_quotes=earlier) == kind


def test_a_quote_is_valid_up_to_but_not_including_valid_until():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert not is_due(now + timedelta(microseconds=1), now)
    assert is_due(now, now)
    assert is_due(now - timedelta(seconds=1), now)


# --- input rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "ok"),
    [
        ("0.01", "EUR", True),
        ("12.5", "USD", True),
        ("1000000000", "EUR", True),
        ("1000000000.01", "EUR", False),
        ("0", "EUR", False),
        ("-1", "EUR", False),
        ("NaN", "EUR", False),
        ("Infinity", "EUR", False),
        ("12.345", "USD", False),
        ("12.345", "KWD", True),
        ("12.5", "JPY", False),
        ("12", "JPY", True),
    ],
)
def test_unit_prices_are_positive_bounded_and_exact_in_their_currency(amount, currency, ok):
    problem = check_unit_price(Decimal(amount), currency)
    assert (problem is None) == ok
    if problem is not None:
        assert problem.path == ("unitPrice",) and problem.code == "INVALID"


def test_line_count_bounds():
    assert check_line_count(0) is not None
    assert check_line_count(1) is None
    assert check_line_count(MAX_LINES) is None
    problem = check_line_count(MAX_LINES + 1)
    assert problem is not None and problem.path == ("lines",)


def test_valid_until_is_in_the_future_and_not_too_far():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert check_valid_until(now + timedelta(hours=1), now) is None
    assert check_valid_until(now + MAX_VALIDITY, now) is None
    for bad in (now, now - timedelta(days=1), now + MAX_VALIDITY + timedelta(seconds=1)):
        problem = check_valid_until(bad, now)
        assert problem is not None and problem.path == ("validUntil",)
    assert check_valid_until(datetime(2026, 1, 2), now) is not None  # no timezone


def test_needed_by_is_not_in_the_past():
    today = date(2026, 1, 10)
    assert check_needed_by(None, today) is None
    assert check_needed_by(today, today) is None
    assert check_needed_by(today - timedelta(days=1), today) is not None


def test_notes_are_bounded():
    assert check_note(None, ("note",)) is None
    assert check_note("x" * 2000, ("note",)) is None
    problem = check_note("x" * 2001, ("input", "note"))
    assert problem is not None and problem.path == ("input", "note")


def test_too_costly_names_the_first_line_over_the_bounds():
    eur = "EUR"
    assert too_costly([(10, Money(100, eur)), (5, Money(1, eur))], eur) is None
    # 10^15 minor units is the line and the order bound.
    assert too_costly([(1, Money(10**15, eur))], eur) is None
    found = too_costly([(1, Money(10**15, eur)), (1, Money(1, eur))], eur)
    assert found is not None and found[0] == 1
    found = too_costly([(2, Money(10**15, eur))], eur)
    assert found is not None and found[0] == 0
