"""Catalog-page benchmark.

1. Over HTTP against a running gateway (--url), or one this script starts on a scratch database:
   requests per second and p50/p99 latency at 1, 10 and 50 concurrent clients.
2. In-process, on the same database: SQL statements per request, and the time of one
   catalog-page request beside the time of its SQL statements alone (replayed on one
   connection). The ratio says how much GraphQL execution adds to the database work.

    .venv/bin/python bench/catalog_page.py [--products 2000] [--first 20] [--seconds 5]
    .venv/bin/python bench/catalog_page.py --url http://127.0.0.1:8000/graphql

Without --url and --database-url it creates a database on the local PostgreSQL (DATABASE_URL's
server, else 127.0.0.1:5432), seeds it and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    free_port,
    limits_line,
    limits_seen,
    percentile,
    response_problem,
    scratch_database,
    settings_with,
    wait_until_ready,
)
from db.databases import drop_database  # noqa: E402
from db.statement_log import observe_statements  # noqa: E402
from server import build_services, create_app  # noqa: E402
from settings import Settings  # noqa: E402

CATALOG_PAGE = """
query CatalogPage($first: Int!) {
  products(first: $first) {
    edges { node {
      id name slug
      seller { name }
      category { name }
      variants {
        sku
        priceTiers { minQuantity unitPrice { amount currency } }
        availableQuantity
      }
    } }
  }
}
"""


async def load(url: str, first: int, clients: int, seconds: float) -> dict[str, Any]:
    """Pages served per second: an answer with errors (THROTTLED included) or another status
    than 200 is a failure, and neither counted as served nor in the latencies."""
    latencies: list[float] = []
    failures = 0
    first_problem: str | None = None
    deadline = time.perf_counter() + seconds
    payload = {"query": CATALOG_PAGE, "variables": {"first": first}}

    async def client_loop(http: httpx.AsyncClient) -> None:
        nonlocal failures, first_problem
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.post(url, json=payload)
            problem = response_problem(response)
            if problem is None:
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1
                first_problem = first_problem or problem

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        await http.post(url, json=payload)  # warm caches and the connection pool
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else float("nan"),
        "failures": failures,
        "first_problem": first_problem,
    }


# wrk checks every body too: a 200 answer carrying `errors` (THROTTLED to a legacy
# application/json client) is a failure, not a page served.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("failed") end
  io.write(string.format("failed answers: %%d\\n", total))
end
"""


def parse_wrk_ms(value: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


async def load_with_wrk(url: str, first: int, clients: int, seconds: float) -> dict[str, Any]:
    """wrk (C, one thread) leaves the CPU to the server: Python clients would compete for it."""
    body = json.dumps({"query": CATALOG_PAGE, "variables": {"first": first}})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % body)
    process = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{int(seconds)}s",
        "--latency",
        "-s",
        script.name,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await process.communicate())[0].decode()
    os.unlink(script.name)
    figures: dict[str, Any] = {"failures": 0}
    for line in output.splitlines():
        parts = line.split()
        if line.strip().startswith("50.000%") or (parts and parts[0] == "50%"):
            figures["p50_ms"] = parse_wrk_ms(parts[1])
        elif parts and parts[0] in ("99%", "99.000%"):
            figures["p99_ms"] = parse_wrk_ms(parts[1])
        elif line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif "requests in" in line:
            figures["requests"] = float(parts[0])
        elif line.startswith("failed answers:"):
            figures["failures"] = float(parts[-1])
    # wrk counts every answer; only the good ones are pages served.
    served = figures.get("requests", 0) - figures["failures"]
    if figures.get("requests"):
        figures["rps"] = figures["rps"] * served / figures["requests"]
    figures["requests"] = served
    return figures


async def in_process(database_url: str, first: int, rounds: int) -> dict[str, Any]:
    # The response cache off: this measures executing the page (bench/response_cache.py
    # measures the cache); the rate limit off: the timed rounds would drain the bucket.
    settings = Settings(
        environment="test",
        database_url=database_url,
        redis_url=None,
        response_cache_ttl_seconds=0,
        rate_limit_capacity=0,
    )
    services = build_services(settings)
    captured: list[tuple[str, Any]] = []
    capturing = False

    def capture(statement: str, arguments: tuple[Any, ...]) -> None:
        if capturing:
            captured.append((statement, arguments))

    observe_statements(services.engine, capture)

    app = create_app(settings, services)
    payload = {"query": CATALOG_PAGE, "variables": {"first": first}}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http,
    ):
        for _ in range(20):  # warm-up: parser/validation caches, prepared statements
            await http.post("/graphql", json=payload)
        capturing = True
        response = await http.post("/graphql", json=payload)
        capturing = False
        problem = response_problem(response)
        assert problem is None, problem
        fields = count_fields(response.json()["data"])
        request_times = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = await http.post("/graphql", json=payload)
            request_times.append(time.perf_counter() - started)
            problem = response_problem(response)  # a refusal is not a page: stop, say why
            assert problem is None, problem
        sql_times = []
        async with services.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            for _ in range(rounds):
                started = time.perf_counter()
                for statement, parameters in captured:
                    await driver.fetch(statement, *parameters)
                sql_times.append(time.perf_counter() - started)
    await services.engine.dispose()
    request_ms = statistics.median(request_times) * 1000
    sql_ms = statistics.median(sql_times) * 1000
    return {
        "statements": len(captured),
        "fields": fields,
        "request_ms": request_ms,
        "sql_ms": sql_ms,
        "ratio": request_ms / sql_ms,
        "limits": limits_line(settings),
    }


def count_fields(value: Any) -> int:
    if isinstance(value, dict):
        return sum(1 + count_fields(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_fields(v) for v in value)
    return 0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running gateway's /graphql (skips starting one)")
    parser.add_argument("--database-url", help="an already seeded database")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers to start")
    parser.add_argument(
        "--python-client", action="store_true", help="use httpx even when wrk is installed"
    )
    args = parser.parse_args()

    database_url, scratch = args.database_url, False
    if database_url is None and args.url is None:
        database_url, scratch = await scratch_database(args.products), True
    server = None
    try:
        url = args.url
        if url is None:
            port = free_port()
            # The rate limit off: ten clients drain one anonymous bucket in seconds, and the
            # figures would measure refusals; the response cache off: this measures execution.
            environment = {"RESPONSE_CACHE_TTL_SECONDS": "0", "RATE_LIMIT_CAPACITY": "0"}
            limits = limits_line(settings_with(environment))
            server = await asyncio.create_subprocess_exec(
                sys.executable,
                "server.py",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                cwd=ROOT,
                env={
                    **os.environ,
                    "DATABASE_URL": database_url or "",
                    "REDIS_URL": "",
                    **environment,
                },
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await wait_until_ready(f"http://127.0.0.1:{port}/readyz")
            url = f"http://127.0.0.1:{port}/graphql"
        else:
            probe = {"query": CATALOG_PAGE, "variables": {"first": args.first}}
            async with httpx.AsyncClient(timeout=30) as http:
                limits = limits_seen(await http.post(url, json=probe))
        print(f"\ncatalog page: products(first: {args.first}) with seller, category, variants,")
        print(f"tiers and stock; {args.workers} worker(s)")
        print("HTTP against", url)
        print(limits)
        print("served: answers with data and no errors; failed: any other (THROTTLED included)")
        print(
            f"{'clients':>8} {'served':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}"
        )
        measure = load_with_wrk if shutil.which("wrk") and not args.python_client else load
        print(f"load generator: {'wrk' if measure is load_with_wrk else 'httpx (Python)'}")
        for clients in (int(c) for c in args.clients.split(",")):
            row = await measure(url, args.first, clients, args.seconds)
            print(
                f"{clients:>8} {row['requests']:>9.0f} {row['rps']:>8.1f} "
                f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['failures']:>7.0f}"
            )
            if row.get("first_problem"):
                print(f"         first failure: {row['first_problem']}")
    finally:
        if server is not None:
            server.terminate()
            await asyncio.wait_for(server.wait(), 30)
    try:
        if database_url is not None:
            figures = await in_process(database_url, args.first, args.rounds)
            print("\nin-process, one request at a time (median of", args.rounds, "rounds):")
            print(f"  {figures['limits']}")
            print(f"  SQL statements per request: {figures['statements']:.0f}")
            print(f"  fields in the answer:       {figures['fields']:.0f}")
            print(f"  GraphQL request:            {figures['request_ms']:.2f} ms")
            print(f"  its SQL alone:              {figures['sql_ms']:.2f} ms")
            print(f"  ratio request / SQL:        {figures['ratio']:.2f}")
    finally:
        if scratch and database_url is not None:
            await drop_database(database_url)


if __name__ == "__main__":
    asyncio.run(main())
