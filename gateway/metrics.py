"""Prometheus metrics: GraphQL operations (count, outcome, duration, SQL statements), errors,
live subscriptions and WebSockets, rate-limit refusals and response-cache lookups, served at
`/metrics` to loopback clients and to holders of `METRICS_TOKEN`.

One process, one registry (prometheus_client's default, with the process collectors). Several
uvicorn workers: set `PROMETHEUS_MULTIPROC_DIR` to an empty directory shared by them; each worker
then writes its values to files there and any worker's `/metrics` reports the sum.

Only GraphQL operations are counted (by a schema extension), so `/metrics`, `/healthz` and
`/readyz` never appear in these figures. Neither do HTTP refusals made before the schema runs (a
bad bearer token, an oversized or malformed body) nor answers served by the response cache
(counted in graphql_response_cache_total).
"""

from __future__ import annotations

import contextlib
import glob
import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from typing import Any
from weakref import WeakSet

from graphql import GraphQLError
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import PreExecutionError

from gateway.errors import CLIENT_EXCEPTIONS, is_unexpected

log = logging.getLogger("gateway.metrics")

MULTIPROCESS_DIRECTORY = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
if MULTIPROCESS_DIRECTORY:
    # prometheus_client opens its value files when a metric is created (below).
    os.makedirs(MULTIPROCESS_DIRECTORY, exist_ok=True)
# No `*_created` series beside each counter and histogram: twice the series, little use.
disable_created_metrics()

OK, CLIENT_ERROR, SERVER_ERROR, REFUSED, THROTTLED = (
    "ok",
    "client_error",
    "server_error",
    "refused",
    "throttled",
)

REQUESTS = Counter(
    "graphql_requests",
    "GraphQL operations answered, by operation name, type (query, mutation, subscription) and "
    "outcome (ok, client_error, server_error, refused before execution, throttled).",
    ["operation", "type", "outcome"],
)
DURATION = Histogram(
    "graphql_request_duration_seconds",
    "Time from receiving a GraphQL operation to its result, by operation type and outcome "
    "(a subscription that ran is not observed: its lifetime is no response time).",
    ["type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESOLVER_ERRORS = Counter(
    "graphql_resolver_errors",
    "Errors raised while executing operations (in results' `errors`), by extensions.code. "
    "Refusals before execution count in graphql_requests_total's outcome instead.",
    ["code"],
)
USER_ERRORS = Counter(
    "graphql_user_errors",
    "userErrors in mutation payloads (client mistakes answered as data), by code.",
    ["code"],
)
SQL_STATEMENTS = Histogram(
    "graphql_sql_statements_per_request",
    "SQL statements run by one executed query or mutation.",
    buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100),
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "graphql_active_subscriptions",
    "Subscription operations running now (past validation, until they end).",
    multiprocess_mode="livesum",
)
WEBSOCKET_CONNECTIONS = Gauge(
    "graphql_websocket_connections",
    "WebSocket connections open now on /graphql.",
    multiprocess_mode="livesum",
)
RATE_LIMIT_REFUSALS = Counter(
    "graphql_rate_limit_refusals",
    "Requests refused by the rate limiter (THROTTLED).",
)
RESPONSE_CACHE = Counter(
    "graphql_response_cache",
    "Response cache lookups, by result (hit or miss).",
    ["result"],
)
for _result in ("hit", "miss"):
    RESPONSE_CACHE.labels(_result)


# --- calls for other modules -----------------------------------------------------------------


def count_throttled() -> None:
    """The rate limiter refused a request."""
    RATE_LIMIT_REFUSALS.inc()


def count_cache(hit: bool) -> None:
    """The response cache was looked up: `hit` when it had the answer."""
    _labelled(RESPONSE_CACHE, "hit" if hit else "miss").inc()


@contextlib.contextmanager
def websocket_connection() -> Iterator[None]:
    """Counts a WebSocket connection for as long as the block runs."""
    WEBSOCKET_CONNECTIONS.inc()
    try:
        yield
    finally:
        WEBSOCKET_CONNECTIONS.dec()


# --- bounded labels --------------------------------------------------------------------------

# Each label value is a time series kept forever: operation names and error codes come from
# clients (or from code we do not control), so both are bounded.
MAX_OPERATION_NAMES = 500
MAX_CODES = 50
ANONYMOUS = "anonymous"
OTHER_OPERATION = "other"
OTHER_CODE = "OTHER"
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,47}")
_operation_names: set[str] = set()
_codes: set[str] = set()


def operation_label(name: object) -> str:
    """The operation's name; "anonymous" without one; "other" for a name longer than 64
    characters, not a GraphQL name (or not a string at all: the HTTP edge refuses those, but a
    label must never fail), or first seen after 500 distinct names."""
    if not name:
        return ANONYMOUS
    if not isinstance(name, str):
        return OTHER_OPERATION
    if name in _operation_names:
        return name
    if len(_operation_names) >= MAX_OPERATION_NAMES or not _OPERATION_NAME.fullmatch(name):
        return OTHER_OPERATION
    _operation_names.add(name)
    return name


def code_label(code: object) -> str:
    if not isinstance(code, str):
        return OTHER_CODE
    if code in _codes:
        return code
    if len(_codes) >= MAX_CODES or not _CODE.fullmatch(code):
        return OTHER_CODE
    _codes.add(code)
    return code


def error_code(error: GraphQLError) -> str:
    """The `extensions.code` the client sees for `error` (as gateway/errors.py assigns it,
    whether or not ErrorPolicy has run yet)."""
    if is_unexpected(error):
        return "INTERNAL_SERVER_ERROR"
    code = (error.extensions or {}).get("code")
    original = error.original_error
    if code is None and isinstance(original, GraphQLError):
        code = (original.extensions or {}).get("code")
    return "BAD_USER_INPUT" if code is None else code_label(code)


# Ours: a bug or an outage, or an operation cancelled for running too long.
_SERVER_CODES = frozenset({"INTERNAL_SERVER_ERROR", "TIMEOUT"})
# Refusals by a limit or a policy before anything ran.
_REFUSAL_CODES = frozenset(
    {
        "QUERY_TOO_COMPLEX",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "INTROSPECTION_DISABLED",
        "PERSISTED_QUERY_ID_REQUIRED",
        "PERSISTED_QUERY_NOT_IN_LIST",
    }
)


def outcome_of(codes: Iterable[str], executed: bool) -> str:
    """ok; server_error if any error is ours (INTERNAL_SERVER_ERROR, TIMEOUT); throttled;
    refused (a limit or a policy, before execution); else client_error."""
    found = set(codes)
    if not found:
        return OK
    if found & _SERVER_CODES:
        return SERVER_ERROR
    if "THROTTLED" in found:
        return THROTTLED
    if not executed and found & _REFUSAL_CODES:
        return REFUSED
    return CLIENT_ERROR


_SEVERITY = {OK: 0, CLIENT_ERROR: 1, REFUSED: 2, THROTTLED: 3, SERVER_ERROR: 4}

# `metric.labels(...)` validates and locks on every call (~2 µs): the hot path keeps the
# labelled series it has used (the label values are bounded above, so are these).
_series: dict[tuple[Any, ...], Any] = {}


def _labelled(metric: Any, *values: str) -> Any:
    key = (metric, *values)
    series = _series.get(key)
    if series is None:
        series = _series[key] = metric.labels(*values)
    return series


# --- SQL statements per request --------------------------------------------------------------

# The running operation's statement count, in a box its child tasks (loader batches) share.
_statements: ContextVar[list[int] | None] = ContextVar("graphql_statements", default=None)
_watched_engines: WeakSet[Any] = WeakSet()


def count_statement(_sql: str, _arguments: tuple[Any, ...]) -> None:
    """A statement observer (db/statement_log.py): attributes it to the running operation."""
    box = _statements.get()
    if box is not None:
        box[0] += 1


def attribute_statements(
    engine: Any, observe_statements: Callable[[Any, Callable[..., None]], None]
) -> None:
    """Have `observe_statements(engine, count_statement)` called once per engine, however many
    apps are built on it (the caller passes the observer registration: gateway stays off db)."""
    if engine.sync_engine in _watched_engines:
        return
    _watched_engines.add(engine.sync_engine)
    observe_statements(engine, count_statement)


# --- the schema extension --------------------------------------------------------------------


class OperationMetrics(SchemaExtension):
    """Counts and times every operation, attributes its SQL statements, and keeps the gauge
    of running subscriptions. Put it first among the extensions: it then times the others."""

    _kind: str | None = None  # known once the operation executes
    _subscription = False
    _worst = OK

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        box = [0]
        token = _statements.set(box)
        try:
            yield
        except Exception as error:
            self._record(started, box, failure=error)
            raise
        except BaseException:
            # Cancelled, or closed by the client: a subscription ends so; a query or mutation
            # whose client went away got no answer and is not counted.
            if self._subscription:
                self._record(started, box)
            raise
        else:
            self._record(started, box)
        finally:
            _reset(token)
            if self._subscription:
                ACTIVE_SUBSCRIPTIONS.dec()

    def on_execute(self) -> Iterator[None]:
        self._kind = _operation_type(self.execution_context)
        if self._kind == "subscription":
            self._subscription = True
            ACTIVE_SUBSCRIPTIONS.inc()
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # A subscription's events: its `execution_context.result` keeps only the last one.
        if self._subscription:
            codes = [error_code(error) for error in getattr(result, "errors", None) or ()]
            for code in codes:
                _labelled(RESOLVER_ERRORS, code).inc()
            outcome = outcome_of(codes, executed=True)
            if _SEVERITY[outcome] > _SEVERITY[self._worst]:
                self._worst = outcome
        yield

    def _record(self, started: float, box: list[int], failure: Exception | None = None) -> None:
        try:
            self._observe(started, box, failure)
        except Exception:  # a metrics bug must not fail the request
            log.exception("could not record the operation's metrics")

    def _observe(self, started: float, box: list[int], failure: Exception | None) -> None:
        context = self.execution_context
        kind = self._kind or _operation_type(context)
        if self._subscription:
            outcome = self._worst
        elif failure is not None:
            outcome = _outcome_of_exception(failure)
        else:
            result = context.result
            executed = result is not None and not isinstance(result, PreExecutionError)
            errors = getattr(result, "errors", None) or ()
            codes = [error_code(error) for error in errors]
            outcome = outcome_of(codes, executed)
            if executed:
                for code in codes:
                    _labelled(RESOLVER_ERRORS, code).inc()
                SQL_STATEMENTS.observe(box[0])
                if kind == "mutation":
                    _count_user_errors(getattr(result, "data", None))
        _labelled(REQUESTS, operation_label(context.operation_name), kind, outcome).inc()
        if not self._subscription:
            _labelled(DURATION, kind, outcome).observe(time.perf_counter() - started)


def _operation_type(context: Any) -> str:
    try:
        return str(context.operation_type.value)
    except RuntimeError:  # not parsed, or the named operation is not in the document
        return "unknown"


def _outcome_of_exception(error: Exception) -> str:
    if isinstance(error, GraphQLError):
        return outcome_of([error_code(error)], executed=False)
    if isinstance(error, CLIENT_EXCEPTIONS):  # no query, or no such operation in it
        return CLIENT_ERROR
    return SERVER_ERROR


def _count_user_errors(data: Any) -> None:
    if not isinstance(data, dict):
        return
    for payload in data.values():
        if isinstance(payload, dict):
            for user_error in payload.get("userErrors") or ():
                if isinstance(user_error, dict):
                    _labelled(USER_ERRORS, code_label(user_error.get("code"))).inc()


def _reset(token: Token[list[int] | None]) -> None:
    # ValueError: finalized from another context (an abandoned stream): nothing to undo there.
    with contextlib.suppress(ValueError):
        _statements.reset(token)


# --- /metrics --------------------------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_scrape(request: Request, token: str | None) -> bool:
    """A loopback client that did not come through a proxy, or the bearer of `token`."""
    client = request.client
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if client is not None and _is_loopback(client.host) and not proxied:
        return True
    if not token:
        return False
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        supplied.strip().encode(), token.encode()
    )


def render(accept: str = "") -> tuple[bytes, str]:
    """This process's metrics, or all workers' in multiprocess mode, and their media type: the
    text format (0.0.4) unless the scraper's Accept header asks for a newer one or OpenMetrics."""
    encode, media_type = choose_encoder(accept)
    if MULTIPROCESS_DIRECTORY is None:
        return encode(REGISTRY), media_type
    _forget_dead_workers(MULTIPROCESS_DIRECTORY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return encode(registry), media_type


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def _forget_dead_workers(directory: str) -> None:
    """Drop the live gauges of workers that died without saying so (killed, crashed)."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        matched = _LIVE_GAUGE_FILE.fullmatch(os.path.basename(path))
        if matched and not _process_exists(int(matched.group(1))):
            multiprocess.mark_process_dead(int(matched.group(1)), directory)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_multiprocess_directory() -> None:
    """Before starting workers: forget the files of earlier runs (prometheus_client's rule:
    the directory starts empty), keeping this process's own."""
    if MULTIPROCESS_DIRECTORY is None:
        return
    own = f"_{os.getpid()}.db"
    for path in glob.glob(os.path.join(MULTIPROCESS_DIRECTORY, "*.db")):
        if not path.endswith(own):
            os.remove(path)


def metrics_endpoint(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics: 404 to other clients when no token is configured (the endpoint is not
    public), 403 when one is and the request does not carry it."""

    async def metrics(request: Request) -> Response:
        if not may_scrape(request, token):
            if token:
                return PlainTextResponse(
                    "forbidden", status_code=403, headers={"WWW-Authenticate": "Bearer"}
                )
            return PlainTextResponse("not found", status_code=404)
        accept = request.headers.get("accept", "")
        if MULTIPROCESS_DIRECTORY is None:
            body, media_type = render(accept)
        else:  # reads every worker's files
            body, media_type = await run_in_threadpool(render, accept)
        return Response(body, headers={"content-type": media_type})

    return metrics
