"""Security headers on every HTTP answer; CORS only for the configured frontends."""

import httpx

from server import create_app


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
