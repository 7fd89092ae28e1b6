"""The README's GraphQL examples, run in order against the app on freshly seeded demo data.

A newcomer pastes them into GraphiQL one after the other; so does this test. Each ```graphql
block may start with `# as <email>` (whose token it runs with: the login examples give them);
every operation in it runs by name, and must answer without `errors` and without `userErrors`.
`<...>` placeholders are what the README tells the reader to take from an earlier answer.
Subscriptions run over WebSocket when they can replay what already happened (`since`), and are
validated against the schema otherwise (a live-only one would wait for an event forever).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import wsproto.events
from graphql import OperationDefinitionNode, OperationType, parse, print_ast, validate
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from db.seed import seed
from server import build_schema, build_services, create_app
from settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
# As many as `./dev serve` seeds, so the answers are the ones a newcomer sees.
DEMO_PRODUCTS = 600

_BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)
_AS = re.compile(r"^#\s*as\s+(\S+@\S+)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"<[^<>\"]+>")


@dataclass(frozen=True)
class Example:
    name: str
    kind: OperationType
    document: str  # this operation alone, placeholders still in it
    viewer: str | None  # the email whose token it runs with; None: anonymous


def readme_examples() -> list[Example]:
    examples = []
    for block in _BLOCK.findall(README.read_text()):
        viewer = _AS.search(block)
        for definition in parse(block).definitions:
            assert isinstance(definition, OperationDefinitionNode), "README examples: operations"
            assert definition.name is not None, f"name every README operation:\n{block}"
            examples.append(
                Example(
                    name=definition.name.value,
                    kind=definition.operation,
                    document=print_ast(definition),
                    viewer=viewer.group(1) if viewer else None,
                )
            )
    return examples


def _chosen_variant(answer: dict[str, Any]) -> dict[str, str]:
    """What the README asks the reader to pick from the catalog: a variant of an Acme Industrial
    product that can be bought 10 at a time and has 500 available."""
    for edge in answer["products"]["edges"]:
        product = edge["node"]
        if not product["seller"]["name"].startswith("Acme Industrial"):
            continue
        for variant in product["variants"]:
            minimum, step = variant["minimumOrderQuantity"], variant["orderIncrement"]
            if minimum <= 10 and (10 - minimum) % step == 0 and variant["availableQuantity"] >= 500:
                return {"<variant id>": variant["id"], "<seller id>": product["seller"]["id"]}
    raise AssertionError(f"the README's catalog query shows no variant to pick: {answer}")


# Which answer gives which placeholder, as the README's text says.
LEARNED_FROM: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "Catalog": _chosen_variant,
    "Checkout": lambda data: {"<order id>": data["checkout"]["orders"][0]["id"]},
    "RequestQuote": lambda data: {"<request id>": data["requestQuote"]["quoteRequest"]["id"]},
    "Quote": lambda data: {"<quote id>": data["submitQuote"]["quote"]["id"]},
    "Requote": lambda data: {"<quote id>": data["submitQuote"]["quote"]["id"]},
}


def fill(document: str, known: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        placeholder = match.group(0)
        assert placeholder in known, f"nothing earlier in the README gives {placeholder}"
        return known[placeholder]

    return _PLACEHOLDER.sub(value, document)


def user_errors(data: Any) -> list[Any]:
    """Every non-empty `userErrors` anywhere in an answer."""
    if isinstance(data, dict):
        found = [data["userErrors"]] if data.get("userErrors") else []
        return found + [e for v in data.values() for e in user_errors(v)]
    if isinstance(data, list):
        return [e for v in data for e in user_errors(v)]
    return []


@pytest.fixture(scope="module")
async def demo_app(
    settings: Settings, fresh_database: Any, demo_password_hash: str
) -> AsyncIterator[Starlette]:
    async with fresh_database() as engine:
        await seed(engine, password_hash=demo_password_hash, products=DEMO_PRODUCTS)
        url = engine.url.render_as_string(hide_password=False)
        demo_settings = settings.model_copy(update={"database_url": url})
        services = build_services(demo_settings)
        app = create_app(demo_settings, services)
        try:
            async with app.router.lifespan_context(app):
                yield app
        finally:
            await services.engine.dispose()
            if services.redis is not None:
                await services.redis.aclose()


async def first_event(app: Starlette, document: str, token: str) -> dict[str, Any]:
    """The first event a subscription sends over graphql-transport-ws."""
    async with (
        ASGIWebSocketTransport(app=app) as transport,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        ws: AsyncWebSocketSession
        async with aconnect_ws(
            "/graphql",
            http,
            subprotocols=["graphql-transport-ws"],
            keepalive_ping_interval_seconds=None,
        ) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            )
            messages = []
            while True:
                event = await ws.receive(timeout=10)
                assert isinstance(event, wsproto.events.TextMessage), event
                message: dict[str, Any] = json.loads(event.data)
                messages.append(message)
                if message["type"] == "connection_ack":
                    subscribe = {"type": "subscribe", "id": "1", "payload": {"query": document}}
                    await ws.send_json(subscribe)
                elif message["type"] in ("next", "error", "complete"):
                    await ws.send_json({"type": "complete", "id": "1"})
                    assert message["type"] == "next", messages
                    payload: dict[str, Any] = message["payload"]
                    return payload


async def test_readme_examples_run_in_order(demo_app: Starlette, settings: Settings) -> None:
    examples = readme_examples()
    names = [example.name for example in examples]
    # The walk-through's steps, so that losing one from the README fails here.
    for step in ("Catalog", "SellerLogin", "BuyerLogin", "Checkout", "Complete", "AcceptQuote"):
        assert step in names, step
    schema = build_schema(settings)._schema
    known = {
        # The README asks for a time within 90 days; "0" replays an order's events from the start.
        "<a time within 90 days>": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        "<last eventId seen>": "0",
    }
    tokens: dict[str, str] = {}
    transport = httpx.ASGITransport(app=demo_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for example in examples:
            document = fill(example.document, known)
            token = None
            if example.viewer is not None:
                assert example.viewer in tokens, f"{example.name}: no login for {example.viewer}"
                token = tokens[example.viewer]
            if example.kind is OperationType.SUBSCRIPTION:
                assert validate(schema, parse(document)) == [], example.name
                if "since:" in document:
                    assert token is not None
                    payload = await first_event(demo_app, document, token)
                    assert "errors" not in payload, (example.name, payload)
                continue
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = await http.post("/graphql", json={"query": document}, headers=headers)
            body = response.json()
            assert response.status_code == 200, (example.name, body)
            assert "errors" not in body, (example.name, body["errors"])
            data = body["data"]
            assert user_errors(data) == [], (example.name, user_errors(data))
            if "login" in data:
                login = re.search(r'email:\s*"([^"]+)"', document)
                assert login is not None
                tokens[login.group(1)] = data["login"]["accessToken"]
            if example.name in LEARNED_FROM:
                known.update(LEARNED_FROM[example.name](data))
