"""Hostile and oversized requests over the real app: each is refused before any resolver runs
(no SQL statement), with a clear error, while the server keeps serving others.
Also the limits behind them: root fields per operation, batches, fragment expansion, the
execution time limit and who may introspect."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import httpx
import pytest
import strawberry
from graphql import parse
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache

from gateway import limits
from gateway.errors import ErrorPolicy, GatewaySchema
from gateway.http import GatewayView
from gateway.limits import (
    MAX_EXPANDED_SELECTIONS,
    MAX_FRAGMENT_NESTING,
    ExecutionTimeLimit,
    expanded_selections,
)
from schema import DOCUMENT_CACHE_SIZE, PARSE_OFF_LOOP_ABOVE_CHARS
from server import create_app
from settings import Settings, SettingsError, load_settings
from tests.support import register
from tests.websocket_client import TRANSPORT_WS, connect, init, receive, subscribe

NORMAL_QUERY = "{ categories { name } }"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def nested_categories(levels: int) -> str:
    selection = "id"
    for _ in range(levels):
        selection = f"children {{ {selection} }}"
    return f"{{ categories {{ {selection} }} }}"


def fragment_bomb(levels: int) -> str:
    """2^levels spreads in a few hundred tokens."""
    fragments = " ".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    last = f"fragment F{levels} on Query {{ categories {{ name }} }}"
    return f"query Bomb {{ ...F0 }} {fragments} {last}"


def fragment_chain(length: int) -> str:
    fragments = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(length))
    return f"query Chain {{ ...F0 }} {fragments} fragment F{length} on Query {{ __typename }}"


@dataclass(frozen=True)
class BadInput:
    body: Any
    status: int
    code: str
    message: str


def bad_inputs(settings: Settings) -> dict[str, BadInput]:
    mismatched = "{ categories { name } }"
    return {
        "500 levels deep": BadInput(
            {"query": nested_categories(500)}, 200, "BAD_USER_INPUT", "nested too deeply"
        ),
        "10 000 aliases of one field": BadInput(
            {"query": "{ " + " ".join(f"a{n}: __typename" for n in range(10_000)) + " }"},
            200,
            "BAD_USER_INPUT",
            f"more than {settings.max_tokens} tokens",
        ),
        "1 000 operations in one document": BadInput(
            {
                "query": " ".join(f"query Q{n} {{ categories {{ name }} }}" for n in range(1000)),
                "operationName": "Q1",
            },
            200,
            "BAD_USER_INPUT",
            f"more than {settings.max_tokens} tokens",
        ),
        "a batch of 1 000 operations": BadInput(
            [{"query": NORMAL_QUERY}] * 1000,
            400,
            "BATCH_TOO_LARGE",
            f"more than the {settings.max_batch_size} allowed",
        ),
        "a fragment cycle": BadInput(
            {
                "query": "query Cycle { ...A } "
                "fragment A on Query { categories { name } ...B } "
                "fragment B on Query { ...A }"
            },
            200,
            "BAD_USER_INPUT",
            "Cannot spread fragment",
        ),
        "a fragment bomb": BadInput(
            {"query": fragment_bomb(40)},
            200,
            "QUERY_TOO_COMPLEX",
            f"{MAX_EXPANDED_SELECTIONS} selections allowed",
        ),
        "a chain of 300 fragments": BadInput(
            {"query": fragment_chain(300)},
            200,
            "QUERY_TOO_COMPLEX",
            f"more than {MAX_FRAGMENT_NESTING} deep",
        ),
        "too many root fields": BadInput(
            {
                "query": "{ "
                + " ".join(
                    f"c{n}: categories {{ name }}" for n in range(settings.max_root_fields + 1)
                )
                + " }"
            },
            200,
            "QUERY_TOO_COMPLEX",
            f"more than the {settings.max_root_fields} allowed",
        ),
        "a persisted-query hash that does not match its document": BadInput(
            {
                "query": mismatched,
                "extensions": {
                    "persistedQuery": {"version": 1, "sha256Hash": sha256(mismatched + "#")}
                },
            },
            200,
            "BAD_USER_INPUT",
            "provided sha does not match query",
        ),
        "5 MB of variables": BadInput(
            {"query": NORMAL_QUERY, "variables": {"pad": "x" * 5_000_000}},
            413,
            "BAD_USER_INPUT",
            "request body is larger than",
        ),
    }


def check_refusal(bad: BadInput, response: httpx.Response) -> None:
    assert response.status_code == bad.status, response.text[:500]
    body = response.json()
    assert "data" not in body, body
    assert codes(body)[0] == bad.code, body
    assert bad.message in body["errors"][0]["message"], body


BAD_INPUT_NAMES = [
    "500 levels deep",
    "10 000 aliases of one field",
    "1 000 operations in one document",
    "a batch of 1 000 operations",
    "a fragment cycle",
    "a fragment bomb",
    "a chain of 300 fragments",
    "too many root fields",
    "a persisted-query hash that does not match its document",
    "5 MB of variables",
]


@pytest.mark.parametrize("name", BAD_INPUT_NAMES)
async def test_bad_input_is_refused_before_any_resolver(client, settings, statement_counter, name):
    bad = bad_inputs(settings)[name]
    statement_counter.reset()
    try:
        response = await client.post("/graphql", json=bad.body)
    finally:
        statement_counter.active = False
    check_refusal(bad, response)
    # Nothing ran: no resolver reached the database.
    assert statement_counter.count == 0, statement_counter.statements


async def test_the_server_keeps_serving_while_bad_input_arrives(client, settings):
    bad = bad_inputs(settings)

    async def normal() -> httpx.Response:
        return await client.post("/graphql", json={"query": NORMAL_QUERY})

    async def hostile(name: str) -> tuple[str, httpx.Response]:
        return name, await client.post("/graphql", json=bad[name].body)

    results = await asyncio.gather(
        *(normal() for _ in range(20)), *(hostile(name) for name in BAD_INPUT_NAMES)
    )
    served = [r for r in results if isinstance(r, httpx.Response)]
    assert len(served) == 20
    for response in served:
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        assert isinstance(body["data"]["categories"], list)
    for name, response in (r for r in results if isinstance(r, tuple)):
        check_refusal(bad[name], response)


# --- root fields -------------------------------------------------------------------------------


def root_fields(count: int) -> str:
    return "{ " + " ".join(f"t{n}: __typename" for n in range(count)) + " }"


async def test_root_fields_up_to_the_limit_run(client, settings):
    response = await client.post("/graphql", json={"query": root_fields(settings.max_root_fields)})
    body = response.json()
    assert "errors" not in body, body
    assert len(body["data"]) == settings.max_root_fields


async def test_root_fields_count_through_fragments_and_once_per_response_key(client, settings):
    limit = settings.max_root_fields
    half = " ".join(f"a{n}: __typename" for n in range(limit // 2 + 1))
    other = " ".join(f"b{n}: __typename" for n in range(limit // 2 + 1))
    through_fragments = f"query Split {{ {half} ...Other }} fragment Other on Query {{ {other} }}"
    response = await client.post("/graphql", json={"query": through_fragments})
    body = response.json()
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert f"'Split' selects {2 * (limit // 2 + 1)} root fields" in body["errors"][0]["message"]

    # The same key repeated is one field (they merge and run once).
    repeated = "{ " + " ".join("categories { name }" for _ in range(limit + 5)) + " }"
    response = await client.post("/graphql", json={"query": repeated})
    assert "errors" not in response.json()


# --- batches -----------------------------------------------------------------------------------


async def test_a_batch_runs_each_operation_and_answers_in_order(client, settings):
    batch = [
        {"query": f"query B{n} {{ n{n}: __typename }}"} for n in range(settings.max_batch_size)
    ]
    response = await client.post("/graphql", json=batch)
    assert response.status_code == 200
    answers = response.json()
    assert [answer["data"] for answer in answers] == [
        {f"n{n}": "Query"} for n in range(settings.max_batch_size)
    ]


async def test_one_bad_operation_does_not_fail_the_rest_of_its_batch(client):
    response = await client.post(
        "/graphql",
        json=[
            {"query": "{ __typename }"},
            {"query": "query A { __typename }", "operationName": "Nope"},
            {"variables": {}},
            {"query": "{ noSuchField }"},
            {"query": "{ __typename }"},
        ],
    )
    assert response.status_code == 200
    first, unknown_name, no_query, invalid, last = response.json()
    assert first["data"] == last["data"] == {"__typename": "Query"}
    for answer in (unknown_name, no_query, invalid):
        assert "data" not in answer
        assert codes(answer) == ["BAD_USER_INPUT"]


async def test_each_mutation_in_a_batch_is_authorized(client):
    clear = {"query": "mutation { clearCart { userErrors { code } } }"}
    anonymous = await client.post("/graphql", json=[{"query": "{ __typename }"}, clear])
    typename, refused = anonymous.json()
    assert typename["data"] == {"__typename": "Query"}
    assert refused["data"] is None
    assert codes(refused) == ["UNAUTHENTICATED"]

    seller = await register(client, seller=True)
    response = await client.post(
        "/graphql", json=[clear], headers={"Authorization": f"Bearer {seller.token}"}
    )
    assert codes(response.json()[0]) == ["FORBIDDEN"]

    buyer = await register(client, buyer=True)
    response = await client.post(
        "/graphql", json=[clear, clear], headers={"Authorization": f"Bearer {buyer.token}"}
    )
    assert [answer["data"] for answer in response.json()] == [{"clearCart": {"userErrors": []}}] * 2


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        pytest.param([{"query": 42}], "`query` must be a string", id="query-not-a-string"),
        pytest.param([{"query": "{ __typename }", "variables": [1]}], "`variables`", id="vars"),
        pytest.param(
            [{"documentId": 42}], "batch item 1: The GraphQL operation's `documentId`", id="id"
        ),
        pytest.param([{"query": "{ __typename }"}, "x"], "item 2 is not a JSON object", id="item"),
    ],
)
async def test_a_malformed_batch_is_refused_whole(client, statement_counter, batch, message):
    response = await client.post("/graphql", json=[{"query": NORMAL_QUERY}, *batch])
    assert response.status_code == 400
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"]
    assert message in body["errors"][0]["message"]


async def test_batching_can_be_turned_off(settings, services):
    app = create_app(settings.model_copy(update={"max_batch_size": 0}), services)
    async with http_client(app) as http:
        response = await http.post("/graphql", json=[{"query": "{ __typename }"}])
        assert response.status_code == 400
        assert "batching is disabled" in response.json()["errors"][0]["message"]
        single = await http.post("/graphql", json={"query": "{ __typename }"})
        assert single.json()["data"] == {"__typename": "Query"}


# --- execution time limit ----------------------------------------------------------------------

TIME_LIMIT = 0.3
# How each run of the slow resolver ended: "cancelled" (by the time limit) or "finished".
slow_resolver_ends: list[str] = []


@strawberry.type
class SlowQuery:
    @strawberry.field
    async def slow(self) -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            slow_resolver_ends.append("cancelled")
            raise
        slow_resolver_ends.append("finished")
        return "finished"

    @strawberry.field
    def fast(self) -> str:
        return "fast"


@strawberry.type
class SlowMutation:
    @strawberry.mutation
    async def slow_write(self, info: strawberry.Info, marker: str) -> bool:
        async with info.context.services.engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO timeout_probe (marker) VALUES (:marker)"), {"marker": marker}
            )
            await asyncio.sleep(5)
        return True


@strawberry.type
class SlowSubscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        for n in range(3):
            await asyncio.sleep(TIME_LIMIT * 0.8)
            yield n


@pytest.fixture(scope="module")
def slow_app(services) -> Starlette:
    schema = GatewaySchema(
        query=SlowQuery,
        mutation=SlowMutation,
        subscription=SlowSubscription,
        extensions=[lambda: ExecutionTimeLimit(TIME_LIMIT), ErrorPolicy],
    )
    view = GatewayView(schema, services)
    return Starlette(routes=[Route("/graphql", view), WebSocketRoute("/graphql", view)])


@asynccontextmanager
async def http_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_an_operation_over_the_time_limit_is_cancelled_with_timeout(slow_app):
    async with http_client(slow_app) as http:
        slow_resolver_ends.clear()
        started = time.perf_counter()
        response = await http.post("/graphql", json={"query": "{ fast slow }"})
        elapsed = time.perf_counter() - started
        body = response.json()
        assert codes(body) == ["TIMEOUT"]
        assert "longer than 0.3 s" in body["errors"][0]["message"]
        # Cut off by the limit, not answered when the resolver was done; and not before it.
        assert slow_resolver_ends == ["cancelled"]
        assert elapsed >= TIME_LIMIT

        assert (await http.post("/graphql", json={"query": "{ fast }"})).json()["data"] == {
            "fast": "fast"
        }


async def test_a_cancelled_mutation_rolls_back(slow_app, services):
    async with services.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS timeout_probe (marker text)"))
    marker = uuid.uuid4().hex
    async with http_client(slow_app) as http:
        response = await http.post(
            "/graphql",
            json={
                "query": "mutation($m: String!) { slowWrite(marker: $m) }",
                "variables": {"m": marker},
            },
        )
    assert codes(response.json()) == ["TIMEOUT"]
    async with services.engine.connect() as connection:
        written = await connection.scalar(
            text("SELECT count(*) FROM timeout_probe WHERE marker = :marker"), {"marker": marker}
        )
    assert written == 0


async def test_over_websocket_queries_are_timed_and_subscriptions_are_not(slow_app):
    async with connect(slow_app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "1", "{ slow }")
        message = await receive(ws)
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "TIMEOUT"

        # Three ticks take well over the limit: a subscription is long-lived by design.
        await subscribe(ws, "2", "subscription { ticks }")
        ticks = [(await receive(ws))["payload"]["data"]["ticks"] for _ in range(3)]
        assert ticks == [0, 1, 2]
        assert await receive(ws) == {"id": "2", "type": "complete"}


async def test_the_app_applies_max_execution_seconds(settings, services, client):
    impatient = create_app(settings.model_copy(update={"max_execution_seconds": 1e-6}), services)
    async with http_client(impatient) as http:
        response = await http.post("/graphql", json={"query": NORMAL_QUERY})
    assert codes(response.json()) == ["TIMEOUT"]
    # The cancelled statement left the pool usable.
    response = await client.post("/graphql", json={"query": NORMAL_QUERY})
    assert "errors" not in response.json()


# --- introspection -----------------------------------------------------------------------------

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPE_INTROSPECTION = 'query T { ...F } fragment F on Query { __type(name: "Product") { name } }'


async def introspect(app: Starlette, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http_client(app) as http:
        response = await http.post("/graphql", json={"query": query}, headers=headers)
    body: dict[str, Any] = response.json()
    return body


def introspection_app(settings: Settings, services: Any, mode: str) -> Starlette:
    return create_app(settings.model_copy(update={"introspection": mode}), services)


async def signed_in_token(client: httpx.AsyncClient) -> str:
    return (await register(client, buyer=True)).token


async def test_introspection_on(settings, services):
    app = introspection_app(settings, services, "on")
    body = await introspect(app, INTROSPECTION)
    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}


@pytest.mark.parametrize("query", [INTROSPECTION, TYPE_INTROSPECTION])
async def test_introspection_for_signed_in_clients_only(settings, services, client, query):
    app = introspection_app(settings, services, "authenticated")
    refused = await introspect(app, query)
    assert "data" not in refused
    assert codes(refused) == ["INTROSPECTION_DISABLED"]
    assert "signed-in" in refused["errors"][0]["message"]

    allowed = await introspect(app, query, await signed_in_token(client))
    assert "errors" not in allowed, allowed
    # __typename is not introspection.
    assert (await introspect(app, "{ __typename }"))["data"] == {"__typename": "Query"}


async def test_introspection_off(settings, services, client):
    app = introspection_app(settings, services, "off")
    refused = await introspect(app, INTROSPECTION, await signed_in_token(client))
    assert codes(refused) == ["INTROSPECTION_DISABLED"]
    assert "disabled" in refused["errors"][0]["message"]


# A typo's answer names what exists ("Did you mean 'products'?"): the schema, for those who may
# introspect only. (query, variables, what the suggestion names)
TYPOS = {
    "field": ("{ produts(first: 1) { totalCount } }", {}, "'products'"),
    "argument": ("{ products(frist: 1) { totalCount } }", {}, "'first'"),
    "enum value in a variable": (
        "query($s: ProductSort) { products(first: 1, sortBy: $s) { totalCount } }",
        {"s": "NAMES"},
        "'NAME'",
    ),
}


@pytest.mark.parametrize(
    ("mode", "signed_in", "suggested"),
    [
        ("on", False, True),
        ("authenticated", False, False),
        ("authenticated", True, True),
        ("off", True, False),
    ],
    ids=["on", "authenticated-anonymous", "authenticated-signed-in", "off-signed-in"],
)
@pytest.mark.parametrize("typo", list(TYPOS))
async def test_suggestions_only_for_clients_who_may_introspect(
    settings, services, client, mode, signed_in, suggested, typo
):
    app = introspection_app(settings, services, mode)
    query, variables, name = TYPOS[typo]
    token = await signed_in_token(client) if signed_in else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http_client(app) as http:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert ("Did you mean" in error["message"]) is suggested, error["message"]
    assert (name in error["message"]) is suggested, error["message"]
    # The mistake itself is still told.
    assert error["message"].rstrip().endswith((".", "?")), error["message"]


@pytest.mark.parametrize(
    ("environment", "setting", "expected"),
    [
        ("development", None, "on"),
        ("test", None, "on"),
        ("production", None, "authenticated"),
        ("production", "on", "on"),
        ("development", "off", "off"),
    ],
)
def test_introspection_defaults(environment, setting, expected):
    configured = Settings.model_construct(environment=environment, introspection=setting)
    assert configured.introspection_mode == expected


def test_fragment_expansion_is_measured_in_one_pass():
    # Walking every path of this document would take days: the measure visits each fragment's
    # selections once (counted as calls of gateway/limits.py's functions).
    levels = MAX_FRAGMENT_NESTING - 2
    document = parse(fragment_bomb(levels))
    calls = 0

    def count_limits_calls(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" and frame.f_code.co_filename == limits.__file__:
            calls += 1

    sys.setprofile(count_limits_calls)
    try:
        size = expanded_selections(document)
    finally:
        sys.setprofile(None)
    assert size is not None and size > 2**levels
    assert calls <= 10 * (levels + 2), f"{calls} calls for {levels + 2} fragments"
    assert expanded_selections(parse(fragment_chain(MAX_FRAGMENT_NESTING + 1))) is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INTROSPECTION", "sometimes"),
        ("MAX_BATCH_SIZE", "-1"),
        ("MAX_BATCH_SIZE", "1000"),
        ("MAX_ROOT_FIELDS", "0"),
        ("MAX_EXECUTION_SECONDS", "0"),
    ],
)
def test_a_bad_limit_setting_is_one_readable_line(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "\n" not in str(raised.value)
    assert variable in str(raised.value)


# --- large documents -------------------------------------------------------------------------


def large_filler(size: int = PARSE_OFF_LOOP_ABOVE_CHARS + 1_000) -> str:
    return f"{uuid.uuid4().hex}-".ljust(size, "x")  # new text: the parser cache must miss


@pytest.mark.parametrize("where", ["comment", "string literal"])
async def test_a_large_document_is_answered_like_a_small_one(client, where):
    # Parsed on a worker thread (PARSE_OFF_LOOP_ABOVE_CHARS), then as any other document.
    filler = large_filler()
    expected: dict[str, Any]
    if where == "comment":
        query, expected = f"# {filler}\n{{ __typename }}", {"__typename": "Query"}
    else:
        query = f'{{ __typename t: __type(name: "{filler}") {{ name }} }}'
        expected = {"__typename": "Query", "t": None}
    response = await client.post("/graphql", json={"query": query})
    body = response.json()
    assert "errors" not in body, body
    assert body["data"] == expected


async def test_a_large_document_is_kept_in_neither_the_parser_nor_the_validation_cache(client):
    # 1 000 entries of a megabyte each would be a gigabyte: it is parsed and validated afresh.
    size = DOCUMENT_CACHE_SIZE  # the lru_caches are shared by maxsize
    caches: list[Any] = [_get_parse_cache(size), _get_validate_cache(size)]

    def uses() -> list[tuple[int, int]]:
        return [(c.cache_info().hits, c.cache_info().misses) for c in caches]

    query = f"# {large_filler()}\n{{ __typename }}"
    before = uses()
    for _ in range(2):
        response = await client.post("/graphql", json={"query": query})
        body = response.json()
        assert "errors" not in body, body
        assert body["data"] == {"__typename": "Query"}
    after = uses()
    assert after == before
    # A small document still goes through both.
    await client.post("/graphql", json={"query": "{ __typename }"})
    small = uses()
    assert all(sum(s) == sum(a) + 1 for s, a in zip(small, after, strict=True)), (after, small)


async def test_a_large_document_with_a_syntax_error_is_the_clients_mistake(client, caplog):
    caplog.clear()
    query = f"# {large_filler()}\n{{ __typename "
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None, body
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"].startswith("Syntax Error"), body
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    await client.post("/graphql", json={"query": NORMAL_QUERY})


@pytest.mark.parametrize("broken", [False, True], ids=["valid", "syntax-error"])
async def test_a_large_document_over_websocket(app, broken):
    query = f"# {large_filler()}\n{{ __typename " + ("" if broken else "}")
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)
        await subscribe(ws, "1", query)
        message = await receive(ws)
        if broken:  # the parser's message, as an `error` (a small document's closes with 4400)
            assert message["type"] == "error", message
            [error] = message["payload"]
            assert error["message"].startswith("Syntax Error"), error
            assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        else:
            assert message["type"] == "next", message
            assert message["payload"]["data"] == {"__typename": "Query"}
