"""Deterministic demo data for the marketplace: companies, users, categories, a catalogue, stock
and exchange rates.

`await seed(engine, products=N)` fills an empty, migrated database in one transaction. The same
`seed` number gives the same companies, products, prices and IDs (UUIDs are uuid5 over a
namespace and a counter); only timestamps move with the clock and password hashes with their
salt. Products, variants, tiers and stock are generated in chunks and written with COPY, so
memory stays bounded and 10 000 products take a few seconds.
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Update, exists, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.models.catalog import (
    Category,
    FxRate,
    Product,
    ProductStatus,
    ProductVariant,
    Warehouse,
    product_search_document,
)
from db.models.companies import Company, Membership, User
from domain.identity import MemberRole
from domain.money import currency_exponent
from domain.text import slugify

DEMO_PASSWORD = "demo-password-2026"  # every demo user's password  # noqa: S105

# Products are generated and copied in chunks of this many (with their variants, tiers, stock).
CHUNK_SIZE = 5_000

_NAMESPACE = uuid.UUID("5eed0000-b2b0-4d3a-9c1e-6d61726b6574")
# Any constant: serialises concurrent seeders on one database.
_ADVISORY_LOCK_KEY = 0x5EED_B2B


@dataclass(frozen=True, slots=True)
class SeedSummary:
    companies: int
    users: int
    categories: int
    products: int
    variants: int
    tiers: int
    stock_levels: int
    fx_rates: int
    # (email, what the login is for); every password is DEMO_PASSWORD.
    logins: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        """One short line of what was seeded (the logins: `demo_logins_table()`)."""
        return (
            f"{self.products} products ({self.variants} variants, {self.tiers} price tiers) "
            f"of {self.companies} companies in {self.categories} categories, {self.users} users, "
            f"{self.fx_rates} exchange rates"
        )


# --- companies and users ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CompanySpec:
    key: str
    name: str
    country: str
    currency: str
    is_seller: bool
    is_buyer: bool
    # (email, full name); the first is the OWNER.
    users: tuple[tuple[str, str], ...]
    sku_prefix: str = ""
    # Top-level category slugs the seller lists products in, and its share of the catalogue.
    sells: tuple[str, ...] = ()
    weight: float = 1.0
    is_platform: bool = False


_ALL_TOP = (
    "industrial-supplies",
    "packaging",
    "office",
    "electronics-components",
    "safety-equipment",
)

COMPANIES: tuple[_CompanySpec, ...] = (
    _CompanySpec(
        "platform",
        "Marketplace Operations",
        "NL",
        "EUR",
        is_seller=False,
        is_buyer=False,
        is_platform=True,
        users=(("admin@demo.example", "Mara de Vries"),),
    ),
    _CompanySpec(
        "acme",
        "Acme Industrial GmbH",
        "DE",
        "EUR",
        is_seller=True,
        is_buyer=False,
        users=(
            ("seller@acme-industrial.example", "Jonas Becker"),
            ("sales@acme-industrial.example", "Lena Hoffmann"),
        ),
        sku_prefix="ACM",
        sells=("industrial-supplies", "safety-equipment"),
        weight=2.0,
    ),
    _CompanySpec(
        "liberty",
        "Liberty Supply Co.",
        "US",
        "USD",
        is_seller=True,
        is_buyer=False,
        users=(("seller@liberty-supply.example", "Dana Whitfield"),),
        sku_prefix="LIB",
        sells=_ALL_TOP,
        weight=2.5,
    ),
    _CompanySpec(
        "kanto",
        "Kanto Precision K.K.",
        "JP",
        "JPY",
        is_seller=True,
        is_buyer=False,
        users=(
            ("seller@kanto-precision.example", "Haruto Sato"),
            ("catalog@kanto-precision.example", "Yui Tanaka"),
        ),
        sku_prefix="KNT",
        sells=("electronics-components", "industrial-supplies"),
        weight=1.5,
    ),
    _CompanySpec(
        "thames",
        "Thames Packaging Ltd",
        "GB",
        "GBP",
        is_seller=True,
        is_buyer=False,
        users=(("seller@thames-packaging.example", "Oliver Hughes"),),
        sku_prefix="THP",
        sells=("packaging", "office"),
        weight=1.5,
    ),
    _CompanySpec(
        "alpine",
        "Alpine Safety AG",
        "CH",
        "CHF",
        is_seller=True,
        is_buyer=False,
        users=(("seller@alpine-safety.example", "Nina Keller"),),
        sku_prefix="ALP",
        sells=("safety-equipment", "industrial-supplies"),
        weight=1.0,
    ),
    _CompanySpec(
        "gulf",
        "Gulf Trading Co. W.L.L.",
        "KW",
        "KWD",
        is_seller=True,
        is_buyer=False,
        users=(
            ("seller@gulf-trading.example", "Yousef Al-Sabah"),
            ("ops@gulf-trading.example", "Fatima Al-Rashid"),
        ),
        sku_prefix="GLF",
        sells=("packaging", "industrial-supplies", "safety-equipment"),
        weight=1.0,
    ),
    _CompanySpec(
        "maple",
        "Maple Office Supplies Inc.",
        "CA",
        "CAD",
        is_seller=True,
        is_buyer=True,
        users=(("trader@maple-office.example", "Chloe Tremblay"),),
        sku_prefix="MPL",
        sells=("office", "packaging"),
        weight=1.0,
    ),
    _CompanySpec(
        "northwind",
        "Northwind Procurement SAS",
        "FR",
        "EUR",
        is_seller=False,
        is_buyer=True,
        users=(
            ("buyer@northwind-procurement.example", "Camille Laurent"),
            ("purchasing@northwind-procurement.example", "Hugo Martin"),
        ),
    ),
    _CompanySpec(
        "contoso",
        "Contoso Manufacturing LLC",
        "US",
        "USD",
        is_seller=False,
        is_buyer=True,
        users=(("buyer@contoso-manufacturing.example", "Marcus Reed"),),
    ),
    _CompanySpec(
        "lioncity",
        "Lion City Logistics Pte Ltd",
        "SG",
        "SGD",
        is_seller=False,
        is_buyer=True,
        users=(("buyer@lioncity-logistics.example", "Wei Ling Tan"),),
    ),
    _CompanySpec(
        "paulista",
        "Paulista Construções Ltda",
        "BR",
        "BRL",
        is_seller=False,
        is_buyer=True,
        users=(
            ("buyer@paulista-construcoes.example", "Beatriz Souza"),
            ("compras@paulista-construcoes.example", "Rafael Lima"),
        ),
    ),
)

_SECOND_USER_ROLES = (MemberRole.ADMIN, MemberRole.MEMBER)

# Units of the currency per US dollar: the 30-days-ago fixing; yesterday's moves a little.
USD_RATES: Mapping[str, str] = {
    "EUR": "0.9210",
    "JPY": "151.40",
    "GBP": "0.7880",
    "CHF": "0.8830",
    "KWD": "0.30740",
    "SGD": "1.3420",
    "BRL": "5.1800",
    "CAD": "1.3650",
    "AUD": "1.5220",
    "CNY": "7.2300",
    "INR": "83.350",
    "SEK": "10.540",
    "PLN": "3.9800",
    "NOK": "10.720",
    "MXN": "16.950",
}


def _role_description(company: _CompanySpec, index: int) -> str:
    roles = [
        label
        for flag, label in (
            (company.is_platform, "platform admin"),
            (company.is_seller, "seller"),
            (company.is_buyer, "buyer"),
        )
        if flag
    ]
    member = "owner" if index == 0 else _SECOND_USER_ROLES[(index - 1) % 2].value.lower()
    return f"{' + '.join(roles)} {member}, {company.name} ({company.country}, {company.currency})"


DEMO_LOGINS: tuple[tuple[str, str], ...] = tuple(
    (email, _role_description(company, index))
    for company in COMPANIES
    for index, (email, _) in enumerate(company.users)
)


def demo_logins_table() -> str:
    """The demo logins as a short plain-text table, for a terminal."""
    width = max(len(email) for email, _ in DEMO_LOGINS)
    lines = [f"Demo logins (every password: {DEMO_PASSWORD}):"]
    lines += [f"  {email:<{width}}  {role}" for email, role in DEMO_LOGINS]
    return "\n".join(lines)


# --- categories and the words products are named with ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Leaf:
    name: str
    templates: tuple[str, ...]
    words: Mapping[str, tuple[str, ...]]
    variants: tuple[str, ...]
    # Unit price range in US dollars for the first tier.
    price_usd: tuple[float, float]
    blurbs: tuple[str, ...]
    moqs: tuple[int, ...] = (1, 5, 10, 25, 50, 100)


_METRIC = ("M4", "M5", "M6", "M8", "M10", "M12", "M16", "M20")
_LENGTHS = ("12", "16", "20", "25", "30", "35", "40", "50", "60", "80", "100", "120")
_FINISH = (
    "Zinc-Plated",
    "Stainless A2",
    "Stainless A4",
    "Hot-Dip Galvanised",
    "Black Oxide",
    "Plain Steel",
)
_PACKS = ("Box of 50", "Box of 100", "Box of 200", "Box of 500", "Bulk Pack of 1000")
_COLOURS = ("Black", "Blue", "Red", "Green", "White", "Grey", "Yellow", "Orange")
_SIZES = ("Size S", "Size M", "Size L", "Size XL", "Size XXL")
_SMALL_MOQ = (1, 5, 10)

CATEGORY_TREE: tuple[tuple[str, tuple[tuple[str, tuple[_Leaf, ...]], ...]], ...] = (
    (
        "Industrial Supplies",
        (
            (
                "Fasteners",
                (
                    _Leaf(
                        "Bolts",
                        (
                            "Hex Bolt {m} x {len} {finish}",
                            "{grade} Hex Head Bolt {m} x {len} {finish}",
                            "Carriage Bolt {m} x {len} {finish}",
                            "Flange Bolt {m} x {len} {finish}",
                        ),
                        {
                            "m": _METRIC,
                            "len": _LENGTHS,
                            "finish": _FINISH,
                            "grade": ("Grade 8.8", "Grade 10.9", "Grade 12.9"),
                        },
                        _PACKS,
                        (0.04, 1.8),
                        (
                            "Fully threaded bolts to DIN 933 / ISO 4017 for structural and "
                            "machine assembly.",
                            "Partially threaded hex bolts with a clean shank for shear loads.",
                            "Cold-forged bolts with rolled threads for consistent preload.",
                        ),
                    ),
                    _Leaf(
                        "Screws",
                        (
                            "Countersunk Wood Screw {d} x {len} {drive}",
                            "Chipboard Screw {d} x {len} {yellow}",
                            "Socket Head Cap Screw {m} x {len} {finish}",
                            "Pan Head Machine Screw {m} x {len} {finish}",
                            "Self-Tapping Screw {d} x {len} {drive}",
                        ),
                        {
                            "d": ("3.0", "3.5", "4.0", "4.5", "5.0", "6.0"),
                            "m": _METRIC[:6],
                            "len": _LENGTHS,
                            "drive": ("Pozi", "Torx T20", "Torx T25", "Phillips"),
                            "yellow": ("Yellow Zinc", "Bright Zinc", "Stainless A2"),
                            "finish": _FINISH,
                        },
                        _PACKS,
                        (0.02, 0.9),
                        (
                            "Hardened screws with a sharp point for fast starts without "
                            "pre-drilling.",
                            "Machine screws with metric ISO threads for tapped holes and nuts.",
                            "Deep-recess drive for high torque transfer and low cam-out.",
                        ),
                    ),
                    _Leaf(
                        "Nuts & Washers",
                        (
                            "Hex Nut {m} {finish}",
                            "Nylon Insert Lock Nut {m} {finish}",
                            "Flat Washer DIN 125 {m} {finish}",
                            "Spring Washer DIN 127 {m} {finish}",
                            "Flange Nut {m} {finish}",
                        ),
                        {"m": _METRIC, "finish": _FINISH},
                        _PACKS,
                        (0.01, 0.5),
                        (
                            "Nuts and washers matched to metric bolts of the same property class.",
                            "Prevailing-torque lock nuts that resist loosening under vibration.",
                        ),
                    ),
                    _Leaf(
                        "Anchors",
                        (
                            "Nylon Wall Plug {d} x {len}",
                            "Wedge Anchor {m} x {len} {finish}",
                            "Chemical Anchor Stud {m} x {len}",
                            "Hollow Wall Anchor {m} x {len}",
                        ),
                        {
                            "d": ("5", "6", "8", "10", "12"),
                            "m": _METRIC[2:],
                            "len": _LENGTHS[4:],
                            "finish": ("Zinc-Plated", "Stainless A4", "Hot-Dip Galvanised"),
                        },
                        ("Box of 25", "Box of 50", "Box of 100", "Box of 200"),
                        (0.05, 3.5),
                        (
                            "Approved for cracked and non-cracked concrete.",
                            "Anchors for medium-duty fixings into masonry, concrete and board.",
                        ),
                    ),
                ),
            ),
            (
                "Hand Tools",
                (
                    _Leaf(
                        "Wrenches",
                        (
                            "Combination Wrench {mm} mm {steel}",
                            "Adjustable Wrench {inch}-inch {steel}",
                            "Torque Wrench {nm} Nm {sq} Drive",
                            "Ratcheting Combination Wrench {mm} mm",
                        ),
                        {
                            "mm": ("8", "10", "13", "17", "19", "22", "24", "30"),
                            "inch": ("6", "8", "10", "12", "15"),
                            "steel": ("Chrome Vanadium", "Chrome Molybdenum", "Satin Finish"),
                            "nm": ("5-25", "20-100", "40-200", "60-340"),
                            "sq": ("1/4-inch", "3/8-inch", "1/2-inch"),
                        },
                        ("Single", "Pack of 5", "Pack of 10"),
                        (4.0, 180.0),
                        (
                            "Drop-forged and hardened for workshop and field service use.",
                            "Precise jaws and a comfortable handle for a secure grip on fasteners.",
                        ),
                        _SMALL_MOQ,
                    ),
                    _Leaf(
                        "Screwdrivers",
                        (
                            "Insulated Screwdriver {tip} x {len} mm VDE",
                            "Screwdriver Set {n}-Piece {grip}",
                            "Precision Screwdriver {tip} {grip}",
                        ),
                        {
                            "tip": ("PH1", "PH2", "PZ2", "SL 4.0", "SL 5.5", "T20", "T25"),
                            "len": ("75", "100", "125", "150"),
                            "n": ("6", "8", "12", "24"),
                            "grip": ("Soft Grip", "Two-Component Handle", "ESD Safe"),
                        },
                        ("Single", "Pack of 6", "Pack of 12"),
                        (2.5, 65.0),
                        (
                            "Tested to 10 000 V and rated for live work up to 1 000 V AC.",
                            "Hardened tips that hold their profile under repeated use.",
                        ),
                        _SMALL_MOQ,
                    ),
                    _Leaf(
                        "Pliers",
                        (
                            "Combination Pliers {mm} mm",
                            "Long Nose Pliers {mm} mm {grip}",
                            "Diagonal Cutters {mm} mm {grip}",
                            "Water Pump Pliers {mm} mm",
                        ),
                        {
                            "mm": ("125", "140", "160", "180", "200", "250"),
                            "grip": ("Soft Grip", "VDE Insulated", "Dipped Handles"),
                        },
                        ("Single", "Pack of 6", "Pack of 12"),
                        (5.0, 45.0),
                        ("Induction-hardened cutting edges for copper and steel wire.",),
                        _SMALL_MOQ,
                    ),
                ),
            ),
            (
                "Adhesives & Sealants",
                (
                    _Leaf(
                        "Industrial Adhesives",
                        (
                            "Two-Component Epoxy Adhesive {ml} ml",
                            "Cyanoacrylate Instant Adhesive {g} g",
                            "Polyurethane Construction Adhesive {ml} ml Cartridge",
                            "Threadlocker Medium Strength {ml} ml",
                        ),
                        {"ml": ("10", "25", "50", "290", "310", "400"), "g": ("5", "20", "50")},
                        ("Single", "Case of 12", "Case of 24"),
                        (3.0, 38.0),
                        (
                            "Bonds metals, plastics and composites with high shear strength.",
                            "Cures at room temperature and resists oils and solvents.",
                        ),
                    ),
                    _Leaf(
                        "Sealants",
                        (
                            "Silicone Sealant {colour} {ml} ml",
                            "Hybrid Polymer Sealant {colour} {ml} ml",
                            "Acrylic Joint Filler {colour} {ml} ml",
                        ),
                        {"colour": ("White", "Grey", "Black", "Transparent"), "ml": ("290", "310")},
                        ("Single", "Case of 12", "Case of 25"),
                        (3.0, 14.0),
                        (
                            "Permanently elastic sealant for joints with up to 25% movement.",
                            "Paintable once skinned and suitable for indoor and outdoor use.",
                        ),
                    ),
                ),
            ),
        ),
    ),
    (
        "Packaging",
        (
            (
                "Boxes & Cartons",
                (
                    _Leaf(
                        "Shipping Boxes",
                        (
                            "Corrugated Shipping Box {l}x{w}x{h}",
                            "Double-Wall Shipping Box {l}x{w}x{h} {kraft}",
                            "Single-Wall Carton {l}x{w}x{h} cm",
                        ),
                        {
                            "l": ("30", "40", "50", "60", "80"),
                            "w": ("20", "25", "30", "40"),
                            "h": ("10", "15", "20", "30", "40"),
                            "kraft": ("Brown Kraft", "White Kraft"),
                        },
                        ("Bundle of 25", "Bundle of 50", "Pallet of 500"),
                        (0.3, 3.5),
                        (
                            "Corrugated board with high edge-crush strength for parcel networks.",
                            "Made from 100% recycled fibre and fully recyclable.",
                        ),
                    ),
                    _Leaf(
                        "Mailer Boxes",
                        (
                            "Die-Cut Mailer Box {l}x{w}x{h} {colour}",
                            "Postal Box {fmt} {colour}",
                        ),
                        {
                            "l": ("18", "22", "25", "30", "35"),
                            "w": ("12", "15", "20", "25"),
                            "h": ("5", "8", "10", "12"),
                            "fmt": ("Small", "Medium", "Large", "Letterbox"),
                            "colour": ("White", "Brown", "Black"),
                        },
                        ("Bundle of 25", "Bundle of 50", "Bundle of 100"),
                        (0.25, 2.2),
                        ("Self-locking tabs for tape-free closing and a tidy unboxing.",),
                    ),
                ),
            ),
            (
                "Pallets & Crates",
                (
                    _Leaf(
                        "Wooden Pallets",
                        ("{std} Wooden Pallet {dims} {treat}", "Wooden Crate {dims} {treat}"),
                        {
                            "std": ("EUR-EPAL", "Industrial", "Half-Size", "Block"),
                            "dims": ("1200x800", "1200x1000", "1140x1140", "800x600"),
                            "treat": ("ISPM 15 Heat-Treated", "Kiln-Dried", "New", "Grade A"),
                        },
                        ("Single", "Stack of 10", "Stack of 20"),
                        (8.0, 60.0),
                        (
                            "Heat-treated to ISPM 15 for export without fumigation.",
                            "Four-way entry for forklifts and pallet trucks.",
                        ),
                        _SMALL_MOQ,
                    ),
                    _Leaf(
                        "Plastic Pallets",
                        ("Plastic Pallet {dims} {deck}", "Nestable Plastic Pallet {dims}"),
                        {
                            "dims": ("1200x800", "1200x1000", "800x600"),
                            "deck": ("Open Deck", "Closed Deck", "3 Runners", "Hygienic"),
                        },
                        ("Single", "Stack of 10", "Stack of 25"),
                        (25.0, 140.0),
                        ("HDPE pallets that do not splinter, rot or absorb moisture.",),
                        _SMALL_MOQ,
                    ),
                ),
            ),
            (
                "Protective Packaging",
                (
                    _Leaf(
                        "Stretch Film",
                        ("Stretch Film {micron} Micron {width} mm x {len} m {kind}",),
                        {
                            "micron": ("12", "17", "20", "23", "30"),
                            "width": ("100", "450", "500"),
                            "len": ("150", "270", "300", "1500"),
                            "kind": ("Cast", "Blown", "Pre-Stretched", "Black"),
                        },
                        ("Roll", "Case of 6", "Pallet of 40 Rolls"),
                        (2.0, 45.0),
                        ("Stretch wrap for securing pallet loads in transit.",),
                    ),
                    _Leaf(
                        "Bubble Wrap",
                        ("Bubble Wrap Roll {width} mm x {len} m", "Anti-Static Bubble Bag {bag}"),
                        {
                            "width": ("300", "500", "750", "1000", "1500"),
                            "len": ("10", "50", "100"),
                            "bag": ("100x150 mm", "150x200 mm", "200x250 mm"),
                        },
                        ("Single", "Pack of 4", "Pack of 10"),
                        (0.1, 30.0),
                        ("Air-cushioning film for fragile goods and void fill.",),
                    ),
                    _Leaf(
                        "Packing Tape",
                        (
                            "Polypropylene Packing Tape {w} mm x {len} m {colour}",
                            "Printed Fragile Tape {w} mm x 66 m",
                            "Gummed Paper Tape {w} mm x {len} m",
                        ),
                        {
                            "w": ("38", "48", "50", "75"),
                            "len": ("50", "66", "100", "150"),
                            "colour": ("Brown", "Clear", "White"),
                        },
                        ("Roll", "Pack of 6", "Case of 36"),
                        (0.8, 6.0),
                        ("Low-noise tape with a strong acrylic adhesive for carton sealing.",),
                    ),
                ),
            ),
        ),
    ),
    (
        "Office",
        (
            (
                "Paper Products",
                (
                    _Leaf(
                        "Copy Paper",
                        ("{fmt} Copy Paper {gsm} gsm {grade}",),
                        {
                            "fmt": ("A4", "A3", "Letter"),
                            "gsm": ("75", "80", "90", "100", "120"),
                            "grade": ("Premium White", "Recycled", "FSC Certified", "Colour Laser"),
                        },
                        ("Ream of 500", "Box of 5 Reams", "Pallet of 240 Reams"),
                        (3.0, 9.0),
                        (
                            "Jam-free paper for laser, inkjet and high-speed copiers.",
                            "Bright white sheets with a smooth finish for crisp text.",
                        ),
                    ),
                    _Leaf(
                        "Notebooks",
                        ("{bind} Notebook {fmt} {rule} {pages} Pages",),
                        {
                            "bind": ("Wirebound", "Hardcover", "Softcover", "Top-Spiral"),
                            "fmt": ("A4", "A5", "B5"),
                            "rule": ("Ruled", "Squared", "Dotted", "Plain"),
                            "pages": ("80", "96", "120", "160", "192"),
                        },
                        ("Single", "Pack of 5", "Pack of 10"),
                        (1.2, 14.0),
                        ("Fountain-pen friendly paper with microperforated pages.",),
                    ),
                ),
            ),
            (
                "Writing Instruments",
                (
                    _Leaf(
                        "Ballpoint Pens",
                        (
                            "Retractable Ballpoint Pen {colour} {tip} mm",
                            "Stick Ballpoint Pen {colour} Medium",
                            "Gel Pen {colour} {tip} mm",
                        ),
                        {"colour": _COLOURS[:4], "tip": ("0.5", "0.7", "1.0")},
                        ("Box of 10", "Box of 50", "Box of 100"),
                        (0.15, 2.5),
                        ("Smooth low-viscosity ink that dries fast and does not smudge.",),
                    ),
                    _Leaf(
                        "Markers",
                        (
                            "Permanent Marker {tip} Tip {colour}",
                            "Whiteboard Marker {tip} Tip {colour}",
                            "Highlighter {hi}",
                        ),
                        {
                            "tip": ("Bullet", "Chisel", "Fine"),
                            "colour": _COLOURS[:4],
                            "hi": ("Yellow", "Pink", "Green", "Orange", "Blue"),
                        },
                        ("Single", "Box of 10", "Box of 48"),
                        (0.4, 3.0),
                        ("Low-odour, xylene-free ink with a long cap-off time.",),
                    ),
                ),
            ),
            (
                "Office Furniture",
                (
                    _Leaf(
                        "Office Chairs",
                        (
                            "Ergonomic Mesh Office Chair {feature}",
                            "Task Chair {feature} {colour}",
                            "Conference Chair {colour} Stackable",
                        ),
                        {
                            "feature": ("Lumbar Support", "Synchro Tilt", "4D Armrests"),
                            "colour": ("Black", "Grey", "Blue", "Anthracite"),
                        },
                        ("Single", "Pack of 2", "Pack of 4"),
                        (60.0, 650.0),
                        (
                            "Tested to EN 1335 for eight-hour daily use.",
                            "Adjustable seat depth and height for a wide range of users.",
                        ),
                        _SMALL_MOQ,
                    ),
                    _Leaf(
                        "Desks",
                        (
                            "Height-Adjustable Desk {w}x{d} cm {colour}",
                            "Office Desk {w}x{d} cm {colour}",
                        ),
                        {
                            "w": ("120", "140", "160", "180"),
                            "d": ("60", "70", "80"),
                            "colour": ("White", "Oak", "Walnut", "Light Grey"),
                        },
                        ("Single", "Pack of 2", "Pack of 4"),
                        (120.0, 900.0),
                        ("Dual-motor frame with memory presets and anti-collision stop.",),
                        _SMALL_MOQ,
                    ),
                ),
            ),
        ),
    ),
    (
        "Electronics Components",
        (
            (
                "Passive Components",
                (
                    _Leaf(
                        "Resistors",
                        (
                            "Metal Film Resistor {ohm} {tol} {watt}",
                            "SMD Resistor {pkg} {ohm} {tol}",
                        ),
                        {
                            "ohm": ("10R", "100R", "220R", "1K", "4K7", "10K", "47K", "100K"),
                            "tol": ("1%", "5%", "0.1%"),
                            "watt": ("0.25 W", "0.5 W", "1 W"),
                            "pkg": ("0402", "0603", "0805", "1206"),
                        },
                        ("Reel of 1000", "Reel of 5000", "Cut Tape of 100"),
                        (0.002, 0.12),
                        ("RoHS-compliant resistors with a low temperature coefficient.",),
                    ),
                    _Leaf(
                        "Capacitors",
                        (
                            "Ceramic Capacitor {pkg} {cap} {volt}",
                            "Electrolytic Capacitor {cap} {volt} {temp}",
                        ),
                        {
                            "pkg": ("0402", "0603", "0805"),
                            "cap": ("100 nF", "1 uF", "10 uF", "47 uF", "220 uF", "1000 uF"),
                            "volt": ("16 V", "25 V", "35 V", "50 V", "63 V"),
                            "temp": ("105 C", "85 C"),
                        },
                        ("Reel of 1000", "Reel of 4000", "Cut Tape of 100"),
                        (0.004, 0.9),
                        ("X7R and aluminium electrolytic parts for decoupling and filtering.",),
                    ),
                ),
            ),
            (
                "Connectors & Cables",
                (
                    _Leaf(
                        "Connectors",
                        (
                            "Terminal Block {pitch} mm {n}-Pole",
                            "M12 Connector {n}-Pin {gender}",
                            "RJ45 Connector Cat{cat} {shield}",
                        ),
                        {
                            "pitch": ("3.5", "5.0", "5.08", "7.5"),
                            "n": ("2", "3", "4", "5", "8", "12"),
                            "gender": ("Male", "Female", "Panel Mount"),
                            "cat": ("5e", "6", "6A"),
                            "shield": ("Shielded", "Unshielded"),
                        },
                        ("Bag of 10", "Bag of 50", "Box of 250"),
                        (0.2, 12.0),
                        ("IP67-rated connectors for machine and field wiring.",),
                    ),
                    _Leaf(
                        "Cables",
                        (
                            "Ethernet Patch Cable Cat{cat} {m} m {colour}",
                            "Control Cable {cores}x{cs} mm2 {len} m",
                            "Silicone Wire {awg} AWG {colour} {len} m",
                        ),
                        {
                            "cat": ("5e", "6", "6A"),
                            "m": ("0.5", "1", "2", "3", "5", "10"),
                            "colour": _COLOURS,
                            "cores": ("2", "3", "4", "5", "7", "12"),
                            "cs": ("0.5", "0.75", "1.5", "2.5"),
                            "len": ("10", "25", "50", "100"),
                            "awg": ("12", "14", "16", "18", "20", "22"),
                        },
                        ("Single", "Pack of 10", "Pack of 25"),
                        (0.8, 95.0),
                        ("Flexible copper conductors with an oil-resistant PVC sheath.",),
                    ),
                ),
            ),
            (
                "Power Supplies",
                (
                    _Leaf(
                        "DIN Rail Power Supplies",
                        ("DIN Rail Power Supply {v} V {a} A", "Switching Power Supply {v} V {w} W"),
                        {
                            "v": ("5", "12", "24", "48"),
                            "a": ("1.3", "2.5", "5", "10", "20"),
                            "w": ("35", "60", "100", "150", "320"),
                        },
                        ("Single", "Pack of 5", "Pack of 10"),
                        (15.0, 240.0),
                        ("Wide-range input with overload and short-circuit protection.",),
                        _SMALL_MOQ,
                    ),
                    _Leaf(
                        "Batteries",
                        ("Alkaline Battery {size} {brand}", "Lithium Coin Cell {coin}"),
                        {
                            "size": ("AA", "AAA", "C", "D", "9V"),
                            "brand": ("Industrial", "Professional", "Long-Life"),
                            "coin": ("CR2032", "CR2025", "CR2450", "CR1632"),
                        },
                        ("Pack of 4", "Box of 10", "Box of 40"),
                        (0.2, 3.5),
                        ("Long shelf life batteries in bulk packs for devices and tools.",),
                    ),
                ),
            ),
        ),
    ),
    (
        "Safety Equipment",
        (
            (
                "Personal Protective Equipment",
                (
                    _Leaf(
                        "Safety Gloves",
                        (
                            "{material} Work Gloves Cut Level {cut}",
                            "Nitrile Disposable Gloves Powder-Free {colour}",
                            "Thermal Work Gloves {material}",
                        ),
                        {
                            "material": ("Nitrile-Coated", "PU-Coated", "Leather", "Latex-Coated"),
                            "cut": ("A", "B", "C", "D", "F"),
                            "colour": ("Blue", "Black", "White"),
                        },
                        _SIZES,
                        (0.08, 12.0),
                        (
                            "Certified to EN 388 for abrasion, cut and tear resistance.",
                            "Breathable knitted liner for all-day dexterity.",
                        ),
                    ),
                    _Leaf(
                        "Safety Glasses",
                        ("Safety Glasses {lens} Lens", "Over-Spectacles {lens} Lens"),
                        {"lens": ("Clear", "Smoke", "Amber", "Anti-Fog Clear", "Mirror")},
                        ("Single", "Box of 10", "Box of 50"),
                        (1.5, 18.0),
                        ("EN 166 impact-rated polycarbonate lenses with UV400 protection.",),
                    ),
                    _Leaf(
                        "Hard Hats",
                        ("Safety Helmet {std} {colour}", "Vented Hard Hat {colour}"),
                        {
                            "std": ("EN 397", "EN 12492", "ANSI Z89.1"),
                            "colour": ("White", "Yellow", "Blue", "Red", "Orange"),
                        },
                        ("Single", "Box of 10", "Box of 20"),
                        (6.0, 60.0),
                        ("Six-point textile harness with ratchet adjustment.",),
                    ),
                    _Leaf(
                        "Hi-Vis Clothing",
                        ("Hi-Vis Vest {cls} {colour}", "Hi-Vis Jacket {cls} {colour}"),
                        {
                            "cls": ("Class 1", "Class 2", "Class 3"),
                            "colour": ("Yellow", "Orange"),
                        },
                        _SIZES,
                        (2.0, 75.0),
                        ("Retro-reflective tape to ISO 20471 for visibility day and night.",),
                    ),
                ),
            ),
            (
                "Workplace Safety",
                (
                    _Leaf(
                        "First Aid Kits",
                        ("First Aid Kit {std} {size}", "Eye Wash Station {ml} ml"),
                        {
                            "std": ("DIN 13157", "DIN 13169", "BS 8599-1"),
                            "size": ("Small", "Medium", "Large"),
                            "ml": ("500", "1000"),
                        },
                        ("Single", "Pack of 3", "Pack of 6"),
                        (12.0, 95.0),
                        ("Wall-mountable case with contents listed on the lid.",),
                        _SMALL_MOQ,
                    ),
                    _Leaf(
                        "Fire Extinguishers",
                        ("{agent} Fire Extinguisher {kg} kg",),
                        {
                            "agent": ("Powder ABC", "CO2", "Foam AFFF-Free", "Water Mist"),
                            "kg": ("2", "5", "6", "9"),
                        },
                        ("Single", "Pack of 4"),
                        (30.0, 180.0),
                        ("Rechargeable extinguisher with a wall bracket and pressure gauge.",),
                        _SMALL_MOQ,
                    ),
                    _Leaf(
                        "Safety Signs",
                        ("Safety Sign '{msg}' {mat} {dims} mm",),
                        {
                            "msg": (
                                "Fire Exit",
                                "Hearing Protection Required",
                                "Forklift Traffic",
                                "High Voltage",
                                "First Aid",
                            ),
                            "mat": ("Rigid PVC", "Aluminium", "Self-Adhesive Vinyl"),
                            "dims": ("200x200", "300x200", "400x300"),
                        },
                        ("Single", "Pack of 5", "Pack of 10"),
                        (2.0, 25.0),
                        ("ISO 7010 pictograms printed in fade-resistant inks.",),
                    ),
                ),
            ),
        ),
    ),
)

_GENERIC_SENTENCES = (
    "Ships from stock within two business days.",
    "Volume pricing applies automatically at the listed quantity breaks.",
    "Supplied with a certificate of conformity on request.",
    "Suitable for maintenance, repair and operations teams.",
    "Packed for warehouse handling and easy put-away.",
    "Technical data sheet and safety data sheet available.",
    "Consistent quality from batch to batch, checked on receipt.",
    "Framework agreements and scheduled deliveries are available.",
)

_TIER_MULTIPLIERS = (2, 5, 10, 20, 50)


# --- generation --------------------------------------------------------------------------------


class _Ids:
    """Stable UUIDs: uuid5 over a namespace, the seed number, a kind and a counter."""

    def __init__(self, seed: int) -> None:
        self._prefix = f"{seed}:"

    def __call__(self, kind: str, key: object) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"{self._prefix}{kind}:{key}")


@dataclass(frozen=True, slots=True)
class _Seller:
    id: uuid.UUID
    prefix: str
    currency: str
    warehouse_id: uuid.UUID
    leaves: tuple[tuple[uuid.UUID, _Leaf], ...]


@dataclass(slots=True)
class _Counts:
    products: int = 0
    variants: int = 0
    tiers: int = 0
    stock_levels: int = 0


@dataclass(slots=True)
class _Chunk:
    products: list[tuple[Any, ...]]
    variants: list[tuple[Any, ...]]
    tiers: list[tuple[Any, ...]]
    stock: list[tuple[Any, ...]]


PRODUCT_COLUMNS = (
    "id",
    "seller_id",
    "category_id",
    "name",
    "slug",
    "description",
    "status",
    "price_currency",
    "price_min_minor",
    "price_max_minor",
    "created_at",
    "updated_at",
)
VARIANT_COLUMNS = (
    "id",
    "product_id",
    "seller_id",
    "sku",
    "name",
    "currency",
    "minimum_order_quantity",
    "order_increment",
    "position",
    "created_at",
)
TIER_COLUMNS = ("variant_id", "min_quantity", "unit_price_minor", "currency")
STOCK_COLUMNS = ("variant_id", "warehouse_id", "on_hand", "reserved")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _fill(template: str, words: Mapping[str, tuple[str, ...]], rng: random.Random) -> str:
    return template.format_map({key: rng.choice(options) for key, options in words.items()})


def _tiers(
    rng: random.Random, moq: int, first_minor: int, variant_id: uuid.UUID, currency: str
) -> list[tuple[Any, ...]]:
    """1-4 breaks from the MOQ on; quantities grow strictly, unit prices never rise."""
    count = rng.choices((1, 2, 3, 4), weights=(25, 35, 28, 12))[0]
    multipliers = sorted(rng.sample(_TIER_MULTIPLIERS, count - 1))
    rows = [(variant_id, moq, first_minor, currency)]
    price = first_minor
    for multiplier in multipliers:
        discounted = math.floor(price * (1 - rng.uniform(0.03, 0.12)))
        price = max(1, min(price, discounted))
        rows.append((variant_id, moq * multiplier, price, currency))
    return rows


def _products(
    rng: random.Random,
    ids: _Ids,
    sellers: Sequence[_Seller],
    count: int,
    now: datetime,
) -> Iterator[_Chunk]:
    """Generate the catalogue in chunks of CHUNK_SIZE products (with variants, tiers, stock)."""
    cum_weights = list(itertools.accumulate(spec.weight for spec in COMPANIES if spec.is_seller))
    rates = {code: float(rate) for code, rate in USD_RATES.items()}
    rates["USD"] = 1.0
    scale = {seller.currency: 10 ** currency_exponent(seller.currency) for seller in sellers}
    per_seller = {seller.id: 0 for seller in sellers}
    year_seconds = 365 * 24 * 3600
    chunk = _Chunk([], [], [], [])
    for number in range(count):
        seller = rng.choices(sellers, cum_weights=cum_weights)[0]
        category_id, leaf = rng.choice(seller.leaves)
        per_seller[seller.id] += 1
        product_id = ids("product", number)
        name = _fill(rng.choice(leaf.templates), leaf.words, rng)
        sentences = [rng.choice(leaf.blurbs), *rng.sample(_GENERIC_SENTENCES, rng.randint(0, 2))]
        roll = rng.random()
        status = (
            ProductStatus.DRAFT
            if roll < 0.05
            else ProductStatus.ARCHIVED
            if roll < 0.08
            else ProductStatus.ACTIVE
        )
        created_at = now - timedelta(seconds=rng.randrange(year_seconds))
        currency = seller.currency
        # Log-uniform within the leaf's range, then into the seller's currency.
        low, high = leaf.price_usd
        base_usd = math.exp(rng.uniform(math.log(low), math.log(high)))
        variant_count = rng.choices((1, 2, 3, 4), weights=(35, 30, 22, 13))[0]
        labels = rng.sample(leaf.variants, min(variant_count, len(leaf.variants)))
        prices: list[int] = []
        for position, label in enumerate(labels):
            variant_id = ids("variant", f"{number}:{position}")
            moq = rng.choice(leaf.moqs)
            increment = rng.choice([step for step in (1, 5, 10, moq) if moq % step == 0])
            unit_usd = base_usd * rng.uniform(0.85, 1.6)
            first_minor = max(1, round(unit_usd * rates[currency] * scale[currency]))
            tiers = _tiers(rng, moq, first_minor, variant_id, currency)
            prices += (first_minor, tiers[-1][2])
            chunk.variants.append(
                (
                    variant_id,
                    product_id,
                    seller.id,
                    f"{seller.prefix}-{per_seller[seller.id]:06d}-{position + 1}",
                    label,
                    currency,
                    moq,
                    increment,
                    position,
                    created_at,
                )
            )
            chunk.tiers.extend(tiers)
            on_hand = 0 if rng.random() < 0.1 else rng.randint(1, 5000)
            chunk.stock.append((variant_id, seller.warehouse_id, on_hand, 0))
        chunk.products.append(
            (
                product_id,
                seller.id,
                category_id,
                name,
                f"{slugify(name, max_length=180)}-{_base36(number)}",
                " ".join(sentences),
                status.value,
                currency,
                min(prices),
                max(prices),
                created_at,
                created_at,
            )
        )
        if len(chunk.products) >= CHUNK_SIZE:
            yield chunk
            chunk = _Chunk([], [], [], [])
    if chunk.products:
        yield chunk


# --- writing -----------------------------------------------------------------------------------


async def _has_data(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(select(exists().where(Company.id.is_not(None)))))


async def is_seeded(engine: AsyncEngine) -> bool:
    """True when any company exists (the database is not empty)."""
    async with engine.connect() as conn:
        return await _has_data(conn)


def _category_rows(
    ids: _Ids,
) -> tuple[list[dict[str, Any]], dict[str, list[tuple[uuid.UUID, _Leaf]]]]:
    """All category rows, parents first, and the leaves under each top-level slug."""
    rows: list[dict[str, Any]] = []
    leaves: dict[str, list[tuple[uuid.UUID, _Leaf]]] = {}
    slugs: set[str] = set()

    def add(name: str, parent: uuid.UUID | None, position: int) -> uuid.UUID:
        slug = slugify(name)
        assert slug not in slugs, f"duplicate category slug {slug}"
        slugs.add(slug)
        category_id = ids("category", slug)
        rows.append(
            {
                "id": category_id,
                "parent_id": parent,
                "name": name,
                "slug": slug,
                "position": position,
            }
        )
        return category_id

    for top_position, (top_name, middles) in enumerate(CATEGORY_TREE):
        top_id = add(top_name, None, top_position)
        under = leaves.setdefault(slugify(top_name), [])
        for middle_position, (middle_name, leaf_specs) in enumerate(middles):
            middle_id = add(middle_name, top_id, middle_position)
            for leaf_position, leaf in enumerate(leaf_specs):
                under.append((add(leaf.name, middle_id, leaf_position), leaf))
    return rows, leaves


def _fx_rows(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for quote, rate_text in USD_RATES.items():
        earlier = Decimal(rate_text)
        exponent = earlier.as_tuple().exponent
        assert isinstance(exponent, int)
        later = (earlier * Decimal(str(round(rng.uniform(0.985, 1.015), 4)))).quantize(
            Decimal(1).scaleb(exponent - 1)
        )
        for days, rate in ((30, earlier), (1, later)):
            rows.append(
                {
                    "base": "USD",
                    "quote": quote,
                    "rate": rate,
                    "effective_at": today - timedelta(days=days),
                }
            )
    return rows


def _search_document_update() -> Update:
    """Every product's full-text document in one statement, built by the same expression as
    resolvers.product_writes.refresh_product_derived (db.models.catalog.product_search_document)."""
    skus = (
        select(
            ProductVariant.product_id,
            func.string_agg(
                ProductVariant.sku,
                aggregate_order_by(literal(" "), ProductVariant.position, ProductVariant.sku),
            ).label("skus"),
        )
        .group_by(ProductVariant.product_id)
        .subquery()
    )
    return (
        update(Product)
        .where(Product.id == skus.c.product_id)
        .values(search_document=product_search_document(skus.c.skus))
    )


async def analyze(engine: AsyncEngine) -> None:
    """Refresh the planner's statistics after a bulk load.

    Freshly loaded tables have none until autovacuum's analyze reaches them (on a server without
    autovacuum, never): the planner then guesses, and the catalog's plans were 200x off.
    """
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        await conn.execute(text("ANALYZE"))


async def seed(
    engine: AsyncEngine, *, password_hash: str, products: int = 600, seed: int = 2026
) -> SeedSummary:
    """Fill an empty, migrated database with demo data in one transaction, then ANALYZE it.

    `password_hash` is the hash of DEMO_PASSWORD every demo user signs in with (the caller
    hashes it: db/ does not depend on auth/). Raises RuntimeError when any company exists.
    """
    if products < 0:
        raise ValueError("products must not be negative")
    if await is_seeded(engine):
        raise RuntimeError("database already has data; seed only an empty database")
    rng = random.Random(seed)
    ids = _Ids(seed)
    now = datetime.now(UTC)

    async with engine.begin() as conn:
        # Serialise concurrent seeders, then check again under the lock.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        if await _has_data(conn):
            raise RuntimeError("database already has data; seed only an empty database")
        # The engine's statement timeout suits requests, not a bulk load of 100 000 products.
        await conn.execute(text("SET LOCAL statement_timeout = 0"))

        companies: list[dict[str, Any]] = []
        users: list[dict[str, Any]] = []
        memberships: list[dict[str, Any]] = []
        warehouses: list[dict[str, Any]] = []
        warehouse_of: dict[str, uuid.UUID] = {}
        for spec in COMPANIES:
            company_id = ids("company", spec.key)
            companies.append(
                {
                    "id": company_id,
                    "name": spec.name,
                    "country": spec.country,
                    "default_currency": spec.currency,
                    "is_seller": spec.is_seller,
                    "is_buyer": spec.is_buyer,
                    "is_platform": spec.is_platform,
                }
            )
            if spec.is_seller:
                warehouse_of[spec.key] = ids("warehouse", spec.key)
                warehouses.append(
                    {
                        "id": warehouse_of[spec.key],
                        "company_id": company_id,
                        "name": f"{spec.name} Main Warehouse",
                        "country": spec.country,
                        "is_default": True,
                    }
                )
            for index, (email, full_name) in enumerate(spec.users):
                user_id = ids("user", email)
                users.append(
                    {
                        "id": user_id,
                        "email": email,
                        "name": full_name,
                        "password_hash": password_hash,
                        "is_active": True,
                    }
                )
                role = MemberRole.OWNER if index == 0 else _SECOND_USER_ROLES[(index - 1) % 2]
                memberships.append({"user_id": user_id, "company_id": company_id, "role": role})
        categories, leaves_by_top = _category_rows(ids)
        fx_rates = _fx_rows(rng, now)

        await conn.execute(insert(Company), companies)
        await conn.execute(insert(User), users)
        await conn.execute(insert(Membership), memberships)
        await conn.execute(insert(Warehouse), warehouses)
        await conn.execute(insert(Category), categories)
        await conn.execute(insert(FxRate), fx_rates)

        sellers = [
            _Seller(
                id=ids("company", spec.key),
                prefix=spec.sku_prefix,
                currency=spec.currency,
                warehouse_id=warehouse_of[spec.key],
                leaves=tuple(leaf for top in spec.sells for leaf in leaves_by_top[top]),
            )
            for spec in COMPANIES
            if spec.is_seller
        ]
        # COPY through the asyncpg connection that holds this transaction (SQLAlchemy has
        # started it with the statements above).
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None and raw.is_in_transaction()
        counts = _Counts()
        for chunk in _products(rng, ids, sellers, products, now):
            await raw.copy_records_to_table(
                "products", records=chunk.products, columns=PRODUCT_COLUMNS
            )
            await raw.copy_records_to_table(
                "product_variants", records=chunk.variants, columns=VARIANT_COLUMNS
            )
            await raw.copy_records_to_table(
                "price_tiers", records=chunk.tiers, columns=TIER_COLUMNS
            )
            await raw.copy_records_to_table(
                "stock_levels", records=chunk.stock, columns=STOCK_COLUMNS
            )
            counts.products += len(chunk.products)
            counts.variants += len(chunk.variants)
            counts.tiers += len(chunk.tiers)
            counts.stock_levels += len(chunk.stock)
        await conn.execute(_search_document_update())

    await analyze(engine)
    return SeedSummary(
        companies=len(companies),
        users=len(users),
        categories=len(categories),
        products=counts.products,
        variants=counts.variants,
        tiers=counts.tiers,
        stock_levels=counts.stock_levels,
        fx_rates=len(fx_rates),
        logins=DEMO_LOGINS,
    )
