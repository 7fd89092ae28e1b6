"""Optional OpenTelemetry tracing: one span per GraphQL operation, exported over OTLP/HTTP.

On only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and
the `tracing` extra is installed (`pip install -e '.[tracing]'`); otherwise nothing is imported
and nothing happens. The exporter reads the standard `OTEL_*` variables itself (headers,
timeout, compression); `OTEL_SERVICE_NAME` defaults to `b2b-gateway`. A process already set up
by `opentelemetry-instrument` keeps its own tracer provider.

A span covers the operation (with child spans for parsing and validation), continues the
caller's trace from a `traceparent` header, and carries `graphql.operation.name` and
`graphql.operation.type`; an operation answered with INTERNAL_SERVER_ERROR has status ERROR. No
span per field: Strawberry's per-resolver hook would make every field async (DESIGN.md: the
cost is in fields), and the document text is not recorded (a `login` written inline carries a
password).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from strawberry.extensions import SchemaExtension

from gateway.metrics import error_code

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, StatusCode

    HAS_OPENTELEMETRY = True
except ImportError:  # the `tracing` extra is not installed
    HAS_OPENTELEMETRY = False

log = logging.getLogger("gateway.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SERVICE_NAME = "b2b-gateway"

_provider: Any = None  # one per process, built on first use


def tracing_requested(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def build_tracer_provider(environ: Mapping[str, str]) -> Any:
    """An SDK tracer provider exporting in batches over OTLP/HTTP (endpoint from the
    environment), or the process's own when `opentelemetry-instrument` already set one up;
    None when the packages are missing."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry packages are not "
            "installed (pip install -e '.[tracing]'): tracing is off"
        )
        return None
    existing = trace.get_tracer_provider()
    if not isinstance(existing, trace.ProxyTracerProvider):
        return existing
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    attributes = {} if named else {"service.name": DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def tracing_extensions(
    environ: Mapping[str, str] | None = None,
) -> list[Callable[[], SchemaExtension]]:
    """The schema extension factories for tracing: none unless it is configured."""
    global _provider
    environ = os.environ if environ is None else environ
    if not tracing_requested(environ):
        return []
    if not HAS_OPENTELEMETRY:
        build_tracer_provider(environ)  # logs why tracing is off
        return []
    if _provider is None:
        _provider = build_tracer_provider(environ)
        if _provider is None:
            return []
    tracer = trace.get_tracer("b2b-gateway.graphql", tracer_provider=_provider)
    return [lambda: OperationTracing(tracer)]


class OperationTracing(SchemaExtension):
    """A span per operation, with child spans for parsing and validation."""

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer
        self._span: Any = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        parent = None
        request = getattr(context.context, "request", None)
        # Over WebSocket the handshake's headers belong to the connection, not the operation.
        if request is not None and not getattr(context.context, "is_websocket", False):
            parent = propagate.extract(request.headers)
        span = self._tracer.start_span("GraphQL operation", context=parent, kind=SpanKind.SERVER)
        self._span = span
        try:
            yield
        finally:
            self._finish(span)

    def _finish(self, span: Any) -> None:
        context = self.execution_context
        try:
            kind = str(context.operation_type.value)
        except RuntimeError:
            kind = None
        name = context.operation_name
        if kind is not None:
            span.set_attribute("graphql.operation.type", kind)
            span.update_name(f"{kind} {name}" if name else kind)
        if name:
            span.set_attribute("graphql.operation.name", name)
        errors = getattr(context.result, "errors", None) or ()
        codes = sorted({error_code(error) for error in errors})
        if codes:
            span.set_attribute("graphql.error.codes", codes)
        if "INTERNAL_SERVER_ERROR" in codes:
            span.set_status(StatusCode.ERROR)
        span.end()

    def on_parse(self) -> Iterator[None]:
        yield from self._child("GraphQL parse")

    def on_validate(self) -> Iterator[None]:
        yield from self._child("GraphQL validate")

    def _child(self, name: str) -> Iterator[None]:
        span = self._tracer.start_span(name, context=trace.set_span_in_context(self._span))
        try:
            yield
        finally:
            span.end()
