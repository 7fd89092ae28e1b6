"""Warehouses and per-warehouse stock over HTTP."""

import asyncio
import uuid

from sqlalchemy import func, insert, select

from db.models import Company, Warehouse
from resolvers.global_ids import key_of
from resolvers.warehouses import MAX_WAREHOUSES
from tests.support import add_category_tree, create_product, gql, register, variant_input

WAREHOUSES = "{ warehouses { id name country isDefault } }"
CREATE = """
mutation($input: CreateWarehouseInput!) {
  createWarehouse(input: $input) { warehouse { id name isDefault } userErrors { field code } }
}
"""
SET_STOCK = """
mutation($v: ID!, $q: Int!, $w: ID) {
  setStock(variantId: $v, quantity: $q, warehouseId: $w) {
    variant { availableQuantity stockLevels { warehouseName onHand reserved available } }
    userErrors { field code }
  }
}
"""
LEVELS = """query($id: ID!) { node(id: $id) { ... on ProductVariant {
  availableQuantity stockLevels { warehouseName onHand } } } }"""


async def test_a_seller_adds_warehouses_and_stocks_each(client, services):
    seller = await register(client, seller=True)
    [main] = (await gql(client, WAREHOUSES, token=seller.token))["data"]["warehouses"]
    assert main["isDefault"] is True
    body = await gql(
        client, CREATE, {"input": {"name": "Rotterdam", "country": "NL"}}, token=seller.token
    )
    rotterdam = body["data"]["createWarehouse"]["warehouse"]
    assert rotterdam["isDefault"] is False
    categories = await add_category_tree(services)
    product = await create_product(
        client, seller.token, categories["root"], variants=[variant_input(stock=30)]
    )
    variant = product["variants"][0]["id"]
    body = await gql(
        client, SET_STOCK, {"v": variant, "q": 12, "w": rotterdam["id"]}, token=seller.token
    )
    levels = body["data"]["setStock"]["variant"]
    assert levels["availableQuantity"] == 42
    assert [(level["warehouseName"], level["onHand"]) for level in levels["stockLevels"]] == [
        (main["name"], 30),
        ("Rotterdam", 12),
    ]


async def test_a_new_default_replaces_the_old_one(client):
    seller = await register(client, seller=True)
    await gql(
        client,
        CREATE,
        {"input": {"name": "Hub", "country": "DE", "isDefault": True}},
        token=seller.token,
    )
    warehouses = (await gql(client, WAREHOUSES, token=seller.token))["data"]["warehouses"]
    assert (warehouses[0]["name"], warehouses[0]["isDefault"]) == ("Hub", True)
    assert sum(w["isDefault"] for w in warehouses) == 1


async def test_stock_levels_are_the_sellers_secret(client, services):
    seller = await register(client, seller=True)
    categories = await add_category_tree(services)
    product = await create_product(client, seller.token, categories["root"])
    variant = product["variants"][0]["id"]
    buyer = await register(client, buyer=True)
    seen = (await gql(client, LEVELS, {"id": variant}, token=buyer.token))["data"]["node"]
    assert seen["stockLevels"] is None and seen["availableQuantity"] == 100
    own = (await gql(client, LEVELS, {"id": variant}, token=seller.token))["data"]["node"]
    assert own["stockLevels"][0]["onHand"] == 100


async def test_warehouse_input_and_access_are_checked(client):
    seller = await register(client, seller=True)
    body = await gql(client, CREATE, {"input": {"name": " ", "country": "DE"}}, token=seller.token)
    assert body["data"]["createWarehouse"]["userErrors"] == [
        {"field": ["input", "name"], "code": "INVALID"}
    ]
    buyer = await register(client, buyer=True)
    body = await gql(client, WAREHOUSES, token=buyer.token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other = await register(client, seller=True)
    [theirs] = (await gql(client, WAREHOUSES, token=other.token))["data"]["warehouses"]
    mine = (await gql(client, WAREHOUSES, token=seller.token))["data"]["warehouses"]
    assert theirs["id"] not in {w["id"] for w in mine}


async def _warehouse_count(services, company_key) -> int:
    async with services.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Warehouse)
                .where(Warehouse.company_id == company_key)
            )
            or 0
        )


async def test_creating_a_warehouse_does_not_wait_for_foreign_key_locks(client, services):
    """A checkout's foreign keys take FOR KEY SHARE on the seller's company row: a warehouse
    being created meanwhile must neither wait for it nor make it wait."""
    seller = await register(client, seller=True)
    company_key = key_of(seller.company_id, "Company")
    async with services.engine.connect() as connection, connection.begin():
        await connection.execute(
            select(Company.id)
            .where(Company.id == company_key)
            .with_for_update(read=True, key_share=True)
        )
        creating = asyncio.ensure_future(
            gql(client, CREATE, {"input": {"name": "Side", "country": "DE"}}, token=seller.token)
        )
        done, _ = await asyncio.wait([creating], timeout=2)
        blocked = not done
    body = await creating
    assert not blocked, "createWarehouse waited for a FOR KEY SHARE lock on the company"
    assert body["data"]["createWarehouse"]["userErrors"] == []


async def test_concurrent_creates_stop_at_the_warehouse_limit(client, services):
    seller = await register(client, seller=True)
    company_key = key_of(seller.company_id, "Company")
    async with services.sessions() as session, session.begin():
        await session.execute(
            insert(Warehouse),
            [
                {"id": uuid.uuid4(), "company_id": company_key, "name": f"W{n}", "country": "DE"}
                for n in range(MAX_WAREHOUSES - 2)
            ],
        )
    assert await _warehouse_count(services, company_key) == MAX_WAREHOUSES - 1
    bodies = await asyncio.gather(
        *(
            gql(client, CREATE, {"input": {"name": f"R{n}", "country": "NL"}}, token=seller.token)
            for n in range(3)
        )
    )
    payloads = [body["data"]["createWarehouse"] for body in bodies]
    assert sum(payload["warehouse"] is not None for payload in payloads) == 1
    assert await _warehouse_count(services, company_key) == MAX_WAREHOUSES
