"""Several gateway processes act as one: an order changed through one replica reaches the
subscribers of every replica, promptly and once, even when the replica that made the change is
killed before it could publish.

Real processes (`server.py serve`) on free ports, sharing the test run's database and Redis key
prefix; subscribers speak graphql-transport-ws over real sockets (the `websockets` client).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from resolvers.context import Services
from settings import Settings
from tests.api.test_orders import move
from tests.api.test_subscriptions import ORDER_EVENTS, place_order
from tests.realtime.test_broadcast import _free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0  # three interpreters importing the app at once on a busy machine
WAIT = 5.0  # upper bound for anything that should take well under a second


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL: a crash, nothing gets to run on the way out."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.kill()


def replica_environment(settings: Settings) -> dict[str, str]:
    """The test run's database, Redis and key prefix, and the same token settings, so a token
    issued by any replica (or by the in-process app) is accepted by every other."""
    assert settings.database_url and settings.redis_url
    environment = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the outer environment may point a replica elsewhere.
        if not key.startswith(("DATABASE_", "REDIS_", "JWT_", "ENVIRONMENT"))
    }
    environment.update(
        ENVIRONMENT=settings.environment,
        DATABASE_URL=settings.database_url,  # postgresql+asyncpg:// is accepted as it is
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        JWT_SECRET=settings.jwt_secret,
        JWT_ALGORITHM=settings.jwt_algorithm,
        JWT_ISSUER=settings.jwt_issuer,
        JWT_AUDIENCE=settings.jwt_audience,
        ACCESS_TOKEN_TTL_SECONDS=str(settings.access_token_ttl_seconds),
        MAX_BODY_BYTES=str(settings.max_body_bytes),
        PYTHONUNBUFFERED="1",
    )
    for variable, path in (
        ("JWT_PRIVATE_KEY_FILE", settings.jwt_private_key_file),
        ("JWT_PUBLIC_KEY_FILE", settings.jwt_public_key_file),
    ):
        if path is not None:
            environment[variable] = str(path)
    return environment


def launch(name: str, settings: Settings, logs: Path) -> Replica:
    port = _free_port()
    log = logs / f"replica-{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "server.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=replica_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, port, process, log)


def wait_until_ready(replicas: list[Replica]) -> None:
    """Every replica answers /readyz with 200 and a connected broker, or the test fails."""
    deadline = time.monotonic() + STARTUP_SECONDS
    waiting = list(replicas)
    with httpx.Client(timeout=2) as http:
        while waiting:
            replica = waiting[0]
            if replica.process.poll() is not None:
                pytest.fail(f"replica {replica.name} exited at start-up:\n{replica.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"replica {replica.name} is not ready:\n{replica.log_tail()}")
            with suppress(httpx.TransportError):
                response = http.get(f"{replica.http_url}/readyz")
                if response.status_code == 200 and response.json().get("broker") == "ok":
                    waiting.pop(0)
                    continue
            time.sleep(0.05)


@dataclass
class Cluster:
    a: Replica
    b: Replica
    # Killed by the crash test; started with the others, as start-up is most of the time.
    doomed: Replica


@pytest.fixture(scope="module")
def cluster(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three replicas, started at once for the module and always stopped."""
    logs = tmp_path_factory.mktemp("replicas")
    started: list[Replica] = []
    try:
        for name in "ABC":
            started.append(launch(name, settings, logs))
        wait_until_ready(started)
        yield Cluster(*started)
    finally:
        for replica in started:
            replica.stop()


@asynccontextmanager
async def replica_client(replica: Replica) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=replica.http_url, timeout=WAIT) as http:
        yield http


async def receive(ws: ClientConnection, within: float = WAIT) -> dict[str, Any]:
    """The next graphql-transport-ws message other than a keep-alive ping."""
    async with asyncio.timeout(within):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] != "pong":
                return message


async def next_event(ws: ClientConnection, within: float = WAIT) -> dict[str, Any]:
    message = await receive(ws, within)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["orderStatusChanged"]
    return event


async def nothing_more(ws: ClientConnection, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        await receive(ws, seconds)


@asynccontextmanager
async def subscriber(
    replica: Replica, token: str, variables: dict[str, Any]
) -> AsyncIterator[ClientConnection]:
    """A socket on `replica` following orderStatusChanged(variables) as the token's viewer."""
    async with connect(
        replica.ws_url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        open_timeout=WAIT,
        close_timeout=1,
        ping_interval=None,
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert (await receive(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "1",
                    "payload": {"query": ORDER_EVENTS, "variables": variables},
                }
            )
        )
        yield ws


async def move_and_receive(
    http: httpx.AsyncClient, who: Any, order: str, status: str, sockets: list[ClientConnection]
) -> list[dict[str, Any]]:
    """Change the order's status and return each socket's next event."""
    waiting = [asyncio.create_task(next_event(ws)) for ws in sockets]
    try:
        payload = await move(http, who, order, status)
        assert payload["userErrors"] == [], payload
        return list(await asyncio.gather(*waiting))
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)


async def test_a_change_made_on_one_replica_reaches_subscribers_on_every_replica(
    cluster: Cluster, services: Services
) -> None:
    a, b = cluster.a, cluster.b
    async with replica_client(b) as http_b, replica_client(a) as http_a:
        # Accounts and the order are made through B; A has never seen any of it.
        seller, buyer, order = await place_order(http_b, services)
        async with (
            subscriber(a, buyer.token, {"orderId": order, "since": "0"}) as buyer_on_a,
            subscriber(b, buyer.token, {"orderId": order, "since": "0"}) as buyer_on_b,
        ):
            # `since: "0"` replays PLACED: once it is here, the subscription is live.
            placed = [await next_event(buyer_on_a), await next_event(buyer_on_b)]
            assert [e["status"] for e in placed] == ["PLACED", "PLACED"]
            placed_id = int(placed[0]["eventId"])
            # The seller's company-wide stream on A, live from just before PLACED.
            async with subscriber(a, seller.token, {"since": str(placed_id - 1)}) as seller_on_a:
                assert (await next_event(seller_on_a))["eventId"] == str(placed_id)
                sockets = [buyer_on_a, seller_on_a, buyer_on_b]

                confirmed = await move_and_receive(http_b, seller, order, "CONFIRMED", sockets)
                shipped = await move_and_receive(http_a, seller, order, "SHIPPED", sockets)

                for ws in sockets:
                    await nothing_more(ws, 0.3)

    for events, status, previous in (
        (confirmed, "CONFIRMED", "PLACED"),
        (shipped, "SHIPPED", "CONFIRMED"),
    ):
        assert {(e["status"], e["previousStatus"], e["order"]["status"]) for e in events} == {
            (status, previous, status)
        }
        assert {e["order"]["id"] for e in events} == {order}
        assert len({e["eventId"] for e in events}) == 1, "one event, one number, everywhere"
    assert placed_id < int(confirmed[0]["eventId"]) < int(shipped[0]["eventId"])


async def test_a_replica_killed_right_after_a_commit_loses_no_event(
    cluster: Cluster, services: Services
) -> None:
    """Replica C commits a status change and is SIGKILLed as soon as it answers, maybe before
    its relay published: a surviving replica's relay sweep sends the event, so the subscriber
    on A gets it, once."""
    a, doomed = cluster.a, cluster.doomed
    async with replica_client(doomed) as http_c:
        seller, buyer, order = await place_order(http_c, services)
        async with subscriber(a, buyer.token, {"orderId": order, "since": "0"}) as ws:
            assert (await next_event(ws))["status"] == "PLACED"
            payload = await move(http_c, seller, order, "CONFIRMED")
            doomed.kill()
            assert payload["userErrors"] == [], payload
            # Relay sweeps run every second: well within WAIT either way.
            event = await next_event(ws, WAIT)
            assert (event["previousStatus"], event["status"]) == ("PLACED", "CONFIRMED")
            await nothing_more(ws, 0.5)
    assert doomed.process.returncode == -signal.SIGKILL
