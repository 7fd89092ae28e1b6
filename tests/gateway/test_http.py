"""The HTTP edge of /graphql: malformed requests, size and depth limits, media type
negotiation, health probes and the masking of unexpected errors."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.extensions import SchemaExtension

from gateway.errors import INTERNAL_MESSAGE, ErrorPolicy, GatewaySchema, classify
from gateway.http import GRAPHQL_RESPONSE_JSON, GatewayView
from gateway.limits import ExecutionTimeLimit
from gateway.metrics import operation_label
from tests.support import PASSWORD, REGISTER, register

JSON = "application/json"


def error_code(body: dict[str, Any]) -> str:
    errors = body["errors"]
    assert isinstance(errors, list) and errors, body
    code: str = errors[0]["extensions"]["code"]
    return code


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


async def assert_still_serving(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}


async def post_raw(
    client: httpx.AsyncClient, content: bytes | str, content_type: str = JSON, **headers: str
) -> httpx.Response:
    return await client.post(
        "/graphql", content=content, headers={"content-type": content_type, **headers}
    )


# --- malformed requests ----------------------------------------------------------------------


async def test_malformed_json_body(client):
    response = await post_raw(client, b'{"query": "{ __typename }"')
    assert response.status_code == 400
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"
    await assert_still_serving(client)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[1, 2, 3]", id="array-of-numbers"),
        pytest.param(b'["garbage", {"x": 1}, null]', id="array-of-garbage"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"a string"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="boolean"),
    ],
)
async def test_json_body_that_is_not_an_object(client, content):
    response = await post_raw(client, content)
    assert response.status_code == 400, response.text
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"
    await assert_still_serving(client)


async def test_wrong_content_type_is_415(client):
    response = await post_raw(client, '{"query": "{ __typename }"}', content_type="text/plain")
    assert response.status_code == 415
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"
    await assert_still_serving(client)


@pytest.mark.parametrize("query", [42, ["{ __typename }"], {"q": 1}, True])
async def test_query_that_is_not_a_string(client, query):
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 400
    assert media_type(response) == JSON
    body = response.json()
    assert error_code(body) == "BAD_USER_INPUT"
    assert "query" in body["errors"][0]["message"]
    await assert_still_serving(client)


@pytest.mark.parametrize("variables", [[1, 2], "{}", 7])
async def test_variables_that_are_not_an_object(client, variables):
    response = await client.post(
        "/graphql", json={"query": "{ __typename }", "variables": variables}
    )
    assert response.status_code == 400
    assert media_type(response) == JSON
    body = response.json()
    assert error_code(body) == "BAD_USER_INPUT"
    assert "variables" in body["errors"][0]["message"]
    await assert_still_serving(client)


async def test_missing_query(client):
    response = await client.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"


async def test_unknown_operation_name(client):
    document = "query A { __typename } query B { me { id } }"
    response = await client.post("/graphql", json={"query": document, "operationName": "C"})
    assert response.status_code == 400
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"

    # The same document with a known name runs that operation.
    response = await client.post("/graphql", json={"query": document, "operationName": "A"})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}
    await assert_still_serving(client)


# --- parse, validation and depth errors (application/json: 200, no `data`) --------------------


async def test_syntax_error(client):
    response = await client.post("/graphql", json={"query": "{ __typename "})
    assert response.status_code == 200
    assert media_type(response) == JSON
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"
    assert "Syntax Error" in body["errors"][0]["message"]
    await assert_still_serving(client)


async def test_validation_error_unknown_field(client):
    response = await client.post("/graphql", json={"query": "{ noSuchField }"})
    assert response.status_code == 200
    assert media_type(response) == JSON
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"
    assert "noSuchField" in body["errors"][0]["message"]
    await assert_still_serving(client)


def nested_categories(levels: int) -> str:
    selection = "id"
    for _ in range(levels):
        selection = f"children {{ {selection} }}"
    return f"{{ categories {{ {selection} }} }}"


async def test_query_deeper_than_the_limit_is_refused_before_execution(
    client, settings, statement_counter
):
    statement_counter.reset()
    try:
        response = await client.post("/graphql", json={"query": nested_categories(20)})
    finally:
        statement_counter.active = False
    assert response.status_code == 200
    assert media_type(response) == JSON
    body = response.json()
    assert "data" not in body, body
    assert error_code(body) == "QUERY_TOO_COMPLEX"
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    assert statement_counter.count == 0, statement_counter.statements
    await assert_still_serving(client)


async def test_query_within_the_depth_limit_runs(client, settings):
    # categories(1) + children(levels) + id(1) <= max depth
    response = await client.post(
        "/graphql", json={"query": nested_categories(settings.max_query_depth - 2)}
    )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    assert isinstance(body["data"]["categories"], list)


# --- body size limit -------------------------------------------------------------------------


def oversized_body(size: int) -> bytes:
    padding = "x" * size
    return f'{{"query": "{{ __typename }}", "extensions": {{"pad": "{padding}"}}}}'.encode()


async def test_body_over_the_limit_with_content_length(client, settings):
    content = oversized_body(settings.max_body_bytes + 1)
    response = await post_raw(client, content)
    assert response.status_code == 413
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"
    await assert_still_serving(client)


async def test_body_within_the_limit_is_served(client, settings):
    content = oversized_body(settings.max_body_bytes - 200)
    assert len(content) <= settings.max_body_bytes
    response = await post_raw(client, content)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}


async def test_body_over_the_limit_streamed_without_content_length(client, settings):
    content = oversized_body(settings.max_body_bytes * 2)
    chunks_sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for start in range(0, len(content), 16_384):
            chunks_sent += 1
            yield content[start : start + 16_384]

    request = client.build_request(
        "POST", "/graphql", content=chunks(), headers={"content-type": JSON}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await client.send(request)
    assert response.status_code == 413
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"
    assert chunks_sent > 1
    await assert_still_serving(client)


async def test_ten_megabyte_body_is_refused(client):
    content = oversized_body(10 * 1024 * 1024)
    response = await post_raw(client, content)
    assert response.status_code == 413
    assert media_type(response) == JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"
    await assert_still_serving(client)


async def test_lying_content_length_is_still_limited(client, settings):
    """A small declared Content-Length does not let a larger body through."""
    content = oversized_body(settings.max_body_bytes * 2)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 65_536):
            yield content[start : start + 65_536]

    request = client.build_request(
        "POST", "/graphql", content=chunks(), headers={"content-type": JSON}
    )
    request.headers["content-length"] = "100"
    del request.headers["transfer-encoding"]
    response = await client.send(request)
    assert response.status_code == 413
    await assert_still_serving(client)


# --- GET ---------------------------------------------------------------------------------------


async def test_get_query(client):
    response = await client.get("/graphql", params={"query": "{__typename}"})
    assert response.status_code == 200
    assert media_type(response) == JSON
    assert response.json()["data"] == {"__typename": "Query"}


async def test_mutation_over_get_is_refused_without_side_effect(client):
    email = f"get-{uuid.uuid4().hex[:12]}@example.com"
    variables = {
        "input": {
            "email": email,
            "password": PASSWORD,
            "name": "Via Get",
            "companyName": f"Company {email}",
            "country": "DE",
            "defaultCurrency": "EUR",
            "isSeller": False,
            "isBuyer": True,
        }
    }
    response = await client.get(
        "/graphql", params={"query": REGISTER, "variables": json.dumps(variables)}
    )
    assert 400 <= response.status_code < 500, response.text
    assert media_type(response) == JSON
    body = response.json()
    assert error_code(body) == "BAD_USER_INPUT"
    assert "data" not in body
    # Nothing was registered: the same email is still free.
    account = await register(client, buyer=True, email=email)
    assert account.email == email


# --- GraphQL over HTTP media type ------------------------------------------------------------


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE_JSON, JSON])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
async def test_other_methods_are_405_with_allow(client, method, accept):
    response = await client.request(
        method, "/graphql", json={"query": "{ __typename }"}, headers={"accept": accept}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"  # RFC 9110
    assert media_type(response) == accept
    if method != "HEAD":
        assert error_code(response.json()) == "BAD_USER_INPUT"


async def test_graphql_response_json_good_query(client):
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE_JSON}
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE_JSON
    assert response.json()["data"] == {"__typename": "Query"}


async def test_graphql_response_json_syntax_error_is_400(client):
    response = await client.post(
        "/graphql", json={"query": "{ __typename "}, headers={"accept": GRAPHQL_RESPONSE_JSON}
    )
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE_JSON
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"


async def test_graphql_response_json_validation_error_is_400(client):
    response = await client.post(
        "/graphql",
        json={"query": "{ noSuchField }"},
        headers={"accept": f"{GRAPHQL_RESPONSE_JSON}, {JSON};q=0.9"},
    )
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE_JSON
    assert error_code(response.json()) == "BAD_USER_INPUT"


async def test_graphql_response_json_field_error_is_200_with_data(client):
    # An operation that executed answers 200 even with field errors: `data` is present.
    response = await client.post(
        "/graphql",
        json={"query": '{ node(id: "not-a-global-id") { id } }'},
        headers={"accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE_JSON
    assert "data" in response.json()


async def test_legacy_accept_syntax_error_is_200(client):
    response = await client.post(
        "/graphql", json={"query": "{ __typename "}, headers={"accept": JSON}
    )
    assert response.status_code == 200
    assert media_type(response) == JSON
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"


async def test_bad_token_is_401(client):
    response = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"authorization": "Bearer not-a-jwt"},
    )
    assert response.status_code == 401
    assert media_type(response) == JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert error_code(response.json()) == "UNAUTHENTICATED"
    await assert_still_serving(client)


# --- probes ------------------------------------------------------------------------------------


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_readyz(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert media_type(response) == JSON
    assert response.json() == {"postgres": "ok", "redis": "ok", "broker": "ok"}


# --- unexpected errors are masked ------------------------------------------------------------


def test_classify_masks_an_unexpected_exception():
    original = GraphQLError("boom", path=["explode"], original_error=RuntimeError("boom"))
    masked = classify(original, SimpleNamespace(request_id="req-42"))
    assert masked.message == INTERNAL_MESSAGE
    assert "boom" not in masked.message
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert masked.path == ["explode"]
    assert "boom" not in str(masked.formatted)


def test_classify_keeps_client_errors_and_their_codes():
    plain = classify(GraphQLError("bad input"), None)
    assert plain.message == "bad input"
    assert plain.extensions == {"code": "BAD_USER_INPUT"}

    typed = GraphQLError("no", original_error=GraphQLError("no", extensions={"code": "FORBIDDEN"}))
    assert classify(typed, None).extensions == {"code": "FORBIDDEN"}


def test_process_errors_logs_the_unexpected_with_the_request_id(caplog):
    schema = GatewaySchema(query=ExplodingQuery)
    context = SimpleNamespace(request_id="req-77", viewer=SimpleNamespace(user_id=None))
    execution_context = SimpleNamespace(context=context, operation_name="Explode")
    errors = [
        GraphQLError("boom", original_error=RuntimeError("boom")),
        GraphQLError("client mistake"),
    ]
    with caplog.at_level(logging.ERROR, logger="gateway.errors"):
        schema.process_errors(errors, execution_context)  # type: ignore[arg-type]
    records = [r for r in caplog.records if r.name == "gateway.errors"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert record.request_id == "req-77"
    assert record.operation == "Explode"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


@strawberry.type
class ExplodingQuery:
    @strawberry.field
    def explode(self) -> str:
        raise RuntimeError("boom: secret connection string")

    @strawberry.field
    def fine(self) -> str:
        return "fine"


async def test_unexpected_exception_is_masked_end_to_end(services, caplog):
    """A throwaway app on the real view: the client sees a masked error with the request id,
    the log has the original exception with the same id."""
    schema = GatewaySchema(query=ExplodingQuery, extensions=[ErrorPolicy])
    throwaway = Starlette(routes=[Route("/graphql", GatewayView(schema, services))])
    transport = httpx.ASGITransport(app=throwaway)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        with caplog.at_level(logging.ERROR, logger="gateway.errors"):
            response = await http.post(
                "/graphql",
                json={"query": "query Explode { fine explode }", "operationName": "Explode"},
                headers={"x-request-id": "req-e2e-1"},
            )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None  # `explode` is non-null, so the error nulls the root
    [error] = body["errors"]
    assert error["message"] == INTERNAL_MESSAGE
    assert "boom" not in response.text
    assert "secret" not in response.text
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-e2e-1"}
    assert response.headers["x-request-id"] == "req-e2e-1"  # for the client to quote
    assert error["path"] == ["explode"]

    records = [r for r in caplog.records if r.name == "gateway.errors"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert records[0].request_id == "req-e2e-1"
    assert records[0].operation == "Explode"
    assert records[0].exc_info is not None
    assert "secret connection string" in str(records[0].exc_info[1])


# --- aliases, tokens, NUL characters, literal scalars ---------------------------------------------


async def test_too_many_aliases_are_refused_before_any_statement(
    client, settings, statement_counter
):
    aliases = " ".join(
        f"p{i}: products(first: 100) {{ edges {{ node {{ id }} }} }}"
        for i in range(settings.max_aliases + 1)
    )
    statement_counter.reset()
    try:
        response = await client.post("/graphql", json={"query": f"{{ {aliases} }}"})
    finally:
        statement_counter.active = False
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "QUERY_TOO_COMPLEX"
    assert f"Allowed: {settings.max_aliases}" in body["errors"][0]["message"]
    assert statement_counter.count == 0
    await assert_still_serving(client)


async def test_a_document_over_the_token_limit_is_not_parsed_to_the_end(client, settings):
    document = "{ " + " ".join("__typename" for _ in range(settings.max_tokens)) + " }"
    response = await client.post("/graphql", json={"query": document})
    body = response.json()
    assert "data" not in body
    assert f"more than {settings.max_tokens} tokens" in body["errors"][0]["message"]
    await assert_still_serving(client)


@pytest.mark.parametrize(
    "request_body",
    [
        {
            "query": "query($q: String) { products(first: 1, filter: {query: $q}) { totalCount } }",
            "variables": {"q": "bolt\x00"},
        },
        {"query": '{ products(first: 1, filter: {query: "bolt\\u0000"}) { totalCount } }'},
        {
            "query": "mutation($e: String!, $p: String!) "
            "{ login(email: $e, password: $p) { accessToken } }",
            "variables": {"e": "a\x00@example.com", "p": "x"},
        },
    ],
    ids=["variable", "literal-escape", "login-email"],
)
async def test_nul_characters_are_refused_up_front(client, request_body):
    response = await client.post("/graphql", json=request_body)
    body = response.json()
    assert body.get("data") is None
    assert error_code(body) == "BAD_USER_INPUT"
    assert "NUL" in body["errors"][0]["message"]
    await assert_still_serving(client)


@pytest.mark.parametrize("literal", ["ZZZ", "eur", '"EUR"', "5"])
async def test_an_unknown_currency_written_in_the_query_is_the_clients_mistake(client, literal):
    response = await client.post(
        "/graphql",
        json={"query": f"{{ products(first: 1, currency: {literal}) {{ totalCount }} }}"},
    )
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"
    assert "CurrencyCode" in body["errors"][0]["message"]


# --- GraphQL over HTTP status codes (issue 10) ---------------------------------------------------


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records logged with an exception (a client's mistake must log none) or at ERROR."""
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE_JSON, JSON])
async def test_status_codes_follow_graphql_over_http(client, accept, caplog):
    """Apollo Client 4 reads the error code only from an answer under the media type it asked
    for; a legacy client keeps application/json (and 200 for request errors)."""
    headers = {"accept": accept}
    caplog.set_level(logging.INFO)

    # A bad or expired token: 401 with a GraphQL error body under the negotiated type.
    response = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={**headers, "authorization": "Bearer expired.or.forged"},
    )
    assert response.status_code == 401
    assert media_type(response) == accept
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert error_code(response.json()) == "UNAUTHENTICATED"

    # Variables that cannot be coerced: a request error, no `data` (400 under the new type).
    response = await client.post(
        "/graphql",
        json={
            "query": "query($first: Int!) { products(first: $first) { totalCount } }",
            "variables": {"first": "ten"},
        },
        headers=headers,
    )
    assert response.status_code == (400 if accept == GRAPHQL_RESPONSE_JSON else 200)
    assert media_type(response) == accept
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"
    assert "$first" in body["errors"][0]["message"]

    # A mutation over GET: 405, and where to send it instead.
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { logout(refreshToken: "x") { success } }'},
        headers=headers,
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert media_type(response) == accept
    assert error_code(response.json()) == "BAD_USER_INPUT"
    # A subscription runs over neither method (this endpoint streams over WebSocket only):
    # a client error, where it ran as a query and failed as an internal error before.
    subscription = "subscription { quoteUpdated { eventId } }"
    for response in (
        await client.get("/graphql", params={"query": subscription}, headers=headers),
        await client.post("/graphql", json={"query": subscription}, headers=headers),
    ):
        assert response.status_code == 400
        assert "allow" not in response.headers
        assert media_type(response) == accept
        assert error_code(response.json()) == "BAD_USER_INPUT"
        assert "WebSocket" in response.json()["errors"][0]["message"]
    assert tracebacks(caplog) == []


@strawberry.type
class NeverDoneQuery:
    @strawberry.field
    async def never_done(self) -> str:
        await asyncio.Event().wait()  # only the time limit ends it
        return "never"


async def test_a_timeout_is_504_under_the_new_media_type(services):
    schema = GatewaySchema(
        query=NeverDoneQuery, extensions=[lambda: ExecutionTimeLimit(0.05), ErrorPolicy]
    )
    throwaway = Starlette(routes=[Route("/graphql", GatewayView(schema, services))])
    transport = httpx.ASGITransport(app=throwaway)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for accept, status in ((GRAPHQL_RESPONSE_JSON, 504), (JSON, 200)):
            response = await http.post(
                "/graphql", json={"query": "{ neverDone }"}, headers={"accept": accept}
            )
            assert response.status_code == status
            assert media_type(response) == accept
            assert error_code(response.json()) == "TIMEOUT"


def nested_variables(levels: int) -> bytes:
    return (
        b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * levels + b"]" * levels + b"}}"
    )


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE_JSON, JSON])
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"query": "{ __typename }", "operationName": "\xff"}', id="invalid-utf-8"),
        pytest.param(b'{"query": "{ __typ\xc3e }"}', id="truncated-utf-8"),
        pytest.param(nested_variables(1_000), id="nested-1000"),
        pytest.param(nested_variables(100), id="nested-100"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000"),
        # Python refuses to read an integer of more than 4 300 digits (a plain ValueError).
        pytest.param(
            b'{"query":"{__typename}","variables":{"v":' + b"1" * 5000 + b"}}", id="5000-digits"
        ),
        # Not JSON, though Python's json reads them (and orjson would write them as null).
        pytest.param(b'{"query":"{__typename}","variables":{"v":NaN}}', id="NaN"),
        pytest.param(b'{"query":"{__typename}","variables":{"v":Infinity}}', id="Infinity"),
        pytest.param(b'{"query":"{__typename}","variables":{"v":-Infinity}}', id="-Infinity"),
        pytest.param(b'{"query":"{__typename}","variables":{"v":1e999}}', id="float-overflow"),
    ],
)
async def test_malformed_bodies_are_400_not_500(client, content, accept, caplog):
    caplog.set_level(logging.INFO)
    response = await post_raw(client, content, accept=accept)
    assert response.status_code == 400, response.text
    assert media_type(response) == accept
    body = response.json()
    assert error_code(body) == "BAD_USER_INPUT"
    assert "Unable to parse request body as JSON" in body["errors"][0]["message"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert tracebacks(caplog) == []
    await assert_still_serving(client)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "1" * 5000])
async def test_variables_in_the_query_string_that_are_not_json_are_400(client, literal, caplog):
    caplog.set_level(logging.INFO)
    response = await client.get(
        "/graphql",
        params={
            "query": "query($first: Int) { products(first: $first) { totalCount } }",
            "variables": f'{{"first": {literal}}}',
        },
        headers={"accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 400, response.text
    assert error_code(response.json()) == "BAD_USER_INPUT"
    assert tracebacks(caplog) == []


async def test_nesting_within_the_limit_is_served(client):
    response = await post_raw(client, nested_variables(20))
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE_JSON, JSON])
@pytest.mark.parametrize("operation_name", [{"obj": "ect"}, ["A"], 0, False])
async def test_an_operation_name_that_is_not_a_string_is_refused(
    client, accept, operation_name, caplog
):
    caplog.set_level(logging.INFO)
    response = await client.post(
        "/graphql",
        json={"query": "query A { __typename }", "operationName": operation_name},
        headers={"accept": accept},
    )
    assert response.status_code == 400
    assert media_type(response) == accept
    body = response.json()
    assert "data" not in body
    assert error_code(body) == "BAD_USER_INPUT"
    assert "operationName" in body["errors"][0]["message"]
    assert tracebacks(caplog) == []


def test_the_metrics_label_any_operation_name():
    # What the HTTP edge refuses may still reach the metrics another way (a WebSocket).
    assert operation_label({"obj": "ect"}) == "other"
    assert operation_label(["A"]) == "other"
    assert operation_label(None) == "anonymous"


class BrokenBeforeExecution(SchemaExtension):
    """A schema extension whose hook throws before anything executes: the server's fault."""

    def on_validate(self) -> Iterator[None]:
        raise RuntimeError("boom: a hook broke")
        yield


async def test_an_internal_error_before_execution_is_500_not_400(services, caplog):
    schema = GatewaySchema(query=ExplodingQuery, extensions=[BrokenBeforeExecution, ErrorPolicy])
    throwaway = Starlette(routes=[Route("/graphql", GatewayView(schema, services))])
    transport = httpx.ASGITransport(app=throwaway)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        with caplog.at_level(logging.ERROR):
            for accept, status in ((GRAPHQL_RESPONSE_JSON, 500), (JSON, 200)):
                response = await http.post(
                    "/graphql", json={"query": "{ fine }"}, headers={"accept": accept}
                )
                assert response.status_code == status, response.text
                assert media_type(response) == accept
                body = response.json()
                assert "data" not in body
                [error] = body["errors"]
                assert error["message"] == INTERNAL_MESSAGE  # not the exception's text
                assert "boom" not in response.text
                assert error["extensions"] == {
                    "code": "INTERNAL_SERVER_ERROR",
                    "requestId": response.headers["x-request-id"],
                }
    # Each logged once, with its stack and the request id the client can quote.
    records = [r for r in caplog.records if r.name == "gateway.errors"]
    assert len(records) == 2
    assert all(isinstance(r.exc_info[1], RuntimeError) for r in records if r.exc_info)
    assert all(r.exc_info for r in records)
