"""Money: integer minor units plus an ISO 4217 code; arithmetic in Decimal, half-even rounding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


def supported_currencies() -> list[str]:
    """Every ISO 4217 code we trade in (those with a minor unit), in alphabetical order."""
    return sorted(
        str(currency.code) for currency in iso4217.Currency if currency.exponent is not None
    )


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


# Rates are recorded as numeric(24, 12) (fx_rates.rate, order_lines.fx_rate): a derived rate
# (an inverse or a rate through the pivot) is quantized to that many decimals and converts with
# exactly that value, so the recorded rate reproduces the conversion. A rate that does not fit
# (>= 10^12) or rounds to zero is treated as missing.
RATE_DECIMALS = 12
MAX_RATE = Decimal(10) ** 12
_RATE_QUANTUM = Decimal(1).scaleb(-RATE_DECIMALS)


@dataclass(frozen=True, slots=True)
class QuotedRate:
    """Units of quote for one unit of base, and since when it is valid."""

    rate: Decimal
    effective_at: datetime


def _recordable(rate: Decimal) -> Decimal | None:
    """`rate` quantized half-even to RATE_DECIMALS, or None when it cannot be recorded."""
    if not rate.is_finite():
        return None
    quantized = rate.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_EVEN)
    if quantized <= 0 or quantized >= MAX_RATE:
        return None
    return quantized


@dataclass(frozen=True, slots=True)
class FxTable:
    """Rates valid at one moment: `rates[(base, quote)]` = units of quote for one unit of base.

    When a pair is quoted in both directions, the newer quote wins (the inverse of a newer
    (quote, base) row beats an older (base, quote) row; on a tie the direct row wins).
    """

    rates: dict[tuple[str, str], QuotedRate]

    def currencies(self) -> set[str]:
        return {code for pair in self.rates for code in pair}

    def _pair_rate(self, base: str, quote: str) -> Decimal | None:
        direct = self.rates.get((base, quote))
        inverse = self.rates.get((quote, base))
        if direct is not None and (inverse is None or direct.effective_at >= inverse.effective_at):
            return _recordable(direct.rate)
        if inverse is not None and inverse.rate > 0:
            return _recordable(Decimal(1) / inverse.rate)
        return None

    def rate(self, base: str, quote: str) -> Decimal:
        """The rate, at most RATE_DECIMALS decimals; MissingRateError when there is none."""
        if base == quote:
            return Decimal(1)
        pair = self._pair_rate(base, quote)
        if pair is not None:
            return pair
        if PIVOT_CURRENCY not in (base, quote):
            first = self._pair_rate(base, PIVOT_CURRENCY)
            second = self._pair_rate(PIVOT_CURRENCY, quote)
            if first is not None and second is not None:
                through = _recordable(first * second)
                if through is not None:
                    return through
        raise MissingRateError(f"no exchange rate from {base} to {quote}")

    def convert(self, money: Money, currency: str) -> Money:
        """Half-even at the target currency's exponent, with exactly `rate(...)`."""
        if money.currency == currency:
            return money
        return Money.from_decimal(money.amount * self.rate(money.currency, currency), currency)
