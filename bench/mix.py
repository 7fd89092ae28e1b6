"""Mixed-workload benchmark: a fixed mix of realistic operations against a real gateway.

For each worker count in --workers it starts `server.py serve --workers N` (REDIS_URL set, so
several workers work; RATE_LIMIT_CAPACITY=0, so it measures throughput, not throttling) twice:

- plain:     RESPONSE_CACHE_TTL_SECONDS=0, clients send full documents;
- cache+APQ: RESPONSE_CACHE_TTL_SECONDS=30, clients send only the sha256 hash (Apollo APQ,
             `extensions.persistedQuery {version: 1, sha256Hash}`; on PERSISTED_QUERY_NOT_FOUND
             they resend with the document, which registers it, as Apollo Client does).

The mix (fixed weights, a seeded random choice per request):

    catalog page    35%  anonymous products(first: 20, after: one of 5 page cursors) with seller,
                         variants, tiers, stock, priceRange
    search          20%  anonymous products(filter: {query: "bolt" | "tape" | "glove"})
    product detail  20%  anonymous product(slug:) over 100 slugs, variants/tiers/stock
    cart            15%  signed-in buyer: cart { lines ... subtotal }
    order detail    10%  signed-in buyer: order(id:) with lines, history, parties

Before the load, through the API: the demo buyers (db/seed.py DEMO_LOGINS) log in, add two
lines (two sellers) to their cart, check out once (their orders) and fill the cart again.

The load runs in a separate process (Python asyncio + httpx, --concurrency clients over one
connection pool): --warmup seconds, then --duration seconds measured. Per configuration it
prints requests/s, latency p50/p95/p99, SQL statements per request (the server's own
`graphql_sql_statements_per_request` histogram from /metrics: the growth of its sum over the
measured window divided by the requests answered in it, so a response-cache hit counts as 0
statements), server CPU seconds per 1 000 requests (user+system of the server process and all
its children, psutil, over the measured window), the share of X-Cache hits, and the error
count (a non-200 answer, or one with `errors` (THROTTLED included) or `userErrors`: must be 0;
a failed answer is never counted among the requests served), and the limits each server ran with.

    .venv/bin/python bench/mix.py [--duration 15] [--warmup 3] [--concurrency 16]
        [--workers 1,2] [--products 2000] [--redis-url redis://127.0.0.1:6379/0]

It creates a scratch database on the local PostgreSQL (DATABASE_URL's server, else
127.0.0.1:5432), seeds it and always drops it, stops every server it started and deletes its
Redis keys (a unique prefix per configuration), also on Ctrl-C or SIGTERM. Traffic goes to
127.0.0.1 only. The load generator shares the machine's cores with the server: on a small
machine its own CPU (printed as "client CPU") limits what a 2-worker server can show.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkout import ADD, ADDRESS, CHECKOUT, ORDER, call, stocked_variants  # noqa: E402
from bench.harness import (  # noqa: E402
    gateway,
    percentile,
    response_problem,
    scratch_database,
)
from db.databases import drop_database  # noqa: E402
from db.seed import COMPANIES, DEMO_PASSWORD  # noqa: E402
from gateway.persisted import document_hash  # noqa: E402

MONEY = "{ amount currency }"
CATALOG = f"""query CatalogPage($after: String) {{
  products(first: 20, after: $after) {{
    edges {{ node {{
      id name slug
      seller {{ name }}
      variants {{ sku priceTiers {{ minQuantity unitPrice {MONEY} }} availableQuantity }}
      priceRange {{ min {MONEY} max {MONEY} }}
    }} }}
    pageInfo {{ endCursor hasNextPage }}
  }}
}}"""
SEARCH = f"""query Search($query: String!) {{
  products(first: 20, filter: {{query: $query}}) {{
    edges {{ node {{ id name slug seller {{ name }} priceRange {{ min {MONEY} max {MONEY} }} }} }}
    totalCount
  }}
}}"""
DETAIL = f"""query ProductDetail($slug: String!) {{
  product(slug: $slug) {{
    id name description
    seller {{ name }} category {{ name }}
    variants {{
      id sku name minimumOrderQuantity orderIncrement
      priceTiers {{ minQuantity unitPrice {MONEY} }}
      availableQuantity
    }}
    priceRange {{ min {MONEY} max {MONEY} }}
  }}
}}"""
CART = f"""query Cart {{
  cart {{
    id
    lines {{ id quantity variant {{ sku name }} unitPrice {MONEY} lineTotal {MONEY} }}
    subtotal {MONEY}
  }}
}}"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken } }"""

WEIGHTS = {"catalog": 35, "search": 20, "detail": 20, "cart": 15, "order": 10}
DOCUMENTS = {"catalog": CATALOG, "search": SEARCH, "detail": DETAIL, "cart": CART, "order": ORDER}
SEARCH_TERMS = ("bolt", "tape", "glove")
CATALOG_PAGES = 5
METRIC = "graphql_sql_statements_per_request"


@dataclass
class Fixtures:
    """What the clients pick their variables from (all gathered through the API)."""

    cursors: list[str | None]
    slugs: list[str]
    buyers: list[tuple[str, list[str]]]  # (access token, that buyer's order ids)


@dataclass
class Row:
    label: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    statements: float | None = None
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    hits: int = 0


# --- preparing accounts, cart and orders ------------------------------------------------------


def demo_buyers() -> list[tuple[str, str]]:
    """(email, currency) of the first user of every buying company that is not also a seller."""
    return [
        (company.users[0][0], company.currency)
        for company in COMPANIES
        if company.is_buyer and not company.is_seller
    ]


async def anonymous(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]


async def prepare(http: httpx.AsyncClient, database_url: str, first_run: bool) -> Fixtures:
    cursors: list[str | None] = [None]
    slugs: list[str] = []
    for _ in range(CATALOG_PAGES):
        page = (await anonymous(http, CATALOG, {"after": cursors[-1]}))["products"]
        slugs += [edge["node"]["slug"] for edge in page["edges"]]
        cursors.append(page["pageInfo"]["endCursor"])
    cursors = cursors[:CATALOG_PAGES]
    buyers = []
    for email, currency in demo_buyers():
        login = await anonymous(http, LOGIN, {"email": email, "password": DEMO_PASSWORD})
        buyers.append((login["login"]["accessToken"], currency))
    if first_run:
        engine = create_async_engine(database_url, poolclass=NullPool)
        groups = await stocked_variants(engine, sellers=2, per_seller=len(buyers) * 2)
        await engine.dispose()
        assert len(groups) == 2, "the seed has too few well-stocked sellers"
        for index, (token, currency) in enumerate(buyers):
            for round_ in range(2):  # checked out, then a cart that stays
                for group in groups:
                    variant, moq = group[index * 2 + round_]
                    added = await call(http, ADD, {"v": variant, "q": moq}, token)
                    assert not added["addToCart"]["userErrors"], added
                if round_ == 0:
                    checkout_input = {
                        "shippingAddress": ADDRESS,
                        "currency": currency,
                        "idempotencyKey": uuid.uuid4().hex,
                    }
                    done = await call(http, CHECKOUT, {"input": checkout_input}, token)
                    assert not done["checkout"]["userErrors"], done
    orders_query = "{ orders(first: 20) { edges { node { id } } } }"
    prepared = []
    for token, _currency in buyers:
        edges = (await call(http, orders_query, {}, token))["orders"]["edges"]
        assert edges, "a demo buyer has no order"
        prepared.append((token, [edge["node"]["id"] for edge in edges]))
    return Fixtures(cursors=cursors, slugs=slugs, buyers=prepared)


# --- the load generator (a separate process) --------------------------------------------------


def choose(rng: random.Random, fixtures: Fixtures) -> tuple[str, dict[str, Any], str | None]:
    kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    if kind == "catalog":
        return kind, {"after": rng.choice(fixtures.cursors)}, None
    if kind == "search":
        return kind, {"query": rng.choice(SEARCH_TERMS)}, None
    if kind == "detail":
        return kind, {"slug": rng.choice(fixtures.slugs)}, None
    token, orders = rng.choice(fixtures.buyers)
    if kind == "cart":
        return kind, {}, token
    return kind, {"id": rng.choice(orders)}, token


async def generate(
    url: str,
    fixtures: Fixtures,
    apq: bool,
    concurrency: int,
    start_at: float,
    end_at: float,
) -> dict[str, Any]:
    hashes = {kind: document_hash(document) for kind, document in DOCUMENTS.items()}
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {kind: [] for kind in WEIGHTS}
    errors: list[str] = []
    measured_errors = 0
    hits = 0

    async def request(
        http: httpx.AsyncClient, kind: str, variables: dict[str, Any], token: str | None
    ) -> str | None:
        """One operation (two HTTP requests when an APQ hash is not known yet); a problem."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload: dict[str, Any] = {"variables": variables}
        if apq:
            persisted = {"version": 1, "sha256Hash": hashes[kind]}
            payload["extensions"] = {"persistedQuery": persisted}
        else:
            payload["query"] = DOCUMENTS[kind]
        response = await http.post(url, json=payload, headers=headers)
        body = response.json() if response.status_code == 200 else {}
        codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or ()]
        if apq and codes == ["PERSISTED_QUERY_NOT_FOUND"]:
            payload["query"] = DOCUMENTS[kind]
            response = await http.post(url, json=payload, headers=headers)
            body = response.json() if response.status_code == 200 else {}
        nonlocal hits
        if (
            response.headers.get("x-cache", "").lower().startswith("hit")
            and time.time() >= start_at
        ):
            hits += 1
        problem = response_problem(response)  # THROTTLED and userErrors included
        return f"{kind}: {problem}" if problem else None

    async def client(http: httpx.AsyncClient, number: int) -> None:
        nonlocal measured_errors
        rng = random.Random(number)
        while (now := time.time()) < end_at:
            kind, variables, token = choose(rng, fixtures)
            started = time.perf_counter()
            try:
                problem = await request(http, kind, variables, token)
            except httpx.HTTPError as error:
                problem = f"{kind}: {type(error).__name__} {error}"
            elapsed = time.perf_counter() - started
            if now >= start_at:  # started inside the measured window
                if problem:  # a failure is not a request served: not in the figures
                    measured_errors += 1
                else:
                    latencies.append(elapsed)
                    by_kind[kind].append(elapsed)
            if problem and len(errors) < 5:
                errors.append(problem)

    cpu: list[float] = []

    async def sample_cpu() -> None:  # this process's CPU over the measured window
        for moment in (start_at, end_at):
            await asyncio.sleep(max(0.0, moment - time.time()))
            cpu.append(sum(os.times()[:2]))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        await asyncio.gather(sample_cpu(), *(client(http, number) for number in range(concurrency)))
    return {
        "latencies": latencies,
        "by_kind": by_kind,
        "errors": measured_errors,
        "first_errors": errors,
        "hits": hits,
        "cpu": cpu[1] - cpu[0],
    }


def load_process(*arguments: Any) -> dict[str, Any]:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the run (its window ends)
    return asyncio.run(generate(*arguments))


# --- one configuration ------------------------------------------------------------------------


def server_cpu_seconds(pid: int) -> float:
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = each.cpu_times()
            total += times.user + times.system
    return total


async def statements_total(http: httpx.AsyncClient) -> float | None:
    response = await http.get("/metrics")
    if response.status_code != 200:
        return None
    match = re.search(rf"^{METRIC}_sum(?:{{[^}}]*}})? (\S+)$", response.text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def run_configuration(
    args: argparse.Namespace,
    database_url: str,
    redis_url: str,
    workers: int,
    cached: bool,
    first_run: bool,
    pool: concurrent.futures.ProcessPoolExecutor,
) -> Row:
    label = f"{workers} worker{'s' if workers > 1 else ''}, {'cache+APQ' if cached else 'plain'}"
    prefix = f"bench:mix:{uuid.uuid4().hex[:8]}:"
    metrics_directory = tempfile.mkdtemp(prefix="mix-metrics-")
    log = Path(tempfile.gettempdir()) / f"mix-gateway-{workers}-{int(cached)}.log"
    environment = {
        "REDIS_KEY_PREFIX": prefix,
        "RESPONSE_CACHE_TTL_SECONDS": "30" if cached else "0",
        "RATE_LIMIT_CAPACITY": "0",
        "PROMETHEUS_MULTIPROC_DIR": metrics_directory,
    }
    try:
        async with (
            gateway(
                database_url,
                redis_url,
                log,
                workers=workers,
                environment=environment,
                ready_within=90,
            ) as (server, port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
        ):
            fixtures = await prepare(http, database_url, first_run)
            start_at = time.time() + 1.0 + args.warmup  # 1 s for the load process to start
            end_at = start_at + args.duration
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(
                pool,
                load_process,
                f"http://127.0.0.1:{port}/graphql",
                fixtures,
                cached,
                args.concurrency,
                start_at,
                end_at,
            )
            # Stopped early, the pool is broken on purpose: nothing to report then.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            await asyncio.sleep(max(0.0, start_at - time.time()))
            cpu_before = server_cpu_seconds(server.pid)
            statements_before = await statements_total(http)
            await asyncio.sleep(max(0.0, end_at - time.time()))
            cpu_after = server_cpu_seconds(server.pid)
            statements_after = await statements_total(http)
            result = await future
    finally:
        await delete_keys(redis_url, prefix)
        shutil.rmtree(metrics_directory, ignore_errors=True)
    row = Row(label=label, seconds=args.duration)
    row.latencies = result["latencies"]
    row.by_kind = result["by_kind"]
    row.requests = len(row.latencies)
    row.errors = result["errors"]
    row.first_errors = result["first_errors"]
    row.hits = result["hits"]
    row.client_cpu = result["cpu"]
    row.server_cpu = cpu_after - cpu_before
    if statements_before is not None and statements_after is not None and row.requests:
        row.statements = (statements_after - statements_before) / row.requests
    return row


async def delete_keys(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def report(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"\nmix {', '.join(f'{k} {v}%' for k, v in WEIGHTS.items())}; "
        f"{args.concurrency} clients, {args.warmup:g} s warm-up + {args.duration:g} s measured"
    )
    print(
        f"{'configuration':<24} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'SQL/req':>8} {'CPU s/1k':>9} {'hits':>5} {'errors':>6} {'client CPU':>11}"
    )
    for row in rows:
        rate = row.requests / row.seconds
        statements = f"{row.statements:8.2f}" if row.statements is not None else "       -"
        per_thousand = row.server_cpu / row.requests * 1000 if row.requests else 0.0
        share = f"{row.hits / row.requests:.0%}" if row.requests else "-"
        print(
            f"{row.label:<24} {rate:>8.1f} "
            f"{percentile(row.latencies, 0.50) * 1000:>7.1f} "
            f"{percentile(row.latencies, 0.95) * 1000:>7.1f} "
            f"{percentile(row.latencies, 0.99) * 1000:>7.1f} "
            f"{statements} {per_thousand:>9.2f} {share:>5} {row.errors:>6} "
            f"{row.client_cpu:>9.1f} s"
        )
        for problem in row.first_errors:
            print(f"    error: {problem}")
    print("\np50 latency (ms) by operation")
    print(f"{'configuration':<24} " + " ".join(f"{kind:>8}" for kind in WEIGHTS))
    for row in rows:
        medians = [
            f"{percentile(row.by_kind[kind], 0.5) * 1000:>8.1f}"
            if row.by_kind[kind]
            else "       -"
            for kind in WEIGHTS
        ]
        print(f"{row.label:<24} " + " ".join(medians))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before measuring")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--redis-url", help="default: REDIS_URL, else redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    redis_url = args.redis_url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    database_url = await scratch_database(args.products)
    rows: list[Row] = []
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    )
    try:
        pool.submit(int).result()  # start the load process now: its imports take seconds
        first_run = True
        for workers in (int(part) for part in args.workers.split(",")):
            for cached in (False, True):
                row = await run_configuration(
                    args, database_url, redis_url, workers, cached, first_run, pool
                )
                first_run = False
                rows.append(row)
                print(f"  {row.label}: {row.requests} requests, {row.errors} errors", flush=True)
    finally:
        # Stopped early: the load process would otherwise run to the end of its window.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        await drop_database(database_url)
    report(rows, args)
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("stopped early; servers stopped, the scratch database dropped")
        sys.exit(1)
