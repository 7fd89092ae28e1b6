"""What a seller's product input is, and the rules it must meet: pure checks, no I/O."""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Row

from db.models import ProductStatus
from domain.money import is_currency
from domain.pricing import MAX_QUANTITY, check_price_tiers, check_quantity_rules
from domain.problems import Problem, ProblemCode, nest
from domain.text import MAX_NAME_LENGTH, slugify

MAX_VARIANTS_PER_PRODUCT = 100
MAX_TIERS_PER_VARIANT = 20
MAX_DESCRIPTION_LENGTH = 20_000
# With "-" and 10 hex digits of the product's UUID this fits products.slug (varchar 220).
MAX_SLUG_BASE_LENGTH = 200
SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


class Keep(enum.Enum):
    """An input left out: keep what is stored."""

    KEEP = "KEEP"


@dataclass(frozen=True, slots=True)
class TierSpec:
    min_quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class VariantSpec:
    sku: str
    name: str
    currency: str
    minimum_order_quantity: int | None
    order_increment: int | None
    price_tiers: list[TierSpec]
    stock: int | None
    # A cap per order line: a number sets it, None removes it, KEEP leaves it as stored.
    maximum_order_quantity: int | Keep | None = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ProductSpec:
    name: str | None
    description: str | None
    category_id: str | None
    status: ProductStatus | None
    variants: list[VariantSpec] | None


def check_text(value: str | None, name: str, limit: int, required: bool) -> list[Problem]:
    if value is None:
        return [Problem((name,), "is required")] if required else []
    if required and not value.strip():
        return [Problem((name,), "must not be blank")]
    if len(value) > limit:
        return [Problem((name,), f"must be at most {limit} characters")]
    return []


def check_variant(spec: VariantSpec) -> list[Problem]:
    problems: list[Problem] = []
    if not SKU_PATTERN.match(spec.sku):
        problems.append(
            Problem(("sku",), "1-64 letters, digits and . _ / -, starting with a letter or digit")
        )
    problems += check_text(spec.name, "name", MAX_NAME_LENGTH, required=True)
    if not is_currency(spec.currency):
        problems.append(Problem(("currency",), "is not a supported currency", ProblemCode.INVALID))
        return problems
    # Only an absent value defaults to 1: an explicit 0 is refused, not silently replaced.
    moq = 1 if spec.minimum_order_quantity is None else spec.minimum_order_quantity
    increment = 1 if spec.order_increment is None else spec.order_increment
    maximum = spec.maximum_order_quantity
    quantity_problems = check_quantity_rules(
        moq, increment, None if isinstance(maximum, Keep) else maximum
    )
    problems += quantity_problems
    if quantity_problems:
        pass  # tiers are measured against the minimum: no use checking them against a bad one
    elif len(spec.price_tiers) > MAX_TIERS_PER_VARIANT:
        problems.append(Problem(("priceTiers",), f"at most {MAX_TIERS_PER_VARIANT} tiers"))
    else:
        pairs = [(t.min_quantity, t.unit_price) for t in spec.price_tiers]
        problems += check_price_tiers(pairs, spec.currency, moq)
    if spec.stock is not None and not 0 <= spec.stock <= MAX_QUANTITY:
        problems.append(Problem(("stock",), f"must be between 0 and {MAX_QUANTITY}"))
    return problems


def check_variants(
    variants: list[VariantSpec], product_currency: str | None, required: bool
) -> list[Problem]:
    if not variants:
        return [Problem(("variants",), "at least one variant is required")] if required else []
    if len(variants) > MAX_VARIANTS_PER_PRODUCT:
        return [Problem(("variants",), f"at most {MAX_VARIANTS_PER_PRODUCT} variants a call")]
    problems: list[Problem] = []
    seen: set[str] = set()
    currency = product_currency or variants[0].currency
    for index, variant in enumerate(variants):
        at = ("variants", str(index))
        problems += nest(check_variant(variant), *at)
        if variant.sku.lower() in seen:
            problems.append(
                Problem((*at, "sku"), "appears twice in this input", ProblemCode.DUPLICATE)
            )
        seen.add(variant.sku.lower())
        if variant.currency != currency and is_currency(variant.currency):
            problems.append(
                Problem(
                    (*at, "currency"),
                    f"all variants of a product are priced in one currency ({currency})",
                )
            )
    return problems


def product_slug(name: str, product_id: uuid.UUID) -> str:
    """The name's slug plus the start of the product's own UUID, always.

    Derived from the product alone, so it needs no lookup (concurrent creates with one name
    cannot collide) and tells nothing about other sellers' products, drafts included.
    """
    return f"{slugify(name, max_length=MAX_SLUG_BASE_LENGTH)}-{product_id.hex[:10]}"


def reserved_message(reserved: int) -> str:
    return f"{reserved} units are reserved by open orders; set at least that many"


SKU_RACE_PROBLEM = Problem(
    ("input", "variants"),
    "a SKU was taken by a concurrent change; try again",
    ProblemCode.DUPLICATE,
)


def sku_taken_problems(variants: list[VariantSpec], taken: set[str]) -> list[Problem]:
    return [
        Problem(
            ("input", "variants", str(index), "sku"),
            f"SKU {variant.sku} is already used by another of your products",
            ProblemCode.DUPLICATE,
        )
        for index, variant in enumerate(variants)
        if variant.sku.lower() in taken
    ]


def keep_stored_quantity_rules(
    variants: list[VariantSpec], stored: list[Row[Any]]
) -> list[VariantSpec]:
    """An update that leaves out a known SKU's quantity rules keeps the stored ones."""
    by_sku = {row.sku.lower(): row for row in stored}
    kept = []
    for variant in variants:
        row = by_sku.get(variant.sku.lower())
        if row is not None:
            variant = replace(
                variant,
                minimum_order_quantity=variant.minimum_order_quantity
                if variant.minimum_order_quantity is not None
                else row.minimum_order_quantity,
                order_increment=variant.order_increment
                if variant.order_increment is not None
                else row.order_increment,
                maximum_order_quantity=row.maximum_order_quantity
                if isinstance(variant.maximum_order_quantity, Keep)
                else variant.maximum_order_quantity,
            )
        kept.append(variant)
    return kept
