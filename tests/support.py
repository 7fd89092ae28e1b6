"""Helpers for API tests: GraphQL calls and building companies, categories and products."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from db.models import Category, FxRate
from resolvers.context import Services
from resolvers.global_ids import to_global_id

PASSWORD = "correct-horse-battery-staple"


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    expect_errors: bool = False,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    if not expect_errors:
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
    return body


@dataclass
class Account:
    email: str
    token: str
    refresh_token: str
    company_id: str
    user_id: str


REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) {
    accessToken refreshToken
    user { id email company { id name } memberRole }
    userErrors { field message code retryAfterSeconds }
  }
}
"""


async def register(
    client: httpx.AsyncClient,
    *,
    seller: bool = False,
    buyer: bool = False,
    country: str = "DE",
    currency: str = "EUR",
    email: str | None = None,
) -> Account:
    email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
    body = await gql(
        client,
        REGISTER,
        {
            "input": {
                "email": email,
                "password": PASSWORD,
                "name": "Test User",
                "companyName": f"Company {email}",
                "country": country,
                "defaultCurrency": currency,
                "isSeller": seller,
                "isBuyer": buyer,
            }
        },
    )
    payload = body["data"]["register"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return Account(
        email=email,
        token=payload["accessToken"],
        refresh_token=payload["refreshToken"],
        company_id=payload["user"]["company"]["id"],
        user_id=payload["user"]["id"],
    )


async def add_category_tree(services: Services) -> dict[str, str]:
    """root > (child-a > grandchild, child-b); returns slug -> global ID."""
    suffix = uuid.uuid4().hex[:8]
    ids = {name: uuid.uuid4() for name in ("root", "child-a", "grandchild", "child-b")}
    parents = {"root": None, "child-a": "root", "grandchild": "child-a", "child-b": "root"}
    async with services.sessions() as session, session.begin():
        for position, (name, parent) in enumerate(parents.items()):
            await session.execute(
                insert(Category).values(
                    id=ids[name],
                    parent_id=ids[parent] if parent else None,
                    name=f"{name} {suffix}",
                    slug=f"{name}-{suffix}",
                    position=position,
                )
            )
    return {name: to_global_id("Category", key) for name, key in ids.items()}


async def set_fx_rate(services: Services, base: str, quote: str, rate: str) -> None:
    async with services.sessions() as session, session.begin():
        await session.execute(
            insert(FxRate).values(
                base=base,
                quote=quote,
                rate=Decimal(rate),
                effective_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )


CREATE_PRODUCT = """
mutation Create($input: CreateProductInput!) {
  createProduct(input: $input) {
    product { id slug name status variants { id sku } }
    userErrors { field message code }
  }
}
"""


def variant_input(
    sku: str | None = None,
    *,
    currency: str = "EUR",
    moq: int = 1,
    tiers: list[tuple[int, str]] | None = None,
    stock: int | None = 100,
) -> dict[str, Any]:
    return {
        "sku": sku or f"SKU-{uuid.uuid4().hex[:10]}",
        "name": "Standard",
        "currency": currency,
        "minimumOrderQuantity": moq,
        "priceTiers": [{"minQuantity": q, "unitPrice": p} for q, p in (tiers or [(moq, "10.00")])],
        "stock": stock,
    }


async def create_product(
    client: httpx.AsyncClient,
    token: str,
    category_id: str,
    *,
    name: str | None = None,
    status: str = "ACTIVE",
    variants: list[dict[str, Any]] | None = None,
    description: str = "A sturdy item for professional use.",
) -> dict[str, Any]:
    body = await gql(
        client,
        CREATE_PRODUCT,
        {
            "input": {
                "name": name or f"Product {uuid.uuid4().hex[:8]}",
                "description": description,
                "categoryId": category_id,
                "status": status,
                "variants": variants or [variant_input()],
            }
        },
        token=token,
    )
    payload = body["data"]["createProduct"]
    assert payload["userErrors"] == [], payload["userErrors"]
    product: dict[str, Any] = payload["product"]
    return product


def gateway_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Errors the gateway (or Strawberry) logged: a client's mistake must leave none."""
    return [
        r
        for r in caplog.records
        if r.name.startswith(("gateway", "strawberry")) and r.levelno >= logging.ERROR
    ]
