"""Does a large document hold up other requests? While a ~0.9 MB document (a long comment, or
a long string literal) is parsed, a `{ __typename }` request arrives every 5 ms on the same
event loop; their latencies (from arrival to answer) are what any other client would wait.

    .venv/bin/python bench/large_document.py [--rounds 5] [--size 900000]
    .venv/bin/python bench/large_document.py --parse-on-loop   # as before: parse in the loop

    .venv/bin/python bench/large_document.py --response-cache on   # only the default settings

In process (httpx over ASGI, one event loop, as one uvicorn worker). No database is read:
`{ __typename }` and the large documents' answers (checked) need none. The rate limit is off;
each table is measured with the response cache as configured by default (on: it sees every
anonymous request first) and off. The limits are the defaults (MAX_BODY_BYTES 1 MB,
MAX_TOKENS 5000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import schema as schema_module  # noqa: E402
from server import build_services, create_app  # noqa: E402
from settings import Settings  # noqa: E402

SMALL = {"query": "{ __typename }"}
SMALL_ANSWER = {"data": {"__typename": "Query"}}


def large_documents(size: int, round_: int) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each kind of large document (new text every round: the parser cache must miss), with
    the answer it must get."""
    filler = f"{round_}-{uuid.uuid4().hex}-".ljust(size, "x")
    return {
        "comment": (
            {"query": f"# {filler}\n{{ __typename }}"},
            {"data": {"__typename": "Query"}},
        ),
        "string literal": (
            {"query": f'{{ __typename t: __type(name: "{filler}") {{ name }} }}'},
            {"data": {"__typename": "Query", "t": None}},
        ),
    }


def check(response: httpx.Response, expected: dict[str, Any]) -> None:
    body = response.json()
    body.pop("extensions", None)
    if response.status_code != 200 or body != expected:
        raise SystemExit(f"unexpected answer {response.status_code}: {str(body)[:300]}")


# A small request arrives every 5 ms. In process nothing suspends a request that needs no I/O,
# so its latency is counted from when it arrived (was due), not from when the loop got to it:
# the time a client arriving then would wait.
ARRIVAL_INTERVAL = 0.005


async def one_round(
    http: httpx.AsyncClient, payload: dict[str, Any], expected: dict[str, Any]
) -> tuple[float, list[float]]:
    """The large request's seconds, and the latency of each small request that arrived
    meanwhile."""
    large_done = asyncio.Event()
    latencies: list[float] = []

    async def small() -> None:
        due = time.perf_counter()
        while not large_done.is_set():
            due += ARRIVAL_INTERVAL
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            check(await http.post("/graphql", json=SMALL), SMALL_ANSWER)
            latencies.append(time.perf_counter() - due)
            due = max(due, time.perf_counter() - ARRIVAL_INTERVAL)  # no backlog burst

    smalls = asyncio.create_task(small())
    await asyncio.sleep(0.05)
    latencies.clear()  # only those overlapping the large request
    started = time.perf_counter()
    try:
        check(await http.post("/graphql", json=payload), expected)
    finally:
        took = time.perf_counter() - started
        large_done.set()
        await smalls
    return took, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=900_000, help="characters of filler")
    parser.add_argument(
        "--parse-on-loop",
        action="store_true",
        help="parse every document on the event loop (the behaviour before the fix)",
    )
    parser.add_argument(
        "--response-cache",
        choices=["on", "off", "both"],
        default="both",
        help="measure with the response cache as by default (on), off, or both (default)",
    )
    args = parser.parse_args()
    if args.parse_on_loop:
        schema_module.PARSE_OFF_LOOP_ABOVE_CHARS = sys.maxsize

    caches = {"on": [True], "off": [False], "both": [True, False]}[args.response_cache]
    for cache_on in caches:
        await measure(args, cache_on=cache_on)


async def measure(args: argparse.Namespace, *, cache_on: bool) -> None:
    """One table: a small request alone, then beside each kind of large document."""
    settings = Settings(
        environment="test",
        database_url=os.environ.get(
            "DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
        redis_url=None,
        rate_limit_capacity=0,
    )
    if not cache_on:
        settings = settings.model_copy(update={"response_cache_ttl_seconds": 0})
    services = build_services(settings)
    app = create_app(settings, services)
    mode = "on the event loop" if args.parse_on_loop else "off the event loop when large"
    cache = (
        f"response cache on (TTL {settings.response_cache_ttl_seconds} s, the default)"
        if cache_on
        else "response cache off"
    )
    print(
        f"\nparsing {mode} (above {schema_module.PARSE_OFF_LOOP_ABOVE_CHARS} characters); "
        f"rate limit off, {cache}, MAX_BODY_BYTES {settings.max_body_bytes}, "
        f"MAX_TOKENS {settings.max_tokens}; {args.rounds} rounds of {args.size} characters"
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as http:
            alone = []
            for _ in range(50):
                started = time.perf_counter()
                check(await http.post("/graphql", json=SMALL), SMALL_ANSWER)
                alone.append(time.perf_counter() - started)
            print(f"{{ __typename }} alone: median {statistics.median(alone) * 1000:.1f} ms")
            print(
                f"{'large document':<16} {'its ms (median)':>16} {'small: worst ms':>16} "
                f"{'small: median ms':>17} {'small answered':>15}"
            )
            for kind in ("comment", "string literal"):
                # A round not counted: first-use costs (imports, the thread pool) are not parsing.
                await one_round(http, *large_documents(args.size, -1)[kind])
                took, worst, medians, counts = [], [], [], []
                for round_ in range(args.rounds):
                    payload, expected = large_documents(args.size, round_)[kind]
                    seconds, latencies = await one_round(http, payload, expected)
                    took.append(seconds)
                    worst.append(max(latencies))
                    medians.append(statistics.median(latencies))
                    counts.append(len(latencies))
                print(
                    f"{kind:<16} {statistics.median(took) * 1000:>16.0f} "
                    f"{max(worst) * 1000:>16.0f} {statistics.median(medians) * 1000:>17.1f} "
                    f"{sum(counts):>15}"
                )
    finally:
        await services.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
