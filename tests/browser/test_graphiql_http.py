"""What a browser is sent for the IDE, checked over HTTP (no browser needed): the page and its
Content-Security-Policy, the versioned and long-cached files, the ALLOW_GRAPHIQL switch, and
GETs that are not page loads still executing as before."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway import graphiql
from scripts import vendor_graphiql
from server import create_app
from settings import Settings

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def page_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_a_browser_gets_our_page_under_a_strict_policy(client):
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    nonce = re.search(r'nonce="([^"]+)"', response.text)
    assert nonce is not None
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce.group(1)}'"]
    assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    # The other security headers still apply to the page.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    # Only the gateway's own files, and no inline script.
    urls = page_urls(response.text)
    assert urls and all(url.startswith(f"graphiql/{graphiql.VERSION}/") for url in urls)
    assert len(re.findall(r"<script", response.text)) == response.text.count("<script src=")
    for cdn in ("unpkg", "esm.sh", "jsdelivr", "http://", "https://"):
        assert cdn not in response.text


async def test_each_answer_has_its_own_nonce(client):
    first = await client.get("/graphql", headers=HTML)
    second = await client.get("/graphql", headers=HTML)
    assert first.headers["content-security-policy"] != second.headers["content-security-policy"]


async def test_a_host_header_cannot_inject_a_directive(client):
    response = await client.get("/graphql", headers={**HTML, "host": "evil; script-src *"})
    policy = directives(response.headers["content-security-policy"])
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("ide.js", "text/javascript; charset=utf-8"),
        ("ide.css", "text/css; charset=utf-8"),
        ("vendor/graphiql@4.1.2/graphiql.min.js", "text/javascript; charset=utf-8"),
        ("vendor/graphiql@4.1.2/graphiql.min.css", "text/css; charset=utf-8"),
        ("vendor/graphiql@4.1.2/LICENSE", "text/plain; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_files_are_served_versioned_and_cached_for_a_year(client, name, media_type):
    url = f"/graphiql/{graphiql.VERSION}/{name}"
    plain = await client.get(url, headers={"accept-encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == media_type
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert plain.content == (graphiql.STATIC / name).read_bytes()
    compressed = await client.get(url, headers={"accept-encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.content == plain.content  # httpx decompressed it
    assert int(compressed.headers["content-length"]) < len(plain.content)


async def test_every_file_the_page_names_is_served(client):
    page = await client.get("/graphql", headers=HTML)
    for url in page_urls(page.text):
        response = await client.get(f"/{url}")
        assert response.status_code == 200, url


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/0123456789ab/ide.js",  # another deployment's version
        f"/graphiql/{graphiql.VERSION}/nothing.js",
        f"/graphiql/{graphiql.VERSION}/vendor/..%2F..%2F..%2Fgraphiql.py",
        f"/graphiql/{graphiql.VERSION}/%2e%2e/%2e%2e/settings.py",
    ],
)
async def test_unknown_files_are_not_found(client, path):
    assert (await client.get(path)).status_code == 404


async def test_a_query_in_the_page_url_opens_the_ide_without_running(client):
    response = await client.get("/graphql", params={"query": "{ __typename }"}, headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_a_get_that_accepts_anything_still_executes(client):
    response = await client.get("/graphql", params={"query": "{ __typename }"})
    assert response.json()["data"] == {"__typename": "Query"}
    response = await client.get(
        "/graphql",
        params={"query": "{ __typename }"},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.fixture
async def without_ide(settings: Settings, services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"allow_graphiql": False}), services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_allow_graphiql_off_answers_404_and_serves_no_files(without_ide):
    response = await without_ide.get("/graphql", headers=HTML)
    assert response.status_code == 404
    assert "content-security-policy" not in response.headers
    assert response.json()["errors"][0]["message"] == "Not Found"
    assets = await without_ide.get(f"/graphiql/{graphiql.VERSION}/ide.js")
    assert assets.status_code == 404
    # A browser's GET with a query is executed, as Strawberry does.
    executed = await without_ide.get("/graphql", params={"query": "{ __typename }"}, headers=HTML)
    assert executed.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("environment", "allow", "enabled"),
    [
        ("development", None, True),
        ("test", None, True),
        ("production", None, False),
        ("production", True, True),
        ("development", False, False),
    ],
)
def test_allow_graphiql_defaults_to_on_except_in_production(environment, allow, enabled):
    settings = Settings(
        environment=environment,
        allow_graphiql=allow,
        database_url="postgresql://db.example/gateway",
        jwt_secret="a-production-secret-of-at-least-32-characters",
        _env_file=None,
    )
    assert settings.graphiql_enabled is enabled


def test_allow_graphiql_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALLOW_GRAPHIQL", "false")
    assert Settings(_env_file=None).graphiql_enabled is False


def test_the_vendored_files_are_those_fetched_from_the_registry():
    assert vendor_graphiql.check() == 0


def test_the_page_loads_scripts_in_dependency_order():
    scripts = re.findall(r'<script src="graphiql/[^/]+/([^"]+)"', graphiql.PAGE)
    assert scripts == [
        "vendor/react@18.3.1/react.production.min.js",
        "vendor/react-dom@18.3.1/react-dom.production.min.js",
        "vendor/graphql-ws@6.4.2/graphql-ws.min.js",
        "vendor/graphiql@4.1.2/graphiql.min.js",
        "ide.js",
    ]
