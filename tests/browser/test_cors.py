"""A frontend on another origin calls the gateway from headless Chromium with the headers real
clients send (Apollo Client 4's client awareness, W3C trace context): the browser's CORS
preflight lets them through, and the page can read the answers' Retry-After, X-Cache and
X-Request-Id (issue 10)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from settings import Settings
from tests.live_server import LiveServer, serve_gateway

# What Apollo Client 4 with `clientAwareness` and a traced app add to every request.
CLIENT_HEADERS = {
    "apollographql-client-name": "web-frontend",
    "apollographql-client-version": "4.0.0",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": "vendor=value",
    "baggage": "tenant=demo",
    "x-request-id": "cors-check-1",
}
QUERY = "{ categories { name } }"


class _Frontend(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>frontend</title>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def frontend() -> Iterator[str]:
    """A page on an origin of its own (another port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Frontend)
    thread = threading.Thread(target=server.serve_forever, name="frontend", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def cors_gateway(settings: Settings, frontend: str) -> Iterator[LiveServer]:
    """Allows the frontend; a cache to answer X-Cache; a bucket a few requests drain."""
    configured = settings.model_copy(
        update={
            "allowed_origins": (frontend,),
            "response_cache_ttl_seconds": 60,
            "rate_limit_capacity": 100,
            "rate_limit_restore_rate": 0.001,
            "redis_key_prefix": f"{settings.redis_key_prefix}cors:",
            "db_pool_size": 4,
        }
    )
    with serve_gateway(configured) as server:
        yield server


FETCH = """
(async () => {
  const call = async (query, headers) => {
    const response = await fetch(%(url)s, {
      method: "POST",
      headers: { "content-type": "application/json",
                 accept: "application/graphql-response+json", ...headers },
      body: JSON.stringify({ query }),
    });
    const body = await response.json();
    return { status: response.status, retryAfter: response.headers.get("retry-after"),
             codes: (body.errors ?? []).map((e) => e.extensions?.code ?? null),
             cache: response.headers.get("x-cache"),
             requestId: response.headers.get("x-request-id") };
  };
  try {
    const first = await call(%(query)s, %(headers)s);
    // A new search each time (a cache hit is not charged): drain the bucket until THROTTLED.
    let throttled = null;
    for (let i = 0; i < 200 && throttled === null; i++) {
      const search = `{ products(first: 1, filter: { query: "q${i}" }) { totalCount } }`;
      const answer = await call(search, %(headers)s);
      if (answer.status === 429) throttled = answer;
    }
    return { first, throttled };
  } catch (error) {
    return { error: String(error) };
  }
})()
"""


async def test_a_frontend_on_another_origin_sends_client_headers_and_reads_ours(
    page, frontend, cors_gateway
):
    await page.goto(frontend)
    script = FETCH % {
        "url": json.dumps(f"{cors_gateway.url}/graphql"),
        "query": json.dumps(QUERY),
        "headers": json.dumps(CLIENT_HEADERS),
    }
    seen = await page.evaluate(script)
    assert "error" not in seen, seen  # a refused preflight: "TypeError: Failed to fetch"
    assert seen["first"]["status"] == 200, seen
    assert seen["first"]["cache"] in ("HIT", "MISS")
    # Whatever X-Request-Id the gateway answers, the page reads it too.
    async with httpx.AsyncClient() as http:
        direct = await http.post(
            f"{cors_gateway.url}/graphql",
            json={"query": QUERY},
            headers={"origin": frontend, **CLIENT_HEADERS},
        )
    assert seen["first"]["requestId"] == direct.headers.get("x-request-id")
    assert seen["throttled"] is not None, seen
    assert seen["throttled"]["retryAfter"] is not None
    assert int(seen["throttled"]["retryAfter"]) > 0


async def test_the_preflight_is_cached_by_the_browser(frontend, cors_gateway):
    """Access-Control-Max-Age, so a browser does not preflight every request."""
    async with httpx.AsyncClient() as http:
        preflight = await http.options(
            f"{cors_gateway.url}/graphql",
            headers={
                "origin": frontend,
                "access-control-request-method": "POST",
                "access-control-request-headers": ",".join(["content-type", *CLIENT_HEADERS]),
            },
        )
    assert preflight.status_code == 200, preflight.text
    assert int(preflight.headers["access-control-max-age"]) > 0
