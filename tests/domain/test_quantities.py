import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.quantities import QuantityRules

RULES = QuantityRules(minimum=10, increment=5, maximum=100)


@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        (0, "INVALID"),
        (-3, "INVALID"),
        (9, "BELOW_MINIMUM_QUANTITY"),
        (10, None),
        (12, "INVALID_QUANTITY_INCREMENT"),
        (15, None),
        (100, None),
        (105, "ABOVE_MAXIMUM_QUANTITY"),
    ],
)
def test_quantity_rules(quantity, code):
    problem = RULES.check(quantity)
    assert (problem.code if problem else None) == code


def test_an_increment_problem_suggests_the_neighbouring_valid_quantities():
    problem = RULES.check(17)
    assert problem is not None and "15" in problem.message and "20" in problem.message


@given(
    st.integers(min_value=1, max_value=1000),
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=0, max_value=10**6),
)
def test_exactly_the_minimum_plus_whole_steps_pass_without_a_maximum(minimum, increment, q):
    rules = QuantityRules(minimum, increment)
    allowed = q >= minimum and (q - minimum) % increment == 0
    assert (rules.check(q) is None) == allowed
