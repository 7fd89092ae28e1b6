"""Static query cost: computed before execution, reported in extensions.cost, bounded."""

import pytest

from tests.support import gql, register


def cost(body):
    return body["extensions"]["cost"]["requestedQueryCost"]


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        # a connection: 2 + first x (node 1 + seller 1)
        ("{ products(first: 3) { edges { node { id seller { name } } } } }", {}, 2 + 3 * 2),
        # first from a variable
        (
            "query($n: Int) { products(first: $n) { edges { node { id seller { name } } } } }",
            {"n": 5},
            2 + 5 * 2,
        ),
        # no first: the default page of 20
        ("{ products { edges { node { id } } } }", {}, 2 + 20 * 1),
        # a plain list inside: variants (estimated 4) x (1 + priceTiers 4 x (1 + unitPrice 1))
        (
            "{ products(first: 2) { edges { node {"
            " variants { priceTiers { unitPrice { amount } } } } } } }",
            {},
            2 + 2 * (1 + 4 * (1 + 4 * (1 + 1))),
        ),
        # fragments cost what their fields cost
        (
            "{ products(first: 3) { edges { node { ...F } } } }"
            " fragment F on Product { seller { name } }",
            {},
            2 + 3 * 2,
        ),
        # scalars, and introspection, are free
        ("{ __typename __schema { types { name } } }", {}, 0),
    ],
)
async def test_requested_cost_follows_the_rules(client, query, variables, expected):
    body = await gql(client, query, variables)
    assert cost(body) == expected
    assert body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] > 0


async def test_a_mutation_costs_ten_plus_its_selection(client):
    body = await gql(
        client, 'mutation { logout(refreshToken: "x") { success userErrors { code } } }'
    )
    assert cost(body) == 10 + 1


async def test_a_query_over_the_maximum_is_refused_before_any_statement(
    client, settings, statement_counter
):
    page = (
        "products(first: 100) { edges { node {"
        " variants { priceTiers { unitPrice { amount } } } } } }"
    )
    query = "{ " + " ".join(f"p{i}: {page}" for i in range(3)) + " }"
    statement_counter.reset()
    try:
        response = await client.post("/graphql", json={"query": query})
    finally:
        statement_counter.active = False
    body = response.json()
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"]["requestedQueryCost"] > settings.max_query_cost
    assert statement_counter.count == 0


async def test_the_orders_list_multiplies_by_its_lines(client):
    buyer = await register(client, buyer=True)
    body = await gql(
        client,
        "{ orders(first: 10) { edges { node { number lines { quantity variant { sku } } } } } }",
        token=buyer.token,
    )
    assert cost(body) == 2 + 10 * (1 + 20 * (1 + 1))


async def test_a_mutation_refused_by_its_permission_reports_no_actual_cost(client):
    # Anonymous: createProduct's @isAuthenticated refuses it, nothing is written.
    body = await gql(
        client,
        "mutation($input: CreateProductInput!) { createProduct(input: $input) { userErrors "
        "{ code } } }",
        {
            "input": {
                "name": "x",
                "description": "y",
                "categoryId": "Q2F0ZWdvcnk6MQ==",
                "variants": [],
            }
        },
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10 + 1
    assert body["extensions"]["cost"]["actualQueryCost"] == 0


async def test_a_mutation_that_answered_reports_its_writes(client):
    body = await gql(
        client, 'mutation { logout(refreshToken: "x") { success userErrors { code } } }'
    )
    assert body["extensions"]["cost"]["actualQueryCost"] == 10 + 1
