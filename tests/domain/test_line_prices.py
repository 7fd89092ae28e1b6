"""price_line: the one rule for what a line costs, and the money bounds."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import FxTable, MissingRateError, Money, QuotedRate
from domain.pricing import (
    MAX_LINE_TOTAL_MINOR,
    MAX_ORDER_TOTAL_MINOR,
    AmountTooLargeError,
    order_total,
    price_line,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)
FX = FxTable({("EUR", "USD"): QuotedRate(Decimal("1.08"), AT)})


def test_the_unit_is_converted_then_multiplied():
    # 0.01 EUR at 1.08 is 0.01 USD (half-even), so 1000 units cost 10.00 USD, not 10.80.
    line = price_line(Money(1, "EUR"), 1000, "USD", FX)
    assert line.unit == Money(1, "USD")
    assert line.total == Money(1000, "USD")
    assert line.rate == Decimal("1.08")


def test_no_conversion_needs_no_table():
    assert price_line(Money(250, "EUR"), 4, "EUR", None).total == Money(1000, "EUR")
    with pytest.raises(MissingRateError):
        price_line(Money(250, "EUR"), 4, "USD", None)


@given(
    st.integers(min_value=1, max_value=10**11),
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(1000), places=6),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_a_line_total_is_always_unit_times_quantity(minor, quantity, rate, currency):
    fx = FxTable({("EUR", currency): QuotedRate(rate, AT)})
    try:
        line = price_line(Money(minor, "EUR"), quantity, currency, fx)
    except AmountTooLargeError:
        assert Money.from_decimal(Money(minor, "EUR").amount * rate, currency).minor * quantity > (
            MAX_LINE_TOTAL_MINOR
        )
        return
    assert line.total.minor == line.unit.minor * quantity
    assert line.unit == fx.convert(Money(minor, "EUR"), currency)
    assert line.total.minor <= MAX_LINE_TOTAL_MINOR


def test_bounds_refuse_what_could_overflow_a_bigint():
    with pytest.raises(AmountTooLargeError):
        price_line(Money(10**11, "EUR"), 10**8, "EUR", None)
    assert price_line(Money(10**6, "EUR"), 10**9, "EUR", None).total.minor == MAX_LINE_TOTAL_MINOR
    half = Money(MAX_ORDER_TOTAL_MINOR // 2, "EUR")
    assert order_total([half, half], "EUR").minor == MAX_ORDER_TOTAL_MINOR
    with pytest.raises(AmountTooLargeError):
        order_total([half, half, Money(2, "EUR")], "EUR")
