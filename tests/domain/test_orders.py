"""The order state machine, exhaustively: every (from, to, side) is either allowed or refused."""

import itertools

import pytest

from domain.orders import OrderStatus, Side, check_transition

S, B = Side.SELLER, Side.BUYER
ALLOWED = {
    (OrderStatus.PLACED, OrderStatus.CONFIRMED, S),
    (OrderStatus.PLACED, OrderStatus.CANCELLED, S),
    (OrderStatus.PLACED, OrderStatus.CANCELLED, B),
    (OrderStatus.CONFIRMED, OrderStatus.SHIPPED, S),
    (OrderStatus.CONFIRMED, OrderStatus.CANCELLED, S),
    (OrderStatus.CONFIRMED, OrderStatus.CANCELLED, B),
    (OrderStatus.SHIPPED, OrderStatus.DELIVERED, B),
    (OrderStatus.SHIPPED, OrderStatus.DELIVERED, S),  # with a delivery proof
    (OrderStatus.SHIPPED, OrderStatus.DISPUTED, B),
    (OrderStatus.DELIVERED, OrderStatus.COMPLETED, B),
    (OrderStatus.DELIVERED, OrderStatus.DISPUTED, B),
}


@pytest.mark.parametrize(
    ("current", "target", "side"), list(itertools.product(OrderStatus, OrderStatus, Side))
)
def test_every_move_is_allowed_or_an_invalid_transition(current, target, side):
    problem = check_transition(current, target, side, note="with a note")
    if (current, target, side) in ALLOWED:
        assert problem is None
    else:
        assert problem is not None and problem.code == "INVALID_TRANSITION"


@pytest.mark.parametrize(
    ("current", "target", "side"),
    [
        (OrderStatus.PLACED, OrderStatus.CANCELLED, B),
        (OrderStatus.CONFIRMED, OrderStatus.CANCELLED, S),
        (OrderStatus.SHIPPED, OrderStatus.DISPUTED, B),
        (OrderStatus.SHIPPED, OrderStatus.DELIVERED, S),
    ],
)
@pytest.mark.parametrize("note", [None, "", "   "])
def test_cancel_dispute_and_seller_delivery_need_a_note(current, target, side, note):
    problem = check_transition(current, target, side, note)
    assert problem is not None and problem.path == ("note",)


def test_a_buyer_confirms_delivery_without_a_note():
    assert check_transition(OrderStatus.SHIPPED, OrderStatus.DELIVERED, B, None) is None


def test_final_statuses_have_no_way_out():
    for final in (OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.DISPUTED):
        for target, side in itertools.product(OrderStatus, Side):
            assert check_transition(final, target, side, "note") is not None
