"""Nested catalog reads cost one SQL statement per level, whatever the page size."""

import pytest

from tests.support import add_category_tree, create_product, gql, register, variant_input

CATALOG_PAGE = """
query Catalog($first: Int!, $seller: ID!) {
  products(first: $first, filter: {sellerId: $seller}) {
    edges { node {
      seller { name }
      category { name }
      variants { priceTiers { unitPrice { amount } } availableQuantity }
    } }
  }
}
"""


@pytest.fixture(scope="module")
async def catalog_of_50(app, services):
    import httpx

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        categories = await add_category_tree(services)
        seller = await register(client, seller=True)
        for index in range(50):
            await create_product(
                client,
                seller.token,
                categories["grandchild" if index % 2 else "child-b"],
                variants=[
                    variant_input(tiers=[(1, "5.00"), (10, "4.50")]),
                    variant_input(tiers=[(1, "7.00")]),
                ],
            )
    return seller


async def statements_for(client, counter, first, seller):
    counter.reset()
    body = await gql(client, CATALOG_PAGE, {"first": first, "seller": seller.company_id})
    counter.active = False
    edges = body["data"]["products"]["edges"]
    assert len(edges) == first
    assert all(len(edge["node"]["variants"]) == 2 for edge in edges)
    return counter.count


async def test_statement_count_does_not_grow_with_page_size(
    client, statement_counter, catalog_of_50
):
    small = await statements_for(client, statement_counter, 5, catalog_of_50)
    large = await statements_for(client, statement_counter, 50, catalog_of_50)
    assert small == large
    # page, sellers, categories, variants, tiers, stock: one statement per level.
    assert large <= 6, statement_counter.statements


async def statements_for_nodes(client, counter, seller, count):
    query = """
    query Ids($seller: ID!, $first: Int!) {
      products(first: $first, filter: {sellerId: $seller}) { edges { node { id } } }
    }
    """
    body = await gql(client, query, {"seller": seller.company_id, "first": count})
    ids = [edge["node"]["id"] for edge in body["data"]["products"]["edges"]]
    fields = "seller { name } variants { sku priceTiers { minQuantity } availableQuantity }"
    nodes = "\n".join(
        f'p{i}: node(id: "{pid}") {{ ... on Product {{ {fields} }} }}' for i, pid in enumerate(ids)
    )
    counter.reset()
    body = await gql(client, f"{{ {nodes} }}")
    counter.active = False
    assert all(len(body["data"][f"p{i}"]["variants"]) == 2 for i in range(count))
    return counter.count


async def test_objects_fetched_by_node_are_batched_too(
    client, settings, statement_counter, catalog_of_50
):
    few = await statements_for_nodes(client, statement_counter, catalog_of_50, 3)
    # As many aliased node() lookups as one operation may hold (MAX_ROOT_FIELDS).
    many = await statements_for_nodes(
        client, statement_counter, catalog_of_50, settings.max_root_fields
    )
    # node loads, then sellers and variants, then tiers and stock: one batch per level.
    assert few == many
