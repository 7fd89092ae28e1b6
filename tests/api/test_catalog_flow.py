from tests.support import (
    add_category_tree,
    create_product,
    gql,
    register,
    set_fx_rate,
    variant_input,
)

PAGE = """
query Page(
  $first: Int, $after: String, $filter: ProductFilter, $sort: ProductSort,
  $currency: CurrencyCode
) {
  products(first: $first, after: $after, filter: $filter, sortBy: $sort, currency: $currency) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node {
      id name seller { name } category { name }
      priceRange { min { amount currency } max { amount currency } }
      variants { sku priceTiers { minQuantity unitPrice { amount currency } }
                 unitPrice(quantity: 50) { amount currency } availableQuantity }
    } }
  }
}
"""


async def test_create_and_list(client, services):
    cats = await add_category_tree(services)
    seller = await register(client, seller=True)
    await set_fx_rate(services, "USD", "EUR", "0.9")
    product = await create_product(
        client,
        seller.token,
        cats["grandchild"],
        variants=[variant_input(tiers=[(1, "10.00"), (50, "8.50")], stock=40)],
    )
    body = await gql(client, PAGE, {"first": 10, "filter": {"sellerId": seller.company_id}})
    conn = body["data"]["products"]
    assert conn["totalCount"] == 1
    node = conn["edges"][0]["node"]
    assert node["id"] == product["id"]
    assert node["priceRange"] == {
        "min": {"amount": "8.50", "currency": "EUR"},
        "max": {"amount": "10.00", "currency": "EUR"},
    }
    assert node["variants"][0]["unitPrice"] == {"amount": "8.50", "currency": "EUR"}
    assert node["variants"][0]["availableQuantity"] == 40
    body = await gql(
        client, PAGE, {"first": 10, "filter": {"sellerId": seller.company_id}, "currency": "USD"}
    )
    node = body["data"]["products"]["edges"][0]["node"]
    assert node["priceRange"]["min"] == {"amount": "9.44", "currency": "USD"}
    body = await gql(
        client,
        PAGE,
        {
            "first": 10,
            "filter": {"categoryId": cats["root"], "sellerId": seller.company_id},
            "sort": "PRICE_ASC",
            "currency": "USD",
        },
    )
    assert len(body["data"]["products"]["edges"]) == 1
