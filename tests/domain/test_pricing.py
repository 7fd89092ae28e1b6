from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import Money
from domain.pricing import (
    Tier,
    buyer_unit_price,
    check_price_tiers,
    check_quantity_rules,
    unit_price_for,
)

TIERS = [Tier(10, Money(1000, "EUR")), Tier(50, Money(900, "EUR")), Tier(200, Money(750, "EUR"))]


@pytest.mark.parametrize(
    ("quantity", "minor"),
    [(1, 1000), (9, 1000), (10, 1000), (49, 1000), (50, 900), (199, 900), (200, 750), (10**6, 750)],
)
def test_the_largest_tier_not_above_the_quantity_applies(quantity, minor):
    assert unit_price_for(TIERS, quantity).minor == minor


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_a_larger_quantity_never_costs_more_per_unit(a, b):
    low, high = sorted((a, b))
    assert unit_price_for(TIERS, high).minor <= unit_price_for(TIERS, low).minor


def test_no_tiers_is_a_programming_error():
    with pytest.raises(ValueError, match="at least one"):
        unit_price_for([], 1)


def paths(problems):
    return {problem.path for problem in problems}


def test_valid_tiers_pass():
    assert check_price_tiers([(5, Decimal("3.00")), (20, Decimal("2.50"))], "EUR", 5) == []


def test_tier_problems_point_at_the_offending_field():
    problems = check_price_tiers(
        [(5, Decimal("3.00")), (2, Decimal("2.00")), (50, Decimal("-1"))], "EUR", 5
    )
    assert paths(problems) == {
        ("priceTiers", "1", "minQuantity"),
        ("priceTiers", "2", "unitPrice"),
    }


def test_first_tier_must_start_at_the_minimum_order_quantity():
    problems = check_price_tiers([(6, Decimal("3.00"))], "EUR", 5)
    assert [p.message for p in problems] == [
        "the first tier must start at the minimum order quantity (5)"
    ]


def test_prices_must_not_rise_with_quantity():
    problems = check_price_tiers([(1, Decimal("3.00")), (10, Decimal("3.50"))], "EUR", 1)
    assert paths(problems) == {("priceTiers",)}


def test_duplicate_quantities_and_empty_lists_are_refused():
    assert paths(check_price_tiers([], "EUR", 1)) == {("priceTiers",)}
    assert paths(check_price_tiers([(1, Decimal(2)), (1, Decimal(1))], "EUR", 1)) == {
        ("priceTiers",)
    }


@pytest.mark.parametrize(("price", "currency"), [("1.001", "EUR"), ("1.5", "JPY"), ("0", "EUR")])
def test_price_precision_and_sign(price, currency):
    problems = check_price_tiers([(1, Decimal(price))], currency, 1)
    assert paths(problems) == {("priceTiers", "0", "unitPrice")}


def test_quantity_rules_bounds():
    assert check_quantity_rules(1, 1) == []
    assert paths(check_quantity_rules(0, 1)) == {("minimumOrderQuantity",)}
    assert paths(check_quantity_rules(1, 0)) == {("orderIncrement",)}


CONTRACT = [Tier(20, Money(850, "EUR")), Tier(100, Money(700, "EUR"))]


@pytest.mark.parametrize(
    ("quantity", "minor"), [(10, 1000), (19, 1000), (20, 850), (99, 850), (100, 700), (500, 700)]
)
def test_a_contract_break_applies_from_its_quantity_on_else_the_tiers(quantity, minor):
    assert buyer_unit_price(TIERS, CONTRACT, quantity).minor == minor


@given(st.integers(min_value=1, max_value=10**6))
def test_without_a_contract_the_buyer_pays_the_volume_tier(quantity):
    assert buyer_unit_price(TIERS, [], quantity) == unit_price_for(TIERS, quantity)
