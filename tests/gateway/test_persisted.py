"""Persisted queries over the real app: Apollo's automatic persisted queries (APQ) over POST and
GET, their store (Redis shared by replicas, in-process without Redis, fail-open on Redis
errors), and trusted documents (a manifest; with TRUSTED_DOCUMENTS_ONLY nothing else runs)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

import settings as settings_module
from gateway.http import GRAPHQL_RESPONSE_JSON
from gateway.persisted import DocumentLRU, PersistedQueries, not_in_list
from resolvers.context import Services
from server import create_app
from settings import Settings, SettingsError, load_settings
from tests.api.test_subscriptions import ORDER_EVENTS, place_order
from tests.support import gateway_records
from tests.websocket_client import (
    LEGACY_WS,
    TRANSPORT_WS,
    connect,
    init,
    receive,
    subscribe,
)

JSON = "application/json"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(document_hash: str, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": document_hash}}


def fresh_query(selection: str = "__typename") -> str:
    """A document no other test has sent (so its hash is unknown to the store)."""
    return f"query Apq{uuid.uuid4().hex[:12]} {{ {selection} }}"


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


@asynccontextmanager
async def http_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def by_hash(client: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"extensions": persisted(sha256(query))}, headers=headers
    )


async def with_document(client: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "extensions": persisted(sha256(query))},
        headers=headers,
    )


def assert_not_found(response: httpx.Response) -> None:
    # Exactly what Apollo clients look for; 200 even under the new media type, since Apollo
    # Client turns persisted queries off for good after a 400.
    assert response.status_code == 200, response.text
    body = response.json()
    assert "data" not in body
    assert body["errors"] == [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]


# --- automatic persisted queries ---------------------------------------------------------------


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE_JSON])
async def test_apq_round_trip_over_post(client, accept):
    query = fresh_query("categories { name }")

    assert_not_found(await by_hash(client, query, accept=accept))

    registered = await with_document(client, query, accept=accept)
    assert registered.status_code == 200, registered.text
    assert "errors" not in registered.json()
    expected = registered.json()["data"]
    assert isinstance(expected["categories"], list)

    again = await by_hash(client, query, accept=accept)
    assert again.status_code == 200
    assert again.json()["data"] == expected


async def test_apq_over_get_with_extensions_as_a_query_parameter(client):
    query = fresh_query()
    extensions = json.dumps(persisted(sha256(query)))

    # httpx sends `Accept: */*`, like fetch() and curl: still an execution, not the IDE page.
    miss = await client.get("/graphql", params={"extensions": extensions})
    assert_not_found(miss)
    # A miss must never be kept by a CDN: it would hide the registration that follows.
    assert miss.headers["cache-control"] == "no-store"

    registered = await client.get("/graphql", params={"query": query, "extensions": extensions})
    assert registered.json()["data"] == {"__typename": "Query"}

    hit = await client.get("/graphql", params={"extensions": extensions})
    assert hit.status_code == 200
    assert hit.json()["data"] == {"__typename": "Query"}


async def test_a_hash_registered_over_post_runs_over_get_and_the_reverse(client):
    posted = fresh_query()
    await with_document(client, posted)
    hit = await client.get("/graphql", params={"extensions": json.dumps(persisted(sha256(posted)))})
    assert hit.json()["data"] == {"__typename": "Query"}

    got = fresh_query()
    extensions = json.dumps(persisted(sha256(got)))
    await client.get("/graphql", params={"query": got, "extensions": extensions})
    assert (await by_hash(client, got)).json()["data"] == {"__typename": "Query"}


async def test_a_hash_that_does_not_match_its_document_is_refused_before_anything_runs(
    client, statement_counter
):
    query = fresh_query("categories { name }")
    wrong = sha256(query + " ")
    statement_counter.reset()
    try:
        response = await client.post(
            "/graphql", json={"query": query, "extensions": persisted(wrong)}
        )
    finally:
        statement_counter.active = False
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"] == "provided sha does not match query"
    assert codes(body) == ["BAD_USER_INPUT"]
    assert statement_counter.count == 0, statement_counter.statements
    # Nothing was stored under either hash.
    assert_not_found(await client.post("/graphql", json={"extensions": persisted(wrong)}))
    assert_not_found(await by_hash(client, query))


async def test_a_document_that_does_not_validate_is_not_stored(client):
    query = fresh_query("noSuchField")
    response = await with_document(client, query)
    assert "noSuchField" in response.json()["errors"][0]["message"]
    assert_not_found(await by_hash(client, query))


async def test_a_document_refused_by_a_limit_is_not_stored(client, settings):
    selection = "id"
    for _ in range(settings.max_query_depth + 2):
        selection = f"children {{ {selection} }}"
    query = fresh_query(f"categories {{ {selection} }}")
    response = await with_document(client, query)
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert_not_found(await by_hash(client, query))


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        pytest.param(persisted(sha256("{ __typename }"), version=2), "version", id="version-2"),
        pytest.param(persisted(sha256("{ __typename }"), version="1"), "version", id="version-str"),
        pytest.param({"persistedQuery": {"version": 1}}, "sha256Hash", id="no-hash"),
        pytest.param(persisted("abc"), "sha256Hash", id="short-hash"),
        pytest.param(persisted("z" * 64), "sha256Hash", id="not-hex"),
        pytest.param({"persistedQuery": "abc"}, "persistedQuery", id="not-an-object"),
    ],
)
async def test_a_malformed_persisted_query_is_a_client_error(client, extensions, message):
    response = await client.post("/graphql", json={"extensions": extensions})
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["BAD_USER_INPUT"]
    assert message in body["errors"][0]["message"]


async def test_the_hash_is_case_insensitive(client):
    query = fresh_query()
    await with_document(client, query)
    response = await client.post("/graphql", json={"extensions": persisted(sha256(query).upper())})
    assert response.json()["data"] == {"__typename": "Query"}


async def test_a_stored_mutation_does_not_run_over_get(client):
    email = f"apq-{uuid.uuid4().hex[:12]}@example.com"
    mutation = (
        f'mutation Apq{uuid.uuid4().hex[:8]} {{ login(email: "{email}", '
        'password: "wrong-password") { accessToken userErrors { code } } }'
    )
    registered = await with_document(client, mutation)
    assert registered.json()["data"]["login"]["accessToken"] is None

    response = await client.get(
        "/graphql", params={"extensions": json.dumps(persisted(sha256(mutation)))}
    )
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert "data" not in body
    assert "mutations are not allowed" in body["errors"][0]["message"]


async def test_persisted_queries_in_a_batch(client):
    known, unknown = fresh_query(), fresh_query()
    await with_document(client, known)
    response = await client.post(
        "/graphql",
        json=[
            {"extensions": persisted(sha256(known))},
            {"extensions": persisted(sha256(unknown))},
            {"query": unknown, "extensions": persisted(sha256(unknown))},
        ],
    )
    assert response.status_code == 200
    first, second, third = response.json()
    assert first["data"] == {"__typename": "Query"}
    assert codes(second) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert third["data"] == {"__typename": "Query"}


# --- the store -----------------------------------------------------------------------------------


async def test_two_replicas_on_one_redis_prefix_share_the_store(settings, services):
    query = fresh_query()
    replica_a, replica_b = create_app(settings, services), create_app(settings, services)
    async with http_client(replica_a) as a, http_client(replica_b) as b:
        assert_not_found(await by_hash(b, query))
        await with_document(a, query)
        # B never saw the document: it reads it from Redis.
        assert (await by_hash(b, query)).json()["data"] == {"__typename": "Query"}
    assert services.redis is not None
    key = f"{settings.redis_key_prefix}apq:{sha256(query)}"
    assert await services.redis.get(key) == query.encode()
    assert 29 * 86_400 < await services.redis.ttl(key) <= 30 * 86_400


async def test_without_redis_the_store_is_in_process(settings, services):
    without_redis = replace(services, redis=None)
    query = fresh_query()
    one, other = create_app(settings, without_redis), create_app(settings, without_redis)
    async with http_client(one) as first, http_client(other) as second:
        await with_document(first, query)
        assert (await by_hash(first, query)).json()["data"] == {"__typename": "Query"}
        # Another process does not share it.
        assert_not_found(await by_hash(second, query))
    assert services.redis is not None
    assert await services.redis.get(f"{settings.redis_key_prefix}apq:{sha256(query)}") is None


async def test_a_redis_error_reads_as_not_found_and_never_fails_a_request(settings, services):
    broken = Redis.from_url("redis://127.0.0.1:9/0", socket_timeout=0.2, socket_connect_timeout=0.2)
    app = create_app(settings, replace(services, redis=broken))
    query = fresh_query()
    try:
        async with http_client(app) as http:
            assert_not_found(await by_hash(http, query))
            # The client then sends the document: it runs although it cannot be stored...
            response = await with_document(http, query)
            assert response.json()["data"] == {"__typename": "Query"}
            # ...and this process still remembers it.
            assert (await by_hash(http, query)).json()["data"] == {"__typename": "Query"}
    finally:
        await broken.aclose()


async def test_an_entry_that_is_not_its_hash_document_is_ignored(settings, services):
    assert services.redis is not None
    query = fresh_query()
    await services.redis.set(f"{settings.redis_key_prefix}apq:{sha256(query)}", "{ me { id } }")
    store = PersistedQueries(services.redis, settings.redis_key_prefix)
    assert await store.look_up(sha256(query)) is None


def test_the_in_process_lru_is_bounded_in_characters():
    lru = DocumentLRU(capacity_characters=100)
    for n in range(10):
        lru.put(f"h{n}", "x" * 30)
    assert lru.size <= 100
    assert list(lru.documents) == ["h7", "h8", "h9"]
    assert lru.get("h7") is not None  # now the most recent
    lru.put("h10", "y" * 30)
    assert list(lru.documents) == ["h9", "h7", "h10"]
    lru.put("huge", "z" * 101)  # larger than the whole cache: not kept
    assert lru.get("huge") is None


# --- trusted documents -------------------------------------------------------------------------

REGISTERED_QUERY = "query Registered { categories { name } }"
REGISTERED_TYPENAME = "query RegisteredTypename { __typename }"


def apollo_manifest(*documents: str) -> dict[str, Any]:
    return {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256(document), "body": document, "name": f"Op{n}", "type": "query"}
            for n, document in enumerate(documents)
        ],
    }


def write_json(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content))
    return path


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    return write_json(
        tmp_path / "manifest.json", apollo_manifest(REGISTERED_QUERY, REGISTERED_TYPENAME)
    )


def trusted_settings(settings: Settings, manifest: Path, *, only: bool) -> Settings:
    return settings.model_copy(
        update={"trusted_documents_file": manifest, "trusted_documents_only": only}
    )


@asynccontextmanager
async def trusted_app(
    settings: Settings, services: Services, manifest: Path, *, only: bool
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(trusted_settings(settings, manifest, only=only), services)
    async with http_client(app) as http:
        yield app, http


async def test_trusted_documents_only_refuses_free_form_documents_before_they_run(
    settings, services, manifest_file, statement_counter
):
    async with trusted_app(settings, services, manifest_file, only=True) as (_, http):
        statement_counter.reset()
        try:
            response = await http.post("/graphql", json={"query": "{ categories { slug } }"})
        finally:
            statement_counter.active = False
        body = response.json()
        assert "data" not in body
        assert codes(body) == ["PERSISTED_QUERY_ID_REQUIRED"]
        assert statement_counter.count == 0

        # Also over GET, and also an introspection query.
        response = await http.get("/graphql", params={"query": "{ __schema { types { name } } }"})
        assert codes(response.json()) == ["PERSISTED_QUERY_ID_REQUIRED"]


async def test_trusted_documents_only_runs_registered_hashes(settings, services, manifest_file):
    async with trusted_app(settings, services, manifest_file, only=True) as (_, http):
        response = await by_hash(http, REGISTERED_QUERY)
        assert response.status_code == 200
        assert isinstance(response.json()["data"]["categories"], list)

        extensions = json.dumps(persisted(sha256(REGISTERED_TYPENAME)))
        response = await http.get("/graphql", params={"extensions": extensions})
        assert response.json()["data"] == {"__typename": "Query"}

        # The registered text is the same document: it runs too (WebSocket clients send text).
        response = await http.post("/graphql", json={"query": REGISTERED_TYPENAME})
        assert response.json()["data"] == {"__typename": "Query"}


async def test_trusted_documents_only_refuses_unknown_hashes_and_registers_nothing(
    settings, services, manifest_file
):
    query = fresh_query()
    async with trusted_app(settings, services, manifest_file, only=True) as (_, http):
        unknown = await by_hash(http, query)
        assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_IN_LIST"]
        assert "data" not in unknown.json()

        registration = await with_document(http, query)
        assert codes(registration.json()) == ["PERSISTED_QUERY_NOT_IN_LIST"]
        assert codes((await by_hash(http, query)).json()) == ["PERSISTED_QUERY_NOT_IN_LIST"]
    assert services.redis is not None
    assert await services.redis.get(f"{settings.redis_key_prefix}apq:{sha256(query)}") is None


async def test_trusted_documents_only_over_websocket(settings, services, manifest_file):
    app = create_app(trusted_settings(settings, manifest_file, only=True), services)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "1", "{ categories { slug } }")
        message = await receive(ws)
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == [
            "PERSISTED_QUERY_ID_REQUIRED"
        ]

        await subscribe(ws, "2", REGISTERED_TYPENAME)
        message = await receive(ws)
        assert message["payload"]["data"] == {"__typename": "Query"}


async def test_trusted_documents_without_only_run_by_hash_beside_apq(
    settings, services, manifest_file
):
    async with trusted_app(settings, services, manifest_file, only=False) as (_, http):
        assert (await by_hash(http, REGISTERED_TYPENAME)).json()["data"] == {"__typename": "Query"}
        # Free-form documents and APQ registrations still work.
        assert (await http.post("/graphql", json={"query": "{ __typename }"})).json()["data"]
        query = fresh_query()
        assert_not_found(await by_hash(http, query))
        await with_document(http, query)
        assert (await by_hash(http, query)).json()["data"] == {"__typename": "Query"}


async def test_a_plain_map_manifest_with_prefixed_hashes(settings, services, tmp_path):
    manifest = write_json(
        tmp_path / "persisted-documents.json",
        {
            sha256(REGISTERED_TYPENAME): REGISTERED_TYPENAME,
            f"sha256:{sha256(REGISTERED_QUERY)}": REGISTERED_QUERY,
        },
    )
    async with trusted_app(settings, services, manifest, only=True) as (_, http):
        assert (await by_hash(http, REGISTERED_TYPENAME)).json()["data"] == {"__typename": "Query"}
        assert "categories" in (await by_hash(http, REGISTERED_QUERY)).json()["data"]


# --- the manifest is checked at start-up ---------------------------------------------------------


def test_a_good_manifest_loads(monkeypatch, manifest_file):
    monkeypatch.setenv("TRUSTED_DOCUMENTS_FILE", str(manifest_file))
    monkeypatch.setenv("TRUSTED_DOCUMENTS_ONLY", "true")
    loaded = load_settings()
    assert loaded.trusted_documents_only
    assert loaded.trusted_documents_file == manifest_file


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param({sha256("{ a }"): "{ b }"}, "not the SHA-256", id="hash-mismatch"),
        pytest.param(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": sha256("{ a }"), "body": "{ b }", "name": "Wrong", "type": "query"}
                ],
            },
            "Wrong",
            id="apollo-hash-mismatch",
        ),
        pytest.param(
            {"format": "apollo-persisted-query-manifest", "version": 2, "operations": []},
            "version 1",
            id="apollo-version",
        ),
        pytest.param(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{}]},
            "operations[0]",
            id="apollo-no-id",
        ),
        pytest.param({sha256("{ a }"): 42}, "not a non-empty string", id="not-a-string"),
        pytest.param({}, "no documents", id="empty"),
        pytest.param(["{ a }"], "JSON object", id="a-list"),
    ],
)
def test_a_bad_manifest_stops_start_up_with_one_line(monkeypatch, tmp_path, content, named):
    manifest = write_json(tmp_path / "manifest.json", content)
    monkeypatch.setenv("TRUSTED_DOCUMENTS_FILE", str(manifest))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert "TRUSTED_DOCUMENTS_FILE" in message
    assert named in message


@pytest.mark.parametrize(
    ("write", "named"),
    [
        pytest.param(lambda path: path.write_text("{not json"), "not a JSON document", id="json"),
        pytest.param(lambda path: path.write_bytes(b"\xff\xfe\x00"), "not a JSON", id="binary"),
        pytest.param(lambda path: None, "cannot read", id="missing"),
    ],
)
def test_an_unreadable_manifest_stops_start_up(monkeypatch, tmp_path, write, named):
    manifest = tmp_path / "manifest.json"
    write(manifest)
    monkeypatch.setenv("TRUSTED_DOCUMENTS_FILE", str(manifest))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "\n" not in str(raised.value)
    assert "TRUSTED_DOCUMENTS_FILE" in str(raised.value)
    assert named in str(raised.value)


def test_trusted_documents_only_needs_a_manifest(monkeypatch):
    monkeypatch.setenv("TRUSTED_DOCUMENTS_ONLY", "true")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "TRUSTED_DOCUMENTS_FILE" in str(raised.value)


# --- document ids: GraphQL over HTTP's documentId, Code Generator's sha256: ids, WebSocket --------


@pytest.mark.parametrize("prefix", ["", "sha256:"])
async def test_a_document_named_by_document_id_runs_over_post_and_get(
    settings, services, manifest_file, prefix
):
    """GraphQL Code Generator's client preset sends `documentId: "sha256:<hex>"` (its manifest's
    keys); others send the bare hex, or the hash in extensions.persistedQuery."""
    document_id = prefix + sha256(REGISTERED_TYPENAME)
    async with trusted_app(settings, services, manifest_file, only=True) as (_, http):
        posted = await http.post("/graphql", json={"documentId": document_id})
        assert posted.status_code == 200, posted.text
        assert posted.json()["data"] == {"__typename": "Query"}

        got = await http.get("/graphql", params={"documentId": document_id})
        assert got.json()["data"] == {"__typename": "Query"}

        by_extensions = await http.post("/graphql", json={"extensions": persisted(document_id)})
        assert by_extensions.json()["data"] == {"__typename": "Query"}

        unknown = await http.post("/graphql", json={"documentId": prefix + sha256(fresh_query())})
        assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_IN_LIST"]

    # Beside APQ (no TRUSTED_DOCUMENTS_ONLY), an unknown id asks for the document as before.
    query = fresh_query()
    assert_not_found(await default_client_post(settings, services, {"documentId": sha256(query)}))


async def default_client_post(
    settings: Settings, services: Services, body: dict[str, Any]
) -> httpx.Response:
    async with http_client(create_app(settings, services)) as http:
        return await http.post("/graphql", json=body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"documentId": "sha256:abc"}, "documentId", id="short"),
        pytest.param({"documentId": "md5:" + "a" * 32}, "documentId", id="other-prefix"),
        pytest.param({"documentId": 42}, "documentId", id="not-a-string"),
        pytest.param(
            {"documentId": sha256("{ __typename }"), "query": "{ __typename }"},
            "not both",
            id="with-query",
        ),
        pytest.param(
            {"documentId": sha256("{ a }"), "extensions": persisted(sha256("{ b }"))},
            "different documents",
            id="two-ids",
        ),
    ],
)
async def test_a_malformed_document_id_is_a_client_error(client, body, message):
    response = await client.post("/graphql", json=body)
    assert "data" not in response.json(), response.text
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert message in response.json()["errors"][0]["message"]


SUBSCRIPTION_BY_ID = "sha256:" + sha256(ORDER_EVENTS)


async def test_a_trusted_only_server_runs_subscriptions_named_by_id_over_both_protocols(
    settings, services, client, tmp_path, caplog
):
    """An app built with Code Generator's persisted documents sends only ids, over WebSocket
    too: with TRUSTED_DOCUMENTS_ONLY it could not subscribe at all when only text was read."""
    manifest = write_json(tmp_path / "persisted-documents.json", {SUBSCRIPTION_BY_ID: ORDER_EVENTS})
    seller, _buyer, order = await place_order(client, services)
    variables = {"orderId": order, "since": "0"}
    app = create_app(trusted_settings(settings, manifest, only=True), services)

    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws, {"Authorization": f"Bearer {seller.token}"})
        await ws.send_json(
            {
                "type": "subscribe",
                "id": "1",
                "payload": {"documentId": SUBSCRIPTION_BY_ID, "variables": variables},
            }
        )
        message = await receive(ws)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["orderStatusChanged"]["status"] == "PLACED"

        unknown = "sha256:" + sha256(fresh_query())
        await ws.send_json({"type": "subscribe", "id": "2", "payload": {"documentId": unknown}})
        message = await receive(ws)
        assert message == {
            "id": "2",
            "type": "error",
            "payload": [not_in_list().formatted],
        }

    async with connect(app, [LEGACY_WS]) as ws:
        await ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {seller.token}"}}
        )
        assert (await receive(ws))["type"] == "connection_ack"
        extensions = persisted(sha256(ORDER_EVENTS))
        await ws.send_json(
            {
                "type": "start",
                "id": "7",
                "payload": {"extensions": extensions, "variables": variables},
            }
        )
        message = await receive(ws)
        assert message["type"] == "data", message
        assert message["payload"]["data"]["orderStatusChanged"]["status"] == "PLACED"

        await ws.send_json(
            {"type": "start", "id": "8", "payload": {"extensions": persisted(sha256("{ a }"))}}
        )
        message = await receive(ws)
        assert message["type"] == "error"
        assert message["id"] == "8"
        assert message["payload"]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    assert gateway_records(caplog) == []  # unknown ids are the client's mistake: no traceback


async def test_a_subscription_by_id_with_the_empty_query_graphql_ws_sends_runs(
    settings, services, client, tmp_path
):
    """graphql-ws's client refuses to send a subscribe payload without a string `query`: an
    app naming its document by id sends `query: ""` beside it (graphql-ws's own recipe)."""
    manifest = write_json(tmp_path / "persisted-documents.json", {SUBSCRIPTION_BY_ID: ORDER_EVENTS})
    seller, _buyer, order = await place_order(client, services)
    app = create_app(trusted_settings(settings, manifest, only=True), services)

    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws, {"Authorization": f"Bearer {seller.token}"})
        payload = {
            "query": "",
            "documentId": SUBSCRIPTION_BY_ID,
            "variables": {"orderId": order, "since": "0"},
        }
        await ws.send_json({"type": "subscribe", "id": "1", "payload": payload})
        message = await receive(ws)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["orderStatusChanged"]["status"] == "PLACED"


def test_the_manifest_is_read_once_for_every_user_of_it(
    settings, services, manifest_file, monkeypatch
):
    """Settings validation reads it; the HTTP store, the WebSocket check and every app built
    from those settings use that reading."""
    reads: list[Path] = []
    read = settings_module.read_trusted_documents

    def counting(path: Path) -> dict[str, str]:
        reads.append(path)
        return read(path)

    monkeypatch.setattr(settings_module, "read_trusted_documents", counting)
    configured = Settings(
        **{
            **settings.model_dump(),
            "trusted_documents_file": manifest_file,
            "trusted_documents_only": True,
        }
    )
    assert reads == [manifest_file]
    create_app(configured, services)
    create_app(configured, services)
    assert reads == [manifest_file]
