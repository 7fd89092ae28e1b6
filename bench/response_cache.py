"""Response-cache benchmark: N anonymous catalog-page requests, in process, one at a time,
with the cache off, on in process (no REDIS_URL) and on in Redis (when one answers).

    .venv/bin/python bench/response_cache.py [--products 2000] [--first 20] [--requests 200]
    .venv/bin/python bench/response_cache.py --database-url postgresql://...  # seeded already

Without --database-url it creates a database on the local PostgreSQL (DATABASE_URL's server,
else 127.0.0.1:5432), seeds it and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.catalog_page import CATALOG_PAGE  # noqa: E402
from bench.harness import limits_line, response_problem, scratch_database  # noqa: E402
from db.databases import drop_database  # noqa: E402
from server import build_services, create_app  # noqa: E402
from settings import Settings  # noqa: E402


def local_redis() -> str | None:
    configured = os.environ.get("REDIS_URL")
    if configured:
        return configured
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        return None


async def timed(settings: Settings, first: int, requests: int) -> tuple[float, dict[str, int]]:
    """Seconds for `requests` identical requests (after 20 of warm-up), and their X-Cache."""
    services = build_services(settings)
    app = create_app(settings, services)
    payload = {"query": CATALOG_PAGE, "variables": {"first": first}}
    outcomes: dict[str, int] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as http:
            for _ in range(20):  # parser/validation caches, prepared statements, pool
                await services.on_catalog_changed()  # each warm-up request runs
                response = await http.post("/graphql", json=payload)
                assert response_problem(response) is None, response.text
            await services.on_catalog_changed()  # the first measured request is a miss
            started = time.perf_counter()
            for _ in range(requests):
                response = await http.post("/graphql", json=payload)
                problem = response_problem(response)  # a refusal is not a page served
                assert problem is None, problem
                outcome = response.headers.get("x-cache", "none")
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            elapsed = time.perf_counter() - started
    finally:
        await services.engine.dispose()
        if services.redis is not None:
            await services.redis.delete(settings.redis_key_prefix + "rc:generation")
            await services.redis.aclose()
    return elapsed, outcomes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an already seeded database")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    database_url, scratch = args.database_url, False
    if database_url is None:
        database_url, scratch = await scratch_database(args.products), True
    base = Settings(
        environment="test",
        database_url=database_url,
        redis_url=None,
        redis_key_prefix=f"bench:{uuid.uuid4().hex[:8]}:",
        rate_limit_capacity=0,  # measure the cache, not the buckets
    )
    runs = [
        ("cache off", base.model_copy(update={"response_cache_ttl_seconds": 0})),
        ("in-process cache", base.model_copy(update={"response_cache_ttl_seconds": 30})),
    ]
    redis_url = local_redis()
    if redis_url:
        runs.append(
            (
                "Redis cache",
                base.model_copy(update={"response_cache_ttl_seconds": 30, "redis_url": redis_url}),
            )
        )
    try:
        print(
            f"\n{args.requests} anonymous requests of products(first: {args.first}), one at a time"
        )
        print(f"{'':<18} {'total s':>8} {'per request ms':>15}  X-Cache")
        for name, settings in runs:
            elapsed, outcomes = await timed(settings, args.first, args.requests)
            per_request = elapsed / args.requests * 1000
            print(f"{name:<18} {elapsed:>8.3f} {per_request:>15.2f}  {outcomes}")
            print(f"{'':<18} {limits_line(settings)}")
    finally:
        if scratch:
            await drop_database(database_url)


if __name__ == "__main__":
    asyncio.run(main())
