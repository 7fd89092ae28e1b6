"""Shared benchmark helpers: a seeded scratch database, a gateway process (`server.py serve`)
that is always stopped, checking every answer's body, and saying which limits were on.

A benchmark counts an answer as a request served only when `answer_problem` finds nothing wrong
with it: a THROTTLED or otherwise failed answer is a failure, never a fast success (an HTTP
benchmark once reported 2 600 "pages" of which 45 were pages).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.databases import create_migrated_database  # noqa: E402
from server import seed_demo_data  # noqa: E402
from settings import Settings  # noqa: E402

# The settings that decide whether a benchmark measures work or refusals, by variable name.
LIMIT_VARIABLES = {
    "RATE_LIMIT_CAPACITY": "rate_limit_capacity",
    "RATE_LIMIT_RESTORE_RATE": "rate_limit_restore_rate",
    "RESPONSE_CACHE_TTL_SECONDS": "response_cache_ttl_seconds",
    "MAX_QUERY_COST": "max_query_cost",
    "MAX_QUERY_DEPTH": "max_query_depth",
    "MAX_EXECUTION_SECONDS": "max_execution_seconds",
}


def answer_problem(status: int, body: Any) -> str | None:
    """What is wrong with a GraphQL answer (status and parsed JSON body), or None for a served
    request. Errors anywhere in `errors` count, THROTTLED among them; so do userErrors at the top
    of a mutation's payload."""
    if not isinstance(body, dict):
        return f"HTTP {status}: not a JSON object"
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        code = (first.get("extensions") or {}).get("code", "no code")
        return f"HTTP {status}: {code}: {first.get('message')}"
    if status != 200:
        return f"HTTP {status}"
    data = body.get("data")
    if not isinstance(data, dict):
        return f"HTTP {status}: no data"
    for payload in data.values():
        if isinstance(payload, dict) and payload.get("userErrors"):
            return f"userErrors: {payload['userErrors'][0]}"
    return None


def response_problem(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: not JSON: {response.text[:100]}"
    return answer_problem(response.status_code, body)


def settings_with(environment: Mapping[str, str]) -> Settings:
    """The limits a server started with these variables (over this process's) runs with."""
    merged = {**os.environ, **environment}
    overrides = {field: merged[name] for name, field in LIMIT_VARIABLES.items() if name in merged}
    return Settings.model_validate(overrides)


def limits_line(settings: Settings) -> str:
    """One line saying which limits were on, printed with every benchmark's figures."""
    rate = (
        f"on ({settings.rate_limit_capacity} points, {settings.rate_limit_restore_rate:g}/s)"
        if settings.rate_limit_capacity
        else "off"
    )
    cache = (
        f"on ({settings.response_cache_ttl_seconds} s)"
        if settings.response_cache_ttl_seconds
        else "off"
    )
    return (
        f"limits: rate limit {rate}; response cache {cache}; cost limit "
        f"{settings.max_query_cost}, depth {settings.max_query_depth}, execution "
        f"{settings.max_execution_seconds:g} s"
    )


def limits_seen(response: httpx.Response) -> str:
    """For a server this script did not start: what one answer tells of its limits."""
    problem = response_problem(response)
    if problem is not None:
        return f"limits seen: unknown, the probe request failed ({problem})"
    cost = (response.json().get("extensions") or {}).get("cost") or {}
    throttle = cost.get("throttleStatus")
    rate = (
        f"on ({throttle.get('maximumAvailable')} points, {throttle.get('restoreRate')}/s)"
        if throttle
        else "off (no throttleStatus)"
    )
    cache = response.headers.get("x-cache")
    return (
        f"limits seen: rate limit {rate}; response cache "
        f"{'on (X-Cache ' + cache + ')' if cache else 'off (no X-Cache)'}; "
        "cost and depth limits: the server's settings"
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_ready(url: str, within_seconds: float = 60) -> None:
    deadline = time.monotonic() + within_seconds
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"server at {url} did not become ready")


async def scratch_database(products: int) -> str:
    """A new seeded (and analyzed) database on DATABASE_URL's server (else the local one)."""
    server = (
        Settings(database_url=os.environ.get("DATABASE_URL")).database_url
        or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    url = await create_migrated_database(server, f"gw_bench_{uuid.uuid4().hex[:8]}")
    engine = create_async_engine(url, poolclass=NullPool)
    started = time.perf_counter()
    await seed_demo_data(engine, products)
    print(f"seeded {products} products in {time.perf_counter() - started:.1f} s")
    await engine.dispose()
    return url


@contextlib.asynccontextmanager
async def gateway(
    database_url: str,
    redis_url: str | None,
    log: Path,
    *,
    workers: int = 1,
    environment: Mapping[str, str] | None = None,
    ready_within: float = 30,
) -> AsyncIterator[Any]:
    """One gateway process (`workers` uvicorn workers) on a free 127.0.0.1 port, its output in
    `log`; yields (process, port) and always stops it (SIGTERM, then SIGKILL after 15 s).
    `environment` adds to / overrides the variables given to the server; the limits it runs
    with are printed."""
    port = free_port()
    variables = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url or "",
        "REDIS_KEY_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:",
        "ENVIRONMENT": "test",
        **(environment or {}),
    }
    print(f"gateway on port {port}, {workers} worker(s); {limits_line(settings_with(variables))}")
    with log.open("wb") as output:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "server.py",
            "serve",
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            cwd=ROOT,
            env=variables,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_until_ready(f"http://127.0.0.1:{port}/readyz", within_seconds=ready_within)
        yield server, port
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 15)
            except TimeoutError:
                server.kill()
                await server.wait()
