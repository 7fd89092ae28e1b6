"""Volume price breaks: which tier applies to a quantity, and what makes a tier list valid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from domain.money import Money, currency_exponent, has_at_most_exponent_decimals
from domain.problems import Problem

# Upper bounds that keep prices and quantities far from integer overflow in bigint columns.
MAX_UNIT_PRICE = Decimal("1000000000")
MAX_QUANTITY = 1_000_000_000


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
