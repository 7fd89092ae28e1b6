"""Money: integer minor units plus an ISO 4217 code; arithmetic in Decimal, half-even rounding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache

import iso4217

# Pivot through which two currencies without a direct rate are converted.
PIVOT_CURRENCY = "USD"


class UnknownCurrencyError(ValueError):
    pass


class MissingRateError(LookupError):
    pass


@cache
def currency_exponent(code: str) -> int:
    """Digits after the decimal point for the currency (JPY 0, USD 2, KWD 3)."""
    try:
        currency = iso4217.Currency(code)
    except (ValueError, KeyError):
        raise UnknownCurrencyError(code) from None
    exponent = currency.exponent
    # Funds and precious metals have no minor unit in ISO 4217; we do not trade in them.
    if exponent is None:
        raise UnknownCurrencyError(code)
    return int(exponent)


def is_currency(code: str) -> bool:
    try:
        currency_exponent(code)
    except UnknownCurrencyError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: minor units of one currency (cents for USD, yen for JPY)."""

    minor: int
    currency: str

    @property
    def amount(self) -> Decimal:
        """The major-unit amount with exactly the currency's number of decimals."""
        exponent = currency_exponent(self.currency)
        return Decimal(self.minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))

    @classmethod
    def from_decimal(cls, amount: Decimal, currency: str) -> Money:
        """Round half-even to the currency's exponent."""
        exponent = currency_exponent(currency)
        minor = (amount.scaleb(exponent)).to_integral_value(rounding=ROUND_HALF_EVEN)
        return cls(int(minor), currency)

    def times(self, quantity: int) -> Money:
        return Money(self.minor * quantity, self.currency)


def has_at_most_exponent_decimals(amount: Decimal, currency: str) -> bool:
    """True when the amount needs no rounding in that currency (12.345 is not a USD price)."""
    try:
        exponent = currency_exponent(currency)
        return amount == amount.quantize(Decimal(1).scaleb(-exponent))
    except InvalidOperation:
        return False


@dataclass(frozen=True, slots=True)
class FxTable:
    """Rates valid at one moment: `rates[(base, quote)]` = units of quote for one unit of base."""

    rates: dict[tuple[str, str], Decimal]

    def currencies(self) -> set[str]:
        return {code for pair in self.rates for code in pair}

    def rate(self, base: str, quote: str) -> Decimal:
        if base == quote:
            return Decimal(1)
        direct = self.rates.get((base, quote))
        if direct is not None:
            return direct
        inverse = self.rates.get((quote, base))
        if inverse is not None:
            return Decimal(1) / inverse
        if PIVOT_CURRENCY not in (base, quote):
            try:
                return self.rate(base, PIVOT_CURRENCY) * self.rate(PIVOT_CURRENCY, quote)
            except MissingRateError:
                pass
        raise MissingRateError(f"no exchange rate from {base} to {quote}")

    def convert(self, money: Money, currency: str) -> Money:
        if money.currency == currency:
            return money
        return Money.from_decimal(money.amount * self.rate(money.currency, currency), currency)
