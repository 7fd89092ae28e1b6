"""/metrics through the real app: operation counters and their labels, durations, SQL statements
per request, live subscriptions and WebSockets, access control, several workers (multiprocess
mode), and OpenTelemetry spans exported over OTLP/HTTP when configured.

The Prometheus registry is process-wide and other tests move it too: every check compares the
figures before and after, never absolute values."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from gateway import metrics, tracing
from gateway.errors import ErrorPolicy, GatewaySchema
from gateway.http import GatewayView
from gateway.limits import ExecutionTimeLimit
from gateway.metrics import OperationMetrics
from server import create_app
from tests.api.test_subscriptions import subscribed
from tests.support import add_category_tree, create_product, gql, register, variant_input
from tests.websocket_client import TRANSPORT_WS, connect, init, receive, subscribe

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Delta:
    """The change of every series between two scrapes."""

    def __init__(self, before: Samples, after: Samples) -> None:
        self.before, self.after = before, after

    def __call__(self, name: str, **labels: str) -> float:
        return value(self.after, name, **labels) - value(self.before, name, **labels)

    def requests(self, operation: str, type_: str, outcome: str) -> float:
        return self("graphql_requests_total", operation=operation, type=type_, outcome=outcome)

    def changed(self, prefix: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        keys = {k for k in (*self.before, *self.after) if k[0].startswith(prefix)}
        changes = {
            k: value(self.after, k[0], **dict(k[1])) - value(self.before, k[0], **dict(k[1]))
            for k in keys
        }
        return {k: v for k, v in changes.items() if v}


# --- outcomes and labels -----------------------------------------------------------------------

PAGE = """
query MetricsOkProbe($seller: ID!) {
  products(first: 3, filter: { sellerId: $seller }) {
    edges { node { name seller { name } variants { sku } } }
  }
}
"""


async def test_a_query_counts_as_ok_with_its_duration_and_statements(
    app, client, settings, services, statement_counter
):
    seller = await register(client, seller=True)
    categories = await add_category_tree(services)
    for _ in range(2):
        await create_product(
            client, seller.token, categories["child-b"], variants=[variant_input()]
        )
    # A second app on the same services must not count each statement twice.
    create_app(settings, services)
    before = await scrape(client)
    statement_counter.reset()
    try:
        body = await gql(client, PAGE, {"seller": seller.company_id})
    finally:
        statement_counter.active = False
    after = await scrape(client)
    delta = Delta(before, after)

    assert "data" in body
    assert len(body["data"]["products"]["edges"]) == 2
    # The page, then sellers and variants from loader batches (child tasks): all attributed.
    assert statement_counter.count >= 3, statement_counter.statements
    assert delta.requests("MetricsOkProbe", "query", "ok") == 1
    assert delta("graphql_request_duration_seconds_count", type="query", outcome="ok") == 1
    assert delta("graphql_request_duration_seconds_sum", type="query", outcome="ok") > 0
    assert delta("graphql_sql_statements_per_request_count") == 1
    assert delta("graphql_sql_statements_per_request_sum") == statement_counter.count
    # The observation landed in the first bucket that holds the count, not below it.
    below = max(
        b for b in (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100) if b < statement_counter.count
    )
    assert delta("graphql_sql_statements_per_request_bucket", le=f"{float(below)}") == 0
    assert delta("graphql_sql_statements_per_request_bucket", le="+Inf") == 1
    assert delta.changed("graphql_resolver_errors") == {}


async def test_a_validation_error_is_a_client_error_before_execution(client):
    before = await scrape(client)
    body = await gql(client, "query MetricsInvalidProbe { noSuchField }", expect_errors=True)
    delta = Delta(before, await scrape(client))

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert delta.requests("MetricsInvalidProbe", "query", "client_error") == 1
    assert (
        delta("graphql_request_duration_seconds_count", type="query", outcome="client_error") == 1
    )
    # Not executed: no statements observed, no resolver error.
    assert delta("graphql_sql_statements_per_request_count") == 0
    assert delta.changed("graphql_resolver_errors") == {}


async def test_a_query_over_the_depth_limit_is_refused(client, settings):
    selection = "id"
    for _ in range(settings.max_query_depth + 3):
        selection = f"children {{ {selection} }}"
    before = await scrape(client)
    body = await gql(
        client, f"query MetricsDeepProbe {{ categories {{ {selection} }} }}", expect_errors=True
    )
    delta = Delta(before, await scrape(client))

    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert delta.requests("MetricsDeepProbe", "query", "refused") == 1
    assert delta("graphql_request_duration_seconds_count", type="query", outcome="refused") == 1
    assert delta("graphql_sql_statements_per_request_count") == 0


async def test_a_mutation_answered_with_user_errors_is_ok_and_counts_them(
    client, statement_counter
):
    before = await scrape(client)
    statement_counter.reset()
    try:
        body = await gql(
            client,
            """mutation MetricsLoginProbe($email: String!) {
                 login(email: $email, password: "not-the-password-1") {
                   accessToken userErrors { field message code } } }""",
            {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com"},
        )
    finally:
        statement_counter.active = False
    delta = Delta(before, await scrape(client))

    assert body["data"]["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    assert delta.requests("MetricsLoginProbe", "mutation", "ok") == 1
    assert delta("graphql_request_duration_seconds_count", type="mutation", outcome="ok") == 1
    assert delta("graphql_user_errors_total", code="INVALID_CREDENTIALS") == 1
    assert delta("graphql_sql_statements_per_request_count") == 1
    assert delta("graphql_sql_statements_per_request_sum") == statement_counter.count


async def test_an_error_while_executing_counts_by_code(client):
    before = await scrape(client)
    body = await gql(client, "query MetricsCartProbe { cart { id } }", expect_errors=True)
    delta = Delta(before, await scrape(client))

    [error] = body["errors"]
    code = error["extensions"]["code"]
    assert code == "UNAUTHENTICATED"
    assert delta.requests("MetricsCartProbe", "query", "client_error") == 1
    assert delta("graphql_resolver_errors_total", code=code) == 1
    assert delta("graphql_sql_statements_per_request_count") == 1


@strawberry.type
class ExplodingQuery:
    @strawberry.field
    def explode(self) -> str:
        raise RuntimeError("boom")


async def test_an_unexpected_exception_is_a_server_error(services):
    schema = GatewaySchema(query=ExplodingQuery, extensions=[OperationMetrics, ErrorPolicy])
    throwaway = Starlette(routes=[Route("/graphql", GatewayView(schema, services))])
    scrape_app = Starlette(routes=[Route("/metrics", metrics.metrics_endpoint(None))])
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=throwaway), base_url="http://t"
        ) as http,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=scrape_app), base_url="http://t"
        ) as scraper,
    ):
        before = await scrape(scraper)
        body = await gql(http, "query MetricsExplodeProbe { explode }", expect_errors=True)
        delta = Delta(before, await scrape(scraper))

    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert delta.requests("MetricsExplodeProbe", "query", "server_error") == 1
    assert delta("graphql_resolver_errors_total", code="INTERNAL_SERVER_ERROR") == 1


@strawberry.type
class SlowQuery:
    @strawberry.field
    async def slow(self) -> str:
        await asyncio.sleep(5)
        return "late"


async def test_an_operation_cancelled_for_time_is_a_server_error(services):
    schema = GatewaySchema(
        query=SlowQuery,
        extensions=[OperationMetrics, lambda: ExecutionTimeLimit(0.05), ErrorPolicy],
    )
    throwaway = Starlette(routes=[Route("/graphql", GatewayView(schema, services))])
    scrape_app = Starlette(routes=[Route("/metrics", metrics.metrics_endpoint(None))])
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=throwaway), base_url="http://t"
        ) as http,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=scrape_app), base_url="http://t"
        ) as scraper,
    ):
        before = await scrape(scraper)
        body = await gql(http, "query MetricsSlowProbe { slow }", expect_errors=True)
        delta = Delta(before, await scrape(scraper))

    assert body["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert delta.requests("MetricsSlowProbe", "query", "server_error") == 1
    assert (
        delta("graphql_request_duration_seconds_count", type="query", outcome="server_error") == 1
    )


@pytest.mark.parametrize(
    ("codes", "executed", "outcome"),
    [
        ([], True, "ok"),
        (["BAD_USER_INPUT"], False, "client_error"),
        (["NOT_FOUND", "FORBIDDEN"], True, "client_error"),
        (["FORBIDDEN"], False, "refused"),
        (["INTROSPECTION_DISABLED"], False, "refused"),
        (["QUERY_TOO_COMPLEX", "THROTTLED"], False, "throttled"),
        (["NOT_FOUND", "INTERNAL_SERVER_ERROR", "THROTTLED"], True, "server_error"),
        (["TIMEOUT"], True, "server_error"),
    ],
)
def test_outcome_of_error_codes(codes, executed, outcome):
    assert metrics.outcome_of(codes, executed) == outcome


async def test_anonymous_and_overlong_operation_names(client):
    before = await scrape(client)
    await gql(client, "{ __typename }")
    await gql(client, f"query {'X' * 65} {{ __typename }}")
    delta = Delta(before, await scrape(client))

    assert delta.requests("anonymous", "query", "ok") == 1
    assert delta.requests("other", "query", "ok") == 1
    assert not any("X" * 65 in str(key) for key in delta.after)


def test_operation_names_are_bounded(monkeypatch):
    monkeypatch.setattr(metrics, "_operation_names", set())
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 2)
    assert metrics.operation_label("First") == "First"
    assert metrics.operation_label("Second") == "Second"
    assert metrics.operation_label("Third") == "other"  # over the bound
    assert metrics.operation_label("First") == "First"  # known names stay
    assert metrics.operation_label(None) == "anonymous"
    assert metrics.operation_label("not a name") == "other"


def test_error_codes_are_bounded(monkeypatch):
    monkeypatch.setattr(metrics, "_codes", set())
    monkeypatch.setattr(metrics, "MAX_CODES", 1)
    assert metrics.code_label("NOT_FOUND") == "NOT_FOUND"
    assert metrics.code_label("FORBIDDEN") == "OTHER"
    assert metrics.code_label("lower case; DROP") == "OTHER"
    assert metrics.code_label(None) == "OTHER"


async def test_rate_limit_and_response_cache_counters(client):
    before = await scrape(client)
    metrics.count_throttled()
    metrics.count_cache(hit=True)
    metrics.count_cache(hit=False)
    metrics.count_cache(hit=False)
    delta = Delta(before, await scrape(client))

    assert delta("graphql_rate_limit_refusals_total") == 1
    assert delta("graphql_response_cache_total", result="hit") == 1
    assert delta("graphql_response_cache_total", result="miss") == 2


# --- subscriptions and WebSockets --------------------------------------------------------------

FOLLOW = """
subscription MetricsFollowProbe { orderStatusChanged { eventId status } }
"""


async def wait_for(client: httpx.AsyncClient, name: str, expected: float) -> Samples:
    async with asyncio.timeout(3):
        while True:
            samples = await scrape(client)
            if value(samples, name) == expected:
                return samples
            await asyncio.sleep(0.02)


async def test_live_subscriptions_and_websockets_are_gauged(app, client, services):
    buyer = await register(client, buyer=True)
    before = await scrape(client)
    subscriptions = value(before, "graphql_active_subscriptions")
    sockets = value(before, "graphql_websocket_connections")

    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws, {"Authorization": f"Bearer {buyer.token}"})
        await subscribe(ws, "1", FOLLOW)
        await subscribed(services, company=buyer.company_id)
        during = await scrape(client)
        assert value(during, "graphql_active_subscriptions") == subscriptions + 1
        assert value(during, "graphql_websocket_connections") == sockets + 1

        await ws.send_json({"type": "complete", "id": "1"})
        await wait_for(client, "graphql_active_subscriptions", subscriptions)
        # The socket stays open after its operation ends; a query on it is counted too.
        await subscribe(ws, "2", "query MetricsWsProbe { __typename }")
        assert (await receive(ws))["type"] == "next"
    after = await wait_for(client, "graphql_websocket_connections", sockets)
    delta = Delta(before, after)
    assert delta.requests("MetricsFollowProbe", "subscription", "ok") == 1
    assert delta.requests("MetricsWsProbe", "query", "ok") == 1
    # A subscription's lifetime is not a request duration.
    assert delta("graphql_request_duration_seconds_count", type="subscription", outcome="ok") == 0


async def test_a_refused_subscription_is_not_live(app, client):
    before = await scrape(client)
    async with connect(app, [TRANSPORT_WS]) as ws:
        await init(ws)  # anonymous: orderStatusChanged needs a signed-in user
        await subscribe(ws, "1", FOLLOW)
        message = await receive(ws)
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    after = await wait_for(
        client, "graphql_websocket_connections", value(before, "graphql_websocket_connections")
    )
    delta = Delta(before, after)
    assert delta("graphql_active_subscriptions") == 0
    outcomes = {
        dict(key[1])["outcome"]: change
        for key, change in delta.changed("graphql_requests_total").items()
        if dict(key[1])["operation"] == "MetricsFollowProbe"
    }
    # Its resolver ran (and refused): a client error, not a refusal before execution.
    assert outcomes == {"client_error": 1}, outcomes
    assert delta.changed("graphql_resolver_errors") == {
        ("graphql_resolver_errors_total", frozenset({("code", "UNAUTHENTICATED")})): 1
    }


# --- who may read /metrics ---------------------------------------------------------------------


def client_from(app: Any, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


async def test_metrics_are_not_public_without_a_token(app):
    async with client_from(app, "203.0.113.7") as outsider:
        response = await outsider.get("/metrics")
    assert response.status_code == 404
    assert "graphql_" not in response.text
    async with client_from(app, "127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 200
        # Through a proxy on this host, the caller is not local.
        proxied = await local.get("/metrics", headers={"x-forwarded-for": "203.0.113.7"})
        assert proxied.status_code == 404
    async with client_from(app, "::1") as local6:
        assert (await local6.get("/metrics")).status_code == 200


async def test_metrics_token_lets_a_remote_scraper_in(settings, services):
    token = "scrape-" + uuid.uuid4().hex
    app = create_app(settings.model_copy(update={"metrics_token": token}), services)
    async with client_from(app, "203.0.113.7") as outsider:
        missing = await outsider.get("/metrics")
        wrong = await outsider.get("/metrics", headers={"authorization": "Bearer nope" + token})
        basic = await outsider.get("/metrics", headers={"authorization": f"Basic {token}"})
        right = await outsider.get("/metrics", headers={"authorization": f"Bearer {token}"})
    assert [missing.status_code, wrong.status_code, basic.status_code] == [403, 403, 403]
    assert right.status_code == 200
    assert "graphql_requests_total" in right.text


def test_a_short_metrics_token_is_refused(monkeypatch):
    from settings import SettingsError, load_settings

    monkeypatch.setenv("METRICS_TOKEN", "short")
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load_settings()


# --- several workers ---------------------------------------------------------------------------

WORKER = """
import sys
from gateway import metrics
metrics.count_throttled()
metrics.WEBSOCKET_CONNECTIONS.inc()
if sys.argv[1] == "render":
    sys.stdout.write(metrics.render()[0].decode())
"""


def run_worker(directory: Path, role: str) -> str:
    completed = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", WORKER, role],
        cwd=ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


def test_multiprocess_mode_sums_the_workers_and_forgets_dead_ones(tmp_path):
    directory = tmp_path / "prometheus"  # created on import
    run_worker(directory, "exit")
    run_worker(directory, "exit")
    samples = parse(run_worker(directory, "render"))
    # Three processes counted one refusal each; only the live one still holds a socket.
    assert value(samples, "graphql_rate_limit_refusals_total") == 3
    assert value(samples, "graphql_websocket_connections") == 1


def test_serve_starts_the_multiprocess_directory_empty(tmp_path, monkeypatch):
    stale = tmp_path / "counter_12345.db"
    stale.write_bytes(b"old")
    own = tmp_path / f"counter_{os.getpid()}.db"
    own.write_bytes(b"mine")
    monkeypatch.setattr(metrics, "MULTIPROCESS_DIRECTORY", str(tmp_path))
    metrics.prepare_multiprocess_directory()
    assert not stale.exists()
    assert own.exists()


# --- tracing -----------------------------------------------------------------------------------


class Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A stand-in OTLP/HTTP collector on a free local port."""
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_operations_are_traced_to_the_otlp_endpoint(
    collector, monkeypatch, settings, services
):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    endpoint, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setattr(tracing, "_provider", None)
    app = create_app(settings, services)
    provider = tracing._provider
    assert provider is not None
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            response = await http.post(
                "/graphql",
                json={"query": "query MetricsTracedProbe { categories { name } }"},
                headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
            )
        assert response.status_code == 200
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()

    spans, services_named = [], set()
    for path, body in received:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services_named.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    [operation] = [s for s in spans if s.name == "query MetricsTracedProbe"]
    attributes = {a.key: a.value.string_value for a in operation.attributes}
    assert attributes["graphql.operation.name"] == "MetricsTracedProbe"
    assert attributes["graphql.operation.type"] == "query"
    assert "query" not in attributes and "graphql.document" not in attributes
    # It continues the caller's trace.
    assert operation.trace_id == bytes.fromhex(trace_id)
    assert operation.parent_span_id == bytes.fromhex(parent_id)
    children = {s.name for s in spans if s.parent_span_id == operation.span_id}
    assert children == {"GraphQL parse", "GraphQL validate"}
    # No span per field.
    assert len(spans) == 3
    assert services_named == {"b2b-gateway"}


def test_no_tracing_without_the_endpoint_or_the_packages(monkeypatch):
    monkeypatch.setattr(tracing, "_provider", None)
    assert tracing.tracing_extensions({}) == []
    # Configured, but the exporter is not installed: off, with a warning, nothing raised.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    assert tracing.tracing_extensions({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}) == []
    assert tracing._provider is None
