"""Security headers on every HTTP answer; CORS only for the configured frontends."""

import logging

import httpx
import pytest

from gateway.headers import SECURITY_HEADERS
from gateway.http import GatewayView
from server import create_app
from settings import SettingsError, load_settings


async def test_every_answer_carries_the_security_headers(client):
    for response in (
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.post("/graphql", content=b"not json", headers={"content-type": "text/plain"}),
        await client.get("/healthz"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


async def test_no_cors_headers_without_an_allow_list(client):
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://app.example"}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_cors_answers_the_listed_frontends_only(settings, services):
    app = create_app(
        settings.model_copy(update={"allowed_origins": ("https://app.example",)}), services
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        preflight = {
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        }
        allowed = await http.options(
            "/graphql", headers={"origin": "https://app.example", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = await http.options(
            "/graphql", headers={"origin": "https://evil.example", **preflight}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


CLIENT_HEADERS = (
    "authorization, content-type, accept, x-request-id, apollographql-client-name, "
    "apollographql-client-version, traceparent, tracestate, baggage, sentry-trace"
)


def preflight(requested_headers: str) -> dict[str, str]:
    return {
        "origin": "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": requested_headers,
    }


async def test_cors_preflight_allows_the_headers_client_libraries_send(settings, services):
    """Apollo Client's client awareness, W3C trace context and baggage, Sentry: a browser sends
    a preflight naming them, and the real POST only follows a 200 that allows them all."""
    app = create_app(
        settings.model_copy(
            update={"allowed_origins": ("https://app.example",), "allowed_headers": ("x-tenant",)}
        ),
        services,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        allowed = await http.options("/graphql", headers=preflight(CLIENT_HEADERS))
        assert allowed.status_code == 200, allowed.text
        allow_headers = {
            h.strip() for h in allowed.headers["access-control-allow-headers"].split(",")
        }
        assert {h.strip() for h in CLIENT_HEADERS.lower().split(",")} <= {
            h.lower() for h in allow_headers
        }
        assert int(allowed.headers["access-control-max-age"]) >= 600

        # The operator's ALLOWED_HEADERS are added; a header nobody allowed is still refused.
        assert (await http.options("/graphql", headers=preflight("x-tenant"))).status_code == 200
        refused = await http.options("/graphql", headers=preflight("x-unknown"))
        assert refused.status_code == 400

        # The answer itself lets the page's script read Retry-After, X-Cache and X-Request-Id.
        response = await http.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={
                "origin": "https://app.example",
                "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        exposed = {
            h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
        }
        assert {"retry-after", "x-cache", "x-request-id"} <= exposed
        assert len(response.headers["x-request-id"]) == 32  # one made up for this request


@pytest.mark.parametrize("value", ['["x tenant"]', '["x-tenant:"]', '"x-tenant"', "[1]"])
def test_allowed_headers_must_be_a_json_list_of_header_names(monkeypatch, value):
    monkeypatch.setenv("ALLOWED_HEADERS", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "ALLOWED_HEADERS" in str(raised.value)


def test_allowed_headers_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALLOWED_HEADERS", '["X-Tenant", "x-feature-flags"]')
    assert load_settings().allowed_headers == ("x-tenant", "x-feature-flags")


async def test_an_unexpected_exception_still_answers_with_the_security_headers(
    settings, services, monkeypatch, caplog
):
    """A bug outside the schema (here: building the context fails) escapes every handler of
    ours; Starlette would answer its bare 500 from outside the middleware, without them."""

    async def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom: a secret detail")

    monkeypatch.setattr(GatewayView, "get_context", fail)
    app = create_app(
        settings.model_copy(update={"allowed_origins": ("https://app.example",)}), services
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    origin = {"origin": "https://app.example"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        with caplog.at_level(logging.ERROR, logger="gateway.errors"):
            response = await http.post(
                "/graphql",
                json={"query": "{ __typename }"},
                headers={**origin, "x-request-id": "req-500-1"},
            )
            made_up = await http.post(
                "/graphql",
                json={"query": "{ __typename }"},
                headers={**origin, "x-request-id": "a b"},
            )
    assert response.status_code == 500
    for name, value in SECURITY_HEADERS:
        assert response.headers[name.decode()] == value.decode()
    assert response.headers["content-type"] == "application/json"
    assert "secret" not in response.text
    # The id to quote, which the page's script may read (CORS), in the body and in the log.
    assert response.headers["x-request-id"] == "req-500-1"
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-500-1"}
    # Not a plain token: a new id, never the client's text.
    assert made_up.status_code == 500
    assert len(made_up.headers["x-request-id"]) == 32
    assert made_up.json()["errors"][0]["extensions"]["requestId"] == made_up.headers["x-request-id"]
    records = [r for r in caplog.records if r.name == "gateway.errors"]
    assert [r.request_id for r in records] == ["req-500-1", made_up.headers["x-request-id"]]
    assert all(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in records)
