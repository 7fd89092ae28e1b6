import uuid

from tests.support import add_category_tree, create_product, gql, register, variant_input

ADDRESS = {"name": "Dock 4", "line1": "1 Harbour Rd", "city": "Hamburg", "postalCode": "20457", "country": "DE"}
CHECKOUT = """
mutation($input: CheckoutInput!) { checkout(input: $input) {
  orders { id number status paymentStatus currency subtotal { amount currency } total { amount }
           buyer { name } seller { name } placedBy { email }
           lines { sku quantity unitPrice { amount } lineTotal { amount } variant { sku availableQuantity } }
           history { status by { email } } shippingAddress { city country } }
  userErrors { field message code } } }
"""


async def test_checkout_smoke(client, services):
    cats = await add_category_tree(services)
    seller = await register(client, seller=True)
    product = await create_product(client, seller.token, cats["root"], variants=[variant_input(tiers=[(1, "2.50")], stock=7)])
    buyer = await register(client, buyer=True)
    body = await gql(client, "mutation($v: ID!) { addToCart(variantId: $v, quantity: 3) { userErrors { code } } }", {"v": product["variants"][0]["id"]}, token=buyer.token)
    key = uuid.uuid4().hex
    body = await gql(client, CHECKOUT, {"input": {"shippingAddress": ADDRESS, "currency": "EUR", "idempotencyKey": key}}, token=buyer.token)
    payload = body["data"]["checkout"]
    assert payload["userErrors"] == [], payload
    order = payload["orders"][0]
    assert order["status"] == "PLACED" and order["subtotal"] == {"amount": "7.50", "currency": "EUR"}
    assert order["lines"][0]["variant"]["availableQuantity"] == 4
    assert order["number"].startswith("ORD-")
    again = await gql(client, CHECKOUT, {"input": {"shippingAddress": ADDRESS, "currency": "EUR", "idempotencyKey": key}}, token=buyer.token)
    assert [o["id"] for o in again["data"]["checkout"]["orders"]] == [order["id"]]
    body = await gql(client, "mutation($id: ID!) { updateOrderStatus(id: $id, status: CONFIRMED) { order { status history { status } } userErrors { code } } }", {"id": order["id"]}, token=seller.token)
    assert body["data"]["updateOrderStatus"]["order"]["status"] == "CONFIRMED"
    body = await gql(client, "mutation($id: ID!) { cancelOrder(id: $id, reason: \"changed mind\") { order { status lines { variant { availableQuantity } } } userErrors { code } } }", {"id": order["id"]}, token=buyer.token)
    assert body["data"]["cancelOrder"]["order"]["status"] == "CANCELLED"
    assert body["data"]["cancelOrder"]["order"]["lines"][0]["variant"]["availableQuantity"] == 7
    body = await gql(client, "{ orders(first: 5) { totalCount edges { node { number status } } } }", token=seller.token)
    assert body["data"]["orders"]["totalCount"] == 1
