"""Subscription fan-out benchmark: one order status change delivered to N WebSocket subscribers.

For each N in --subscribers it starts one gateway process (`server.py serve`, 1 worker) on a
scratch database this script creates, seeds and drops (bench/catalog_page.py's helpers), and,
from this process, which is the client:

1. places an order over HTTP (a new seller with one product, a new buyer, checkout);
2. opens N WebSockets (graphql-transport-ws, the buyer's token in connection_init), each
   following `orderStatusChanged(orderId: <the order>)` with
   `eventId status previousStatus order { id number status }`; with --split every other one
   follows the buyer's whole company stream instead (orderId null);
3. moves the order PLACED -> CONFIRMED as a warm-up and waits until every subscriber got it,
   so every subscription is known to be live (subscribers pass `since` = the PLACED eventId,
   so one that joins late still gets CONFIRMED, by replay);
4. moves it CONFIRMED -> SHIPPED once and measures, per subscriber, the time from the
   mutation's response (and from sending it) to receiving the event.

It prints, per N: latency p50/p99/max, how many received the event, how long connecting took,
and the server's resident memory before any WebSocket and with all N live (KiB a connection).
Latencies include this client's own time to read N frames: the client shares the machine's
cores with the server.

    .venv/bin/python bench/subscription_fanout.py [--subscribers 1000,5000] [--split]
        [--redis-url redis://127.0.0.1:6379/0 | --no-redis] [--no-compression] [--budget 180]

Traffic goes to 127.0.0.1 only. Redis: --redis-url, else REDIS_URL, else a local Redis on
127.0.0.1:6379 when one answers (a unique key prefix per run), else in-process pub/sub. The
open-files limit is raised to what N needs (the server inherits it). --budget bounds each N's
run in seconds; the script always stops the server and drops its database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkout import ADD, ADDRESS, CHECKOUT, REGISTER, buyer_token, call  # noqa: E402
from bench.harness import gateway, percentile, scratch_database  # noqa: E402
from db.databases import drop_database  # noqa: E402

FOLLOW = """
subscription Follow($orderId: ID, $since: String) {
  orderStatusChanged(orderId: $orderId, since: $since) {
    eventId status previousStatus order { id number status }
  }
}
"""
MOVE = """mutation($id: ID!, $status: OrderStatus!) { updateOrderStatus(id: $id, status: $status) {
  order { status } userErrors { code message } } }"""
CATEGORIES = "{ categories { id } }"
CREATE_PRODUCT = """mutation($input: CreateProductInput!) { createProduct(input: $input) {
  product { variants { id } } userErrors { code message } } }"""
PROTOCOL = Subprotocol("graphql-transport-ws")
CONNECTING_AT_ONCE = 200  # handshakes in flight: well under uvicorn's accept backlog (2048)


# --- the order --------------------------------------------------------------------------------


@dataclass
class PlacedOrder:
    order_id: str
    seller_token: str
    buyer_token: str


async def seller_token(http: httpx.AsyncClient) -> str:
    suffix = uuid.uuid4().hex[:10]
    registration = {
        "email": f"bench-seller-{suffix}@example.com",
        "password": "bench-password-123",
        "name": "Bench Seller",
        "companyName": f"Bench Seller {suffix}",
        "country": "DE",
        "defaultCurrency": "EUR",
        "isSeller": True,
        "isBuyer": False,
    }
    response = await http.post(
        "/graphql", json={"query": REGISTER, "variables": {"input": registration}}
    )
    token: str = response.json()["data"]["register"]["accessToken"]
    return token


async def place_order(http: httpx.AsyncClient) -> PlacedOrder:
    seller, buyer = await seller_token(http), await buyer_token(http)
    category = (await call(http, CATEGORIES, {}, seller))["categories"][0]["id"]
    product = {
        "name": "Fan-out bench bolt",
        "description": "",
        "categoryId": category,
        "status": "ACTIVE",
        "variants": [
            {
                "sku": f"FAN-{uuid.uuid4().hex[:10]}",
                "name": "Standard",
                "currency": "EUR",
                "priceTiers": [{"minQuantity": 1, "unitPrice": "1.00"}],
                "stock": 1000,
            }
        ],
    }
    created = (await call(http, CREATE_PRODUCT, {"input": product}, seller))["createProduct"]
    assert not created["userErrors"], created
    variant = created["product"]["variants"][0]["id"]
    added = await call(http, ADD, {"v": variant, "q": 1}, buyer)
    assert not added["addToCart"]["userErrors"], added
    checkout_input = {
        "shippingAddress": ADDRESS,
        "currency": "EUR",
        "idempotencyKey": uuid.uuid4().hex,
    }
    placed = (await call(http, CHECKOUT, {"input": checkout_input}, buyer))["checkout"]
    assert not placed["userErrors"], placed
    return PlacedOrder(placed["orders"][0]["id"], seller, buyer)


async def move(http: httpx.AsyncClient, placed: PlacedOrder, status: str) -> None:
    data = await call(http, MOVE, {"id": placed.order_id, "status": status}, placed.seller_token)
    assert not data["updateOrderStatus"]["userErrors"], data


# --- subscribers ------------------------------------------------------------------------------


@dataclass
class Subscriber:
    ws: ClientConnection
    # status -> when (perf_counter) its event arrived
    arrivals: dict[str, float] = field(default_factory=dict)
    problem: str | None = None
    reader: asyncio.Task[None] | None = None


class Fanout:
    """The subscribers, and a count per status of how many have received its event."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.subscribers: list[Subscriber] = []
        self.received: dict[str, int] = {}
        self.everyone: dict[str, asyncio.Event] = {}

    def arrived(self, subscriber: Subscriber, status: str, at: float) -> None:
        if status in subscriber.arrivals:
            subscriber.problem = f"{status} twice"
            return
        subscriber.arrivals[status] = at
        self.received[status] = self.received.get(status, 0) + 1
        if self.received[status] >= self.expected:
            self.everyone.setdefault(status, asyncio.Event()).set()

    async def all_received(self, status: str, within: float) -> bool:
        done = self.everyone.setdefault(status, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await done.wait()
        return done.is_set()

    async def read(self, subscriber: Subscriber) -> None:
        try:
            async for frame in subscriber.ws:
                at = time.perf_counter()
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "ping":
                    await subscriber.ws.send('{"type":"pong"}')
                elif kind == "next" and not message["payload"].get("errors"):
                    event = message["payload"]["data"]["orderStatusChanged"]
                    self.arrived(subscriber, event["status"], at)
                elif kind != "pong":
                    subscriber.problem = f"unexpected {str(message)[:200]}"
        except ConnectionClosed as closed:
            subscriber.problem = subscriber.problem or f"closed {closed.rcvd}"


async def open_subscriber(
    url: str, token: str, variables: dict[str, Any], compression: bool
) -> ClientConnection:
    ws = await connect(
        url,
        subprotocols=[PROTOCOL],
        compression="deflate" if compression else None,
        ping_interval=None,  # the server pings; N client pingers would only add noise
        open_timeout=30,
        close_timeout=2,
    )
    try:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        async with asyncio.timeout(30):
            ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        subscribe = {"query": FOLLOW, "variables": variables}
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": subscribe}))
    except BaseException:
        await ws.close()
        raise
    return ws


async def first_event_id(url: str, placed: PlacedOrder, compression: bool) -> str:
    """The eventId of PLACED (replayed with since 0): later subscribers resume after it."""
    variables = {"orderId": placed.order_id, "since": "0"}
    ws = await open_subscriber(url, placed.buyer_token, variables, compression)
    try:
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "next":
                    event = message["payload"]["data"]["orderStatusChanged"]
                    assert event["status"] == "PLACED", event
                    event_id: str = event["eventId"]
                    return event_id
    finally:
        await ws.close()


async def connect_all(
    fanout: Fanout, url: str, placed: PlacedOrder, since: str, split: bool, compression: bool
) -> list[str]:
    """Open fanout.expected subscribers, CONNECTING_AT_ONCE at a time; returns the failures."""
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    failures: list[str] = []

    async def one(index: int) -> None:
        company_wide = split and index % 2 == 1
        variables = {"orderId": None if company_wide else placed.order_id, "since": since}
        async with gate:
            try:
                ws = await open_subscriber(url, placed.buyer_token, variables, compression)
            except Exception as error:
                failures.append(f"{type(error).__name__}: {error}")
                return
        subscriber = Subscriber(ws)
        subscriber.reader = asyncio.create_task(fanout.read(subscriber))
        fanout.subscribers.append(subscriber)

    await asyncio.gather(*(one(index) for index in range(fanout.expected)))
    return failures


async def close_all(fanout: Fanout) -> None:
    async def close(subscriber: Subscriber) -> None:
        with contextlib.suppress(Exception):
            await subscriber.ws.close()
        if subscriber.reader is not None:
            subscriber.reader.cancel()
            await asyncio.gather(subscriber.reader, return_exceptions=True)

    gate = asyncio.Semaphore(500)

    async def gated(subscriber: Subscriber) -> None:
        async with gate:
            await close(subscriber)

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.gather(*(gated(s) for s in fanout.subscribers))


# --- the server -------------------------------------------------------------------------------


def raise_open_files_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards `needed` (children inherit it); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft


def resident_bytes(pid: int) -> int:
    process = psutil.Process(pid)
    return int(process.memory_info().rss + sum(c.memory_info().rss for c in process.children(True)))


def local_redis() -> str | None:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
        return "redis://127.0.0.1:6379/0"
    return None


# --- one run ----------------------------------------------------------------------------------


@dataclass
class Figures:
    subscribers: int
    connected: int
    connect_seconds: float
    warmed: int
    received: int
    from_response: list[float]
    from_request: list[float]
    rss_before: int
    rss_after: int
    problems: list[str]


async def run(
    count: int, database_url: str, redis_url: str | None, split: bool, compression: bool
) -> Figures:
    log = Path(tempfile.gettempdir()) / f"fanout-gateway-{count}.log"
    async with (
        gateway(database_url, redis_url, log) as (server, port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        ws_url = f"ws://127.0.0.1:{port}/graphql"
        placed = await place_order(http)
        since = await first_event_id(ws_url, placed, compression)
        for _ in range(20):  # warm the parser and validation caches, and the pools
            await call(http, CATEGORIES, {}, placed.buyer_token)
        await asyncio.sleep(0.5)
        rss_before = resident_bytes(server.pid)

        fanout = Fanout(count)
        started = time.perf_counter()
        failures = await connect_all(fanout, ws_url, placed, since, split, compression)
        connect_seconds = time.perf_counter() - started
        fanout.expected = len(fanout.subscribers)
        try:
            # Warm-up: every subscriber that gets CONFIRMED is live (a late one by replay).
            await move(http, placed, "CONFIRMED")
            await fanout.all_received("CONFIRMED", within=60)
            warmed = fanout.received.get("CONFIRMED", 0)
            await asyncio.sleep(0.5)
            rss_after = resident_bytes(server.pid)

            sent = time.perf_counter()
            await move(http, placed, "SHIPPED")
            answered = time.perf_counter()
            await fanout.all_received("SHIPPED", within=30)
            await asyncio.sleep(0.2)  # a duplicate would show up now
        finally:
            await close_all(fanout)
    arrivals = [s.arrivals["SHIPPED"] for s in fanout.subscribers if "SHIPPED" in s.arrivals]
    problems = failures + [s.problem for s in fanout.subscribers if s.problem]
    return Figures(
        subscribers=count,
        connected=len(fanout.subscribers),
        connect_seconds=connect_seconds,
        warmed=warmed,
        received=len(arrivals),
        from_response=[at - answered for at in arrivals],
        from_request=[at - sent for at in arrivals],
        rss_before=rss_before,
        rss_after=rss_after,
        problems=problems,
    )


def report(figures: Figures) -> None:
    n = figures.subscribers

    def ms(samples: list[float], fraction: float) -> str:
        return f"{percentile(samples, fraction) * 1000:8.1f}" if samples else "       -"

    print(f"\n{n} subscribers")
    print(
        f"  connected {figures.connected}/{n} in {figures.connect_seconds:.1f} s; "
        f"live (got the warm-up event) {figures.warmed}"
    )
    print(f"  received the measured event: {figures.received}/{n}")
    for label, samples in (
        ("after the mutation's response", figures.from_response),
        ("after sending the mutation   ", figures.from_request),
    ):
        print(
            f"  latency {label}: p50 {ms(samples, 0.5)} ms  p99 {ms(samples, 0.99)} ms  "
            f"max {ms(samples, 1.0)} ms"
        )
    if figures.from_response:
        early = sum(1 for sample in figures.from_response if sample < 0)
        print(f"  events that arrived before the mutation's response: {early}")
    grown = figures.rss_after - figures.rss_before
    per_connection = grown / max(figures.connected, 1) / 1024
    print(
        f"  server RSS {figures.rss_before / 2**20:.1f} MiB before, "
        f"{figures.rss_after / 2**20:.1f} MiB with {figures.connected} live: "
        f"{per_connection:.1f} KiB a connection"
    )
    if figures.problems:
        distinct = statistics.multimode(figures.problems)
        print(f"  problems: {len(figures.problems)} (most common: {distinct[0]})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="1000,5000", help="comma-separated counts")
    parser.add_argument(
        "--split", action="store_true", help="every other subscriber follows the company stream"
    )
    parser.add_argument("--redis-url", help="default: REDIS_URL, else 127.0.0.1:6379 if up")
    parser.add_argument("--no-redis", action="store_true", help="in-process pub/sub")
    parser.add_argument(
        "--no-compression", action="store_true", help="do not offer permessage-deflate"
    )
    parser.add_argument("--budget", type=float, default=180, help="seconds per subscriber count")
    parser.add_argument("--products", type=int, default=20, help="demo products to seed")
    args = parser.parse_args()

    counts = [int(part) for part in args.subscribers.split(",")]
    limit = raise_open_files_limit(max(counts) + 1024)
    if limit < max(counts) + 100:
        print(f"warning: open-files limit {limit} is below {max(counts)} connections")
    redis_url = (
        None if args.no_redis else (args.redis_url or os.environ.get("REDIS_URL") or local_redis())
    )
    compression = not args.no_compression
    print(
        f"pub/sub: {redis_url or 'in-process'}; permessage-deflate "
        f"{'offered' if compression else 'off'}; "
        f"{'half order, half company stream' if args.split else 'all on one order'}; "
        f"open-files limit {limit}"
    )
    # Stopped from outside (SIGTERM, e.g. `timeout`): unwind, so the server is stopped and
    # the scratch database dropped as on a normal exit.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    database_url = await scratch_database(args.products)
    try:
        for count in counts:
            try:
                async with asyncio.timeout(args.budget):
                    figures = await run(count, database_url, redis_url, args.split, compression)
            except TimeoutError:
                print(f"\n{count} subscribers: did not finish within {args.budget:.0f} s")
                continue
            report(figures)
    finally:
        await drop_database(database_url)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("stopped early; the server is stopped and the scratch database dropped")
        sys.exit(1)
