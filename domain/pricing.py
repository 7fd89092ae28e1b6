"""Volume price breaks: which tier applies to a quantity, and what makes a tier list valid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from domain.money import (
    FxTable,
    MissingRateError,
    Money,
    currency_exponent,
    has_at_most_exponent_decimals,
)
from domain.problems import Problem

# Upper bounds that keep prices and quantities far from integer overflow in bigint columns.
MAX_UNIT_PRICE = Decimal("1000000000")
MAX_QUANTITY = 1_000_000_000
# Money bounds, in minor units of any currency: far below bigint (2^63 ~ 9.2 * 10^18), so that
# a line total, an order total and their sums can never overflow a column.
MAX_LINE_TOTAL_MINOR = 10**15
MAX_ORDER_TOTAL_MINOR = 10**15


@dataclass(frozen=True, slots=True)
class Tier:
    min_quantity: int
    unit_price: Money


def unit_price_for(tiers: Sequence[Tier], quantity: int) -> Money:
    """The tier with the largest min_quantity not above `quantity`; tiers ascend.

    Below the first tier (under the minimum order quantity) the first tier's price is quoted,
    so a catalog can show "from" prices; the quantity rules reject such an order separately.
    """
    if not tiers:
        raise ValueError("a variant has at least one price tier")
    chosen = tiers[0]
    for tier in tiers:
        if tier.min_quantity > quantity:
            break
        chosen = tier
    return chosen.unit_price


def buyer_unit_price(tiers: Sequence[Tier], contract: Sequence[Tier], quantity: int) -> Money:
    """What a buyer pays per unit: its contract price list's break for this quantity when the
    contract has one at or below it, else the variant's volume tier.

    `contract` holds the breaks (ascending) of a price list valid today for this buyer and
    variant; it is empty when there is none.
    """
    applicable = [entry for entry in contract if entry.min_quantity <= quantity]
    if applicable:
        return applicable[-1].unit_price
    return unit_price_for(tiers, quantity)


def check_quantity_rules(
    minimum_order_quantity: int, order_increment: int, maximum_order_quantity: int | None = None
) -> list[Problem]:
    problems = []
    if not 1 <= minimum_order_quantity <= MAX_QUANTITY:
        problems.append(
            Problem(
                ("minimumOrderQuantity",),
                f"must be between 1 and {MAX_QUANTITY}",
            )
        )
    if not 1 <= order_increment <= MAX_QUANTITY:
        problems.append(Problem(("orderIncrement",), f"must be between 1 and {MAX_QUANTITY}"))
    if maximum_order_quantity is not None and not (
        minimum_order_quantity <= maximum_order_quantity <= MAX_QUANTITY
    ):
        problems.append(
            Problem(
                ("maximumOrderQuantity",),
                f"must be between the minimum order quantity and {MAX_QUANTITY}",
            )
        )
    return problems


def check_price_tiers(
    tiers: Sequence[tuple[int, Decimal]],
    currency: str,
    minimum_order_quantity: int,
) -> list[Problem]:
    """Validate (minQuantity, unitPrice) pairs as given by a seller, in input order."""
    if not tiers:
        return [Problem(("priceTiers",), "at least one price tier is required")]
    problems = []
    exponent = currency_exponent(currency)
    for index, (min_quantity, unit_price) in enumerate(tiers):
        at = ("priceTiers", str(index))
        if min_quantity < minimum_order_quantity:
            problems.append(
                Problem(
                    (*at, "minQuantity"),
                    f"must be at least the minimum order quantity ({minimum_order_quantity})",
                )
            )
        elif min_quantity > MAX_QUANTITY:
            problems.append(Problem((*at, "minQuantity"), f"must be at most {MAX_QUANTITY}"))
        if not unit_price.is_finite() or unit_price <= 0:
            problems.append(Problem((*at, "unitPrice"), "must be greater than zero"))
        elif unit_price > MAX_UNIT_PRICE:
            problems.append(Problem((*at, "unitPrice"), f"must be at most {MAX_UNIT_PRICE}"))
        elif not has_at_most_exponent_decimals(unit_price, currency):
            problems.append(
                Problem(
                    (*at, "unitPrice"),
                    f"{currency} prices have at most {exponent} decimal places",
                )
            )
    quantities = [q for q, _ in tiers]
    if len(set(quantities)) != len(quantities):
        problems.append(Problem(("priceTiers",), "two tiers have the same minQuantity"))
    if problems:
        return problems
    if min(quantities) != minimum_order_quantity:
        problems.append(
            Problem(
                ("priceTiers",),
                f"the first tier must start at the minimum order quantity "
                f"({minimum_order_quantity})",
            )
        )
    ordered = sorted(tiers)
    for (_, lower_price), (_, higher_price) in pairwise(ordered):
        if higher_price > lower_price:
            problems.append(
                Problem(
                    ("priceTiers",),
                    "a larger quantity must not cost more per unit than a smaller one",
                )
            )
            break
    return problems


class AmountTooLargeError(ValueError):
    """A line or an order total above the money bounds."""


@dataclass(frozen=True, slots=True)
class LinePrice:
    """A priced line in one currency: `total` is always `unit` times the quantity."""

    unit: Money
    total: Money
    rate: Decimal  # the rate that converted the seller's unit price (1 when none was needed)


def price_line(unit: Money, quantity: int, currency: str, fx: FxTable | None) -> LinePrice:
    """The one rule for what a line costs in `currency` (cart and checkout alike).

    1. Convert the seller's unit price into `currency` with `fx.rate(...)` (at most 12 decimals,
       the recorded rate), rounding half-even at the currency's exponent.
    2. Multiply that converted unit price by the quantity — no further rounding.

    So a line's total is always unit times quantity (the order_lines check constraint) and the sum
    of the cart's lines in a currency is exactly what an order in that currency charges.

    Raises MissingRateError when a conversion is needed and there is no rate (or no table),
    AmountTooLargeError when the total is above MAX_LINE_TOTAL_MINOR.
    """
    if quantity < 0:
        raise ValueError("a quantity is not negative")
    converted, rate = unit_price_in(unit, currency, fx)
    total = converted.times(quantity)
    if abs(total.minor) > MAX_LINE_TOTAL_MINOR:
        raise AmountTooLargeError(
            f"a line may cost at most {_bound(MAX_LINE_TOTAL_MINOR, currency)}"
        )
    return LinePrice(converted, total, rate)


def unit_price_in(unit: Money, currency: str, fx: FxTable | None) -> tuple[Money, Decimal]:
    """Step 1 of price_line: the unit price in `currency` and the rate used (1 when none was
    needed). Unbounded: for showing a cart whose lines grew too costly (checkout refuses them).
    """
    if unit.currency == currency:
        return unit, Decimal(1)
    if fx is None:
        raise MissingRateError(f"no exchange rate from {unit.currency} to {currency}")
    rate = fx.rate(unit.currency, currency)
    return Money.from_decimal(unit.amount * rate, currency), rate


def order_total(totals: Sequence[Money], currency: str) -> Money:
    """The sum of line totals (all in `currency`); AmountTooLargeError above
    MAX_ORDER_TOTAL_MINOR."""
    if any(total.currency != currency for total in totals):
        raise ValueError("line totals of an order share its currency")
    minor = sum(total.minor for total in totals)
    if abs(minor) > MAX_ORDER_TOTAL_MINOR:
        raise AmountTooLargeError(
            f"an order may cost at most {_bound(MAX_ORDER_TOTAL_MINOR, currency)}"
        )
    return Money(minor, currency)


def _bound(minor: int, currency: str) -> str:
    return f"{Money(minor, currency).amount} {currency}"
