"""The code enums (CurrencyCode, CountryCode) and the Decimal scalar, as clients write them: JSON
variables carry codes and decimals as strings; the query text writes a code as an enum value
(`currency: EUR`) and a decimal as a string or a number literal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from domain.geography import country_codes
from domain.money import supported_currencies
from tests.api.test_catalog import top_codes
from tests.api.test_pricing import SET_FX, platform_admin
from tests.support import add_category_tree, gql, register, set_fx_rate

ENUMS = """
query { __schema { types { name kind description enumValues { name } } } }
"""


async def test_codes_are_enums_of_every_supported_code(client):
    body = await gql(client, ENUMS)
    types = {t["name"]: t for t in body["data"]["__schema"]["types"]}
    for name, codes in (
        ("CurrencyCode", supported_currencies()),
        ("CountryCode", country_codes()),
    ):
        assert types[name]["kind"] == "ENUM"
        assert types[name]["description"]
        assert [value["name"] for value in types[name]["enumValues"]] == codes
    currencies = {value["name"] for value in types["CurrencyCode"]["enumValues"]}
    assert {"EUR", "USD", "JPY", "KWD", "CHF"} <= currencies
    assert "XAU" not in currencies  # gold has no minor unit: not traded
    countries = {value["name"] for value in types["CountryCode"]["enumValues"]}
    assert {"DE", "US", "JP", "KW"} <= countries
    assert len(countries) == 249


COMPANY = "{ me { company { country defaultCurrency } } }"


async def test_codes_in_variables_are_strings_and_print_as_enum_values(client):
    account = await register(client, seller=True, country="JP", currency="JPY")
    body = await gql(client, COMPANY, token=account.token)
    assert body["data"]["me"]["company"] == {"country": "JP", "defaultCurrency": "JPY"}


PRICES = """
query Prices($seller: ID!, $currency: CurrencyCode) {
  byVariable: products(first: 5, filter: {sellerId: $seller}, currency: $currency) {
    edges { node { priceRange { min { amount currency } } } }
  }
  byLiteral: products(first: 5, filter: {sellerId: $seller}, currency: USD) {
    edges { node { priceRange { min { amount currency } } } }
  }
}
"""

CREATE_WITH_LITERAL_CODE = """
mutation Create($name: String!, $category: ID!) {
  createProduct(input: {name: $name, description: "Written inline by the client.",
    categoryId: $category, status: ACTIVE,
    variants: [{sku: "INLINE-1", name: "Standard", currency: EUR,
                priceTiers: [{minQuantity: 1, unitPrice: "10.00"}], stock: 5}]}) {
    product { variants { currency priceTiers { unitPrice { amount currency } } } }
    userErrors { field message code }
  }
}
"""


async def test_codes_written_in_the_query_text_are_enum_values(client, services):
    cats = await add_category_tree(services)
    seller = await register(client, seller=True)
    body = await gql(
        client,
        CREATE_WITH_LITERAL_CODE,
        {"name": f"Inline {seller.company_id[-8:]}", "category": cats["root"]},
        token=seller.token,
    )
    payload = body["data"]["createProduct"]
    assert payload["userErrors"] == []
    [variant] = payload["product"]["variants"]
    assert variant["currency"] == "EUR"
    assert variant["priceTiers"][0]["unitPrice"] == {"amount": "10.00", "currency": "EUR"}

    await set_fx_rate(services, "EUR", "USD", "1.1")
    body = await gql(client, PRICES, {"seller": seller.company_id, "currency": "USD"})
    by_variable, by_literal = body["data"]["byVariable"], body["data"]["byLiteral"]
    assert by_variable == by_literal
    assert by_variable["edges"][0]["node"]["priceRange"]["min"] == {
        "amount": "11.00",
        "currency": "USD",
    }


@pytest.mark.parametrize("value", ["ZZZ", "eur", "EUR ", "", "XAU", 5, None, ["EUR"]])
async def test_an_unknown_currency_in_a_variable_is_refused(client, value):
    body = await gql(
        client,
        "query($c: CurrencyCode!) { products(first: 1, currency: $c) { totalCount } }",
        {"c": value},
        expect_errors=True,
    )
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    assert not body.get("data")
    assert "CurrencyCode" in body["errors"][0]["message"]


@pytest.mark.parametrize("value", ["XX", "de", "DEU", "", 49])
async def test_an_unknown_country_in_a_variable_is_refused(client, value):
    body = await gql(
        client,
        "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }",
        {
            "input": {
                "email": "nobody@example.com",
                "password": "correct-horse-battery-staple",
                "name": "Nobody",
                "companyName": "Nobody Ltd",
                "country": value,
                "defaultCurrency": "EUR",
                "isSeller": False,
                "isBuyer": True,
            }
        },
        expect_errors=True,
    )
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    assert not body.get("data")
    assert "CountryCode" in body["errors"][0]["message"]


@pytest.mark.parametrize("literal", ["XX", '"DE"', "de", "49"])
async def test_an_unknown_country_in_the_query_text_is_refused(client, literal):
    query = (
        'mutation { register(input: {email: "nobody@example.com", password: "x", '
        f'name: "N", companyName: "N", country: {literal}, defaultCurrency: EUR, '
        "isSeller: false, isBuyer: true}) { accessToken } }"
    )
    body = await gql(client, query, expect_errors=True)
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    assert "data" not in body
    assert "CountryCode" in body["errors"][0]["message"]


# --- Decimal ------------------------------------------------------------------------------

BAD_DECIMALS: list[Any] = [
    "1_000",  # Python's Decimal() takes digit separators
    "١٢٣",  # Arabic-Indic digits: Decimal() takes them too
    "\uff11\uff12",  # fullwidth digits
    " 1 ",
    "1 ",
    "1\n",
    "1.",
    ".5",
    "-.5",
    "1.2.3",
    "+-1",
    "--1",
    "",
    "+",
    "1e3",
    "1E+9",
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "1,5",
    "1" * 41,  # longer than any decimal column
    True,
    [1],
    {"amount": "1"},
    10**60,
    1e300,
]


@pytest.mark.parametrize("value", BAD_DECIMALS, ids=repr)
async def test_a_malformed_decimal_variable_is_refused(client, value):
    # Checked while the variables are coerced, before anything runs (no admin needed to see it).
    body = await gql(
        client, SET_FX, {"base": "CZK", "quote": "PLN", "rate": value}, expect_errors=True
    )
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    assert not body.get("data")
    assert "is not a decimal" in body["errors"][0]["message"], body


@pytest.mark.parametrize("value", BAD_DECIMALS[:22], ids=repr)
async def test_a_malformed_decimal_variable_inside_an_input_is_refused(client, value):
    body = await gql(
        client,
        "query($f: ProductFilter) { products(first: 1, currency: EUR, filter: $f) { totalCount } }",
        {"f": {"minPrice": value}},
        expect_errors=True,
    )
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    assert not body.get("data")
    assert "minPrice" in body["errors"][0]["message"], body


@pytest.mark.parametrize(
    "literal",
    [
        '"1_000"',
        '"١٢٣"',
        '" 1 "',
        '"1."',
        '".5"',
        '"1e3"',
        '"NaN"',
        "1e3",
        "1.5e2",
        "true",
        "EUR",
        '"1,5"',
        f'"{"1" * 41}"',
        "1" * 41,
    ],
)
async def test_a_malformed_decimal_literal_is_refused(client, literal):
    body = await gql(
        client,
        f"{{ products(first: 1, currency: EUR, filter: {{minPrice: {literal}}}) "
        "{ totalCount } }",
        expect_errors=True,
    )
    assert top_codes(body) == ["BAD_USER_INPUT"], body
    assert "data" not in body
    assert "is not a decimal" in body["errors"][0]["message"], body


_days_back = count(400)


async def _set_rate(client: Any, admin: str, rate: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(days=next(_days_back))).isoformat()
    body = await gql(
        client, SET_FX, {"base": "CZK", "quote": "HUF", "rate": rate, "at": at}, token=admin
    )
    payload: dict[str, Any] = body["data"]["setFxRate"]
    return payload


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", "12"),
        ("+12.50", "12.50"),
        ("0012.5", "12.5"),
        ("0.000000000001", "0.000000000001"),
        ("999999999999.999999999999", "999999999999.999999999999"),
        (12, "12"),
        (12.5, "12.5"),
    ],
)
async def test_well_formed_decimal_variables_are_accepted(client, services, value, expected):
    admin = await platform_admin(client, services)
    payload = await _set_rate(client, admin, value)
    assert payload["userErrors"] == []
    assert Decimal(payload["fxRate"]["rate"]) == Decimal(expected)


async def test_a_well_formed_negative_decimal_reaches_the_mutations_own_rules(client, services):
    # The scalar takes "-0.5"; setFxRate then refuses a rate that is not positive.
    admin = await platform_admin(client, services)
    payload = await _set_rate(client, admin, "-0.5")
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["rate"], "INVALID")]


@pytest.mark.parametrize("literal", ['"12.50"', "12.50", "12", '"-0"', "0", '"+1"'])
async def test_well_formed_decimal_literals_are_accepted(client, literal):
    body = await gql(
        client,
        f"{{ products(first: 1, currency: EUR, filter: {{maxPrice: {literal}}}) "
        "{ totalCount } }",
    )
    assert isinstance(body["data"]["products"]["totalCount"], int)
