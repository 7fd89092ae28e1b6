"""The self-hosted GraphiQL in headless Chromium, against a real gateway: the page loads from
the gateway alone with no console error and no CSP violation, runs a catalog query, and shows
a live subscription event once a bearer token is set in its Headers pane."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from realtime.outbox import ORDERS, company_channel
from resolvers.global_ids import key_of
from tests.api.test_checkout import add_to_cart, checkout, offer
from tests.api.test_orders import move
from tests.browser.cdp import Page
from tests.browser.conftest import LiveServer
from tests.support import add_category_tree, register

pytestmark = pytest.mark.browser

# Each test's own budget; with the browser's and the server's start-up the module stays < 60 s.
BUDGET_SECONDS = 15
RUN = ".graphiql-execute-button"
SUBSCRIPTION = "subscription { orderStatusChanged { eventId status } }"
RESPONSE = "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
HEADERS_EDITOR = (
    "document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror')"
    ".CodeMirror"
)


async def open_ide(page: Page, server: LiveServer, query: str) -> None:
    await page.goto(f"{server.url}/graphql?query={quote(query)}")
    await page.wait_for(f"!!document.querySelector('{RUN}')")
    # The schema is loaded (introspection answered) once the docs explorer can be offered.
    await page.wait_for("!!document.querySelector('.graphiql-query-editor .CodeMirror')")


async def response_containing(page: Page, text: str) -> Any:
    found = await page.wait_for(
        f"(() => {{ const v = {RESPONSE}; return v.includes({json.dumps(text)}) ? v : null }})()"
    )
    return json.loads(found)


async def assert_clean(page: Page, server: LiveServer) -> None:
    """No console error, no failed resource, no CSP violation, nothing from another origin."""
    assert page.problems == []
    assert await page.csp_violations() == []
    loaded = await page.evaluate(
        "performance.getEntriesByType('resource').map(entry => entry.name)"
    )
    origin = urlsplit(server.url)
    for url in loaded:
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == (origin.hostname, origin.port), url


async def test_the_ide_loads_from_the_gateway_alone_and_runs_a_query(page, live_server, services):
    categories = await add_category_tree(services)
    async with asyncio.timeout(BUDGET_SECONDS):
        await open_ide(page, live_server, "{ categories { name } }")
        styles = await page.evaluate("[...document.styleSheets].map(sheet => sheet.href)")
        assert any(href and "graphiql.min.css" in href for href in styles)

        await page.click(RUN)
        answer = await response_containing(page, '"categories"')
        names = {category["name"] for category in answer["data"]["categories"]}
        root_name = await category_name(live_server, categories["root"])
        assert root_name in names

        # A dialog adds an inline <style> (allowed by the page's nonce only).
        await page.click("button[aria-label='Open settings dialog']")
        await page.wait_for("!!document.querySelector('[role=dialog]')")
        await assert_clean(page, live_server)

        # The policy is in force: an injected inline script is refused, and reported.
        ran = await page.evaluate(
            "(() => { const s = document.createElement('script');"
            " s.textContent = 'window.injected = true'; document.head.append(s);"
            " return window.injected === true })()"
        )
        assert ran is False
        violations = await page.wait_for("window.__cspViolations.length && window.__cspViolations")
        assert violations[0].startswith("script-src")


async def category_name(server: LiveServer, category: str) -> str:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": "query C($id: ID!) { node(id: $id) { ... on Category { name } } }",
                "variables": {"id": category},
            },
        )
    name: str = response.json()["data"]["node"]["name"]
    return name


async def test_a_subscription_signed_in_in_the_headers_pane_shows_live_events(
    page, live_server, services
):
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        shop = await offer(client, services)
        buyer = await register(client, buyer=True)
        assert await add_to_cart(client, buyer.token, shop.variants[0], 2) == []
        placed = await checkout(client, buyer.token)
        assert placed["userErrors"] == []
        order = placed["orders"][0]["id"]

        async with asyncio.timeout(BUDGET_SECONDS):
            await open_ide(page, live_server, SUBSCRIPTION)
            if not await page.evaluate("!!document.querySelector('[data-name=headers].active')"):
                await page.click("[data-name=headers]")
            await page.evaluate(f"{HEADERS_EDITOR}.focus()")
            authorization = json.dumps({"Authorization": f"Bearer {buyer.token}"})
            await page.type_text(authorization)
            assert await page.evaluate(f"{HEADERS_EDITOR}.getValue()") == authorization

            await page.click(RUN)
            await subscribed(live_server, buyer.company_id)
            assert (await move(client, shop.seller, order, "CONFIRMED"))["userErrors"] == []

            event = await response_containing(page, "CONFIRMED")
            assert event["data"]["orderStatusChanged"]["status"] == "CONFIRMED"
            assert int(event["data"]["orderStatusChanged"]["eventId"]) > 0
            await assert_clean(page, live_server)

            await page.click(RUN)  # the same button stops the subscription
            await unsubscribed(live_server, buyer.company_id)


def buyer_channel(company: str) -> str:
    key = key_of(company, "Company")
    assert key is not None
    return company_channel(key, ORDERS)


async def subscribed(server: LiveServer, company: str) -> None:
    """Wait until the gateway follows the company's orders for the IDE's subscription."""
    broadcast = server.app.state.services.broadcast
    while broadcast.subscriber_count(buyer_channel(company)) == 0:  # noqa: ASYNC110 (polls)
        await asyncio.sleep(0.02)


async def unsubscribed(server: LiveServer, company: str) -> None:
    broadcast = server.app.state.services.broadcast
    while broadcast.subscriber_count(buyer_channel(company)) > 0:  # noqa: ASYNC110 (polls)
        await asyncio.sleep(0.02)
