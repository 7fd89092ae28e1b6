from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import (
    FxTable,
    MissingRateError,
    Money,
    QuotedRate,
    UnknownCurrencyError,
    currency_exponent,
    has_at_most_exponent_decimals,
    is_currency,
)


@pytest.mark.parametrize(("code", "exponent"), [("JPY", 0), ("USD", 2), ("EUR", 2), ("KWD", 3)])
def test_exponents_follow_iso_4217(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XYZ", "usd", "", "EURO", "XAU"])
def test_unknown_or_unitless_codes_are_not_currencies(code):
    assert not is_currency(code)
    with pytest.raises(UnknownCurrencyError):
        currency_exponent(code)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("0.125", "USD", 12),  # half to even: down
        ("0.135", "USD", 14),  # half to even: up
        ("2.5", "JPY", 2),
        ("3.5", "JPY", 4),
        ("1.0005", "KWD", 1000),
        ("1.0015", "KWD", 1002),
    ],
)
def test_rounding_is_half_even_at_the_currency_exponent(amount, currency, minor):
    assert Money.from_decimal(Decimal(amount), currency).minor == minor


def test_amount_has_exactly_the_currency_decimals():
    assert str(Money(123450, "USD").amount) == "1234.50"
    assert str(Money(1234, "JPY").amount) == "1234"
    assert str(Money(1234, "KWD").amount) == "1.234"


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["JPY", "USD", "KWD"]))
def test_minor_units_round_trip_through_decimal(minor, currency):
    money = Money(minor, currency)
    assert Money.from_decimal(money.amount, currency) == money


def test_decimals_check():
    assert has_at_most_exponent_decimals(Decimal("10.50"), "EUR")
    assert not has_at_most_exponent_decimals(Decimal("10.001"), "EUR")
    assert not has_at_most_exponent_decimals(Decimal("10.5"), "JPY")
    assert has_at_most_exponent_decimals(Decimal("10.125"), "KWD")


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def table(rates: dict[tuple[str, str], str], at: datetime = T0) -> FxTable:
    return FxTable({pair: QuotedRate(Decimal(rate), at) for pair, rate in rates.items()})


FX = table({("USD", "EUR"): "0.9", ("USD", "JPY"): "150"})
TWELVE = Decimal("1e-12")


def test_direct_inverse_and_pivot_rates():
    assert FX.rate("USD", "EUR") == Decimal("0.9")
    # Derived rates are quantized to the 12 decimals the order line records.
    assert FX.rate("EUR", "USD") == Decimal("1.111111111111")
    assert FX.rate("EUR", "JPY") == (Decimal("1.111111111111") * 150).quantize(TWELVE)
    assert FX.rate("GBP", "GBP") == 1


def test_the_newer_of_the_two_directions_wins():
    older, newer = T0, T0 + timedelta(days=1)
    fx = FxTable(
        {
            ("EUR", "USD"): QuotedRate(Decimal("1.08"), older),
            ("USD", "EUR"): QuotedRate(Decimal("0.8"), newer),
        }
    )
    assert fx.rate("EUR", "USD") == Decimal("1.25")
    assert fx.rate("USD", "EUR") == Decimal("0.8")
    fx = FxTable(
        {
            ("EUR", "USD"): QuotedRate(Decimal("1.08"), newer),
            ("USD", "EUR"): QuotedRate(Decimal("0.8"), older),
        }
    )
    assert fx.rate("EUR", "USD") == Decimal("1.08")
    assert fx.rate("USD", "EUR") == (1 / Decimal("1.08")).quantize(TWELVE)


def test_a_derived_rate_converts_with_exactly_the_recorded_value():
    fx = table({("USD", "EUR"): "0.000000000003"})
    rate = fx.rate("EUR", "USD")
    assert rate == Decimal("333333333333.333333333333").quantize(TWELVE)
    assert rate == rate.quantize(TWELVE)
    money = Money(7, "EUR")
    assert fx.convert(money, "USD") == Money.from_decimal(money.amount * rate, "USD")


@pytest.mark.parametrize(
    "rates",
    [
        {("USD", "EUR"): "0.000000000001"},  # the inverse is 10^12: it does not fit
        {("USD", "EUR"): "0.0000000000004"},  # rounds to zero at 12 decimals
    ],
)
def test_rates_that_cannot_be_recorded_are_missing(rates):
    fx = table(rates)
    with pytest.raises(MissingRateError):
        fx.rate("EUR", "USD")


def test_a_pivot_rate_that_cannot_be_recorded_is_missing():
    fx = table({("GBP", "USD"): "1000000", ("USD", "KWD"): "1000000"})
    with pytest.raises(MissingRateError):
        fx.rate("GBP", "KWD")


def test_conversion_rounds_into_the_target_currency():
    assert FX.convert(Money(1000, "USD"), "JPY") == Money(1500, "JPY")  # 10.00 USD
    assert FX.convert(Money(1001, "USD"), "EUR") == Money(901, "EUR")  # 9.009 -> 9.01


def test_missing_rate_is_an_error_not_a_guess():
    with pytest.raises(MissingRateError):
        FX.rate("USD", "GBP")
    with pytest.raises(MissingRateError):
        FX.convert(Money(100, "EUR"), "GBP")


@given(st.integers(min_value=0, max_value=10**12))
def test_conversion_there_and_back_stays_within_one_minor_unit(minor):
    there = FX.convert(Money(minor, "USD"), "EUR")
    back = FX.convert(there, "USD")
    # One EUR cent is worth about 1.11 US cents, so a round trip may drift by one or two.
    assert abs(back.minor - minor) <= 2
