"""The gateway: a Starlette app (`/graphql` over HTTP and WebSocket, `/healthz`, `/readyz`,
`/metrics`) and its command line: `serve`, `worker`, `migrate`, `seed`, `print-schema`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import uvicorn
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.extensions.max_aliases import create_validator as create_alias_validator
from strawberry.extensions.query_depth_limiter import create_validator

from auth.login_throttle import registration_throttle, sign_in_throttle
from auth.passwords import hash_password, use_password_hash_cost
from auth.tokens import TokenConfig
from db.engine import create_engine, session_factory
from db.seed import SeedSummary, demo_logins_table
from db.statement_log import observe_statements
from gateway.cost import CostLimit
from gateway.errors import ErrorPolicy, GatewaySchema
from gateway.graphiql import asset_routes
from gateway.headers import SecurityHeaders, UnexpectedErrorAnswer, cors
from gateway.http import GatewayView, WebSocketOperations
from gateway.introspection import introspection_extensions
from gateway.limits import (
    BodySizeLimit,
    ExecutionTimeLimit,
    FragmentExpansionLimit,
    RefuseInvalidText,
    create_root_fields_validator,
    reports_too_complex,
)
from gateway.metrics import (
    OperationMetrics,
    attribute_statements,
    metrics_endpoint,
    prepare_multiprocess_directory,
)
from gateway.persisted import PersistedQueries, persisted_query_extensions
from gateway.rate_limit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from gateway.response_cache import ResponseCache
from gateway.tracing import tracing_extensions
from jobs.worker import run_worker, running_worker
from realtime.broadcast import create_broadcast
from realtime.relay import OutboxRelay
from resolvers.context import Services
from schema import (
    SCHEMA_TYPES,
    Mutation,
    Query,
    Subscription,
    schema_config,
    schema_extensions,
)
from settings import Settings, SettingsError, get_settings

log = logging.getLogger("gateway")


def build_schema(settings: Settings, rate_limiter: RateLimiter | None = None) -> GatewaySchema:
    # One rule class for the schema's life: QueryDepthLimiter makes a new class per instance,
    # and a new class per request would defeat the validation cache, which keys on the rules.
    depth_rule = reports_too_complex(create_validator(settings.max_query_depth, should_ignore=None))
    alias_rule = reports_too_complex(create_alias_validator(settings.max_aliases))
    root_fields_rule = reports_too_complex(create_root_fields_validator(settings.max_root_fields))
    config = schema_config()
    if settings.max_batch_size > 0:
        config.batching_config = {"max_operations": settings.max_batch_size}
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=list(SCHEMA_TYPES),
        config=config,
        extensions=[
            # First: its timing covers the other extensions.
            OperationMetrics,
            *tracing_extensions(),
            # Before the validation cache: fragment bombs never reach the rules walking paths.
            FragmentExpansionLimit,
            *schema_extensions(),
            RefuseInvalidText,
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: AddValidationRules([depth_rule, alias_rule, root_fields_rule]),
            *persisted_query_extensions(settings),
            *introspection_extensions(settings.introspection_mode),
            lambda: CostLimit(settings.max_query_cost, rate_limiter),
            lambda: ExecutionTimeLimit(settings.max_execution_seconds),
            WebSocketOperations,
            ErrorPolicy,
        ],
    )


def build_services(settings: Settings, *, null_pool: bool = False) -> Services:
    if settings.database_url is None:
        raise SettingsError("DATABASE_URL is not set (serve starts an embedded PostgreSQL)")
    engine = create_engine(
        settings.database_url, pool_size=settings.db_pool_size, null_pool=null_pool
    )
    redis = (
        Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        if settings.redis_url
        else None
    )
    use_password_hash_cost(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    rate_limiter: RateLimiter | None = None
    capacity, restore_rate = settings.rate_limit_capacity, settings.rate_limit_restore_rate
    if capacity > 0 and redis is not None:
        rate_limiter = RedisRateLimiter(redis, settings.redis_key_prefix, capacity, restore_rate)
    elif capacity > 0:
        rate_limiter = InProcessRateLimiter(capacity, restore_rate)
    return Services(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        tokens=TokenConfig.from_settings(settings),
        login_throttle=sign_in_throttle(redis, settings),
        registration_throttle=registration_throttle(redis, settings),
        redis=redis,
        rate_limiter=rate_limiter,
    )


async def has_trigram_search(services: Services) -> bool:
    try:
        async with services.engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
            )
        return bool(found)
    except Exception:  # the database may still be starting: /readyz reports it
        log.warning("could not probe for pg_trgm; fuzzy name search is off", exc_info=True)
        return False


async def readiness(services: Services) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        async with services.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=2)
        checks["postgres"] = "ok"
    except Exception as error:
        checks["postgres"] = f"unavailable: {type(error).__name__}"
    if services.broadcast is not None:
        checks["broker"] = services.broadcast.status()
    if services.redis is None:
        checks["redis"] = "not configured (in-process)"
    else:
        try:
            await asyncio.wait_for(services.redis.ping(), timeout=2)
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"unavailable: {type(error).__name__}"
    return checks


@asynccontextmanager
async def running_background_work(services: Services) -> AsyncIterator[None]:
    """The broker connection, this process's outbox relay and, unless RUN_WORKER=false, a job
    worker (jobs/).

    Background work has a small pool of its own: the relay holds a connection for its advisory
    lock, and neither it nor the jobs compete with requests for connections (nor are their
    statements counted with a request's)."""
    settings = services.settings
    assert settings.database_url is not None
    broadcast = create_broadcast(
        settings.redis_url, settings.redis_key_prefix, queue_size=settings.subscriber_queue_size
    )
    await broadcast.connect()
    background_engine = create_engine(settings.database_url, pool_size=2)
    relay = OutboxRelay(background_engine, broadcast)
    services.broadcast = broadcast
    services.on_events_committed = relay.wake
    broadcast.when_reconnected(relay.broker_reconnected)
    background = replace(
        services, engine=background_engine, sessions=session_factory(background_engine)
    )
    relay.start()
    relay.wake()  # events committed while no relay ran (a crash, a restart)
    try:
        async with running_worker(background) if settings.run_worker else contextlib.nullcontext():
            yield
    finally:
        services.on_events_committed = lambda: None
        await relay.stop()
        await background_engine.dispose()
        await broadcast.disconnect()
        services.broadcast = None


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or get_settings()
    services = services or build_services(settings)
    attribute_statements(services.engine, observe_statements)  # per request, for /metrics
    # Catalog writes bump its generation even when this app does not cache (TTL 0): other
    # replicas on the same Redis may.
    response_cache = ResponseCache(settings, services.redis)
    services.on_catalog_changed = response_cache.catalog_changed
    view = GatewayView(
        build_schema(settings, services.rate_limiter),
        services,
        response_cache=response_cache,
        persisted_queries=PersistedQueries.from_settings(settings, services.redis),
        allowed_origins=settings.allowed_origins,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        keep_alive=True,
        keep_alive_interval=15,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services.has_trigram_search = await has_trigram_search(services)
        async with running_background_work(services):
            # What start-up built lives as long as the process: keep it out of every garbage
            # collection (with thousands of subscriptions, full collections took seconds).
            gc.freeze()
            yield
        await services.engine.dispose()
        if services.redis is not None:
            await services.redis.aclose()

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> JSONResponse:
        checks = await readiness(services)
        # Only PostgreSQL makes a replica unable to serve. Without Redis it degrades (throttles,
        # caches and buckets in-process or open; events wait in the outbox): taking every
        # replica out of rotation during a Redis outage would turn it into a full outage.
        ready = checks["postgres"] == "ok"
        return JSONResponse(checks, status_code=200 if ready else 503)

    app = Starlette(
        routes=[
            # Every method reaches the view, which refuses all but GET and POST itself: a
            # GraphQL error under the negotiated media type, with `Allow: GET, POST`.
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(settings.metrics_token)),
            *asset_routes(settings.graphiql_enabled),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            *cors(settings.allowed_origins, settings.allowed_headers),
            # Inside both: its 500 gets the security and the CORS headers.
            Middleware(UnexpectedErrorAnswer),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app


# --- command line ----------------------------------------------------------------------------


def _use_embedded_database(settings: Settings) -> Settings:
    """Start the embedded PostgreSQL and point DATABASE_URL at it (for workers too)."""
    from db.embedded import start_embedded_postgres

    url = start_embedded_postgres(settings.data_dir)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    log.info("using the embedded PostgreSQL under %s", settings.data_dir.resolve())
    return get_settings()


async def seed_demo_data(engine: AsyncEngine, products: int) -> SeedSummary:
    from db.seed import DEMO_PASSWORD, seed

    return await seed(engine, password_hash=await hash_password(DEMO_PASSWORD), products=products)


async def _migrate_and_seed(settings: Settings, products: int | None) -> None:
    from db.migrate import upgrade_to_head
    from db.seed import is_seeded

    assert settings.database_url is not None
    await upgrade_to_head(settings.database_url)
    if products is None:
        return
    engine = create_engine(settings.database_url, null_pool=True)
    try:
        if not await is_seeded(engine):
            summary = await seed_demo_data(engine, products)
            log.info("seeded demo data: %s", summary.describe())
            print(demo_logins_table(), file=sys.stderr)
    finally:
        await engine.dispose()


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    if args.workers > 1 and settings.redis_url is None:
        # In-process pub/sub reaches one process only: a subscriber on one worker would miss
        # the events another worker's relay publishes.
        raise SettingsError("more than one worker needs REDIS_URL (subscriptions span workers)")
    if settings.database_url is None:
        settings = _use_embedded_database(settings)
        asyncio.run(_migrate_and_seed(settings, products=args.demo_products))
        # uvicorn re-raises the SIGTERM it stopped on; by default that ends the process before
        # atexit, where pgserver stops the embedded PostgreSQL, which would be left running.
        signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    elif args.migrate:
        asyncio.run(_migrate_and_seed(settings, products=None))
    prepare_multiprocess_directory()  # PROMETHEUS_MULTIPROC_DIR starts empty
    if settings.graphiql_enabled:
        print(f"GraphiQL: http://{args.host}:{args.port}/graphql", file=sys.stderr)
    uvicorn.run(
        "server:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        # The sans-I/O implementation without permessage-deflate: 73 KiB per idle subscriber
        # socket against 182 KiB for the legacy one with compression (bench/subscription_fanout).
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="info",
        # WebSocket frames obey the same bound as HTTP bodies.
        ws_max_size=settings.max_body_bytes,
        proxy_headers=True,
        # A worker imports the whole app before it answers the supervisor's first ping; on a
        # small or busy host that takes longer than uvicorn's 5 s default (workers then die in
        # a loop, silently).
        timeout_worker_healthcheck=60,
    )


def _seed(args: argparse.Namespace, settings: Settings) -> None:
    if settings.database_url is None:
        settings = _use_embedded_database(settings)
    assert settings.database_url is not None

    async def run() -> None:
        engine = create_engine(settings.database_url or "", null_pool=True)
        try:
            summary = await seed_demo_data(engine, args.products)
            print(f"seeded {summary.describe()}")
            print(demo_logins_table())
        finally:
            await engine.dispose()

    asyncio.run(run())


def _worker(settings: Settings) -> None:
    """Run jobs alone (no HTTP) until SIGTERM or SIGINT; running jobs finish first."""
    if settings.database_url is None:
        settings = _use_embedded_database(settings)
        asyncio.run(_migrate_and_seed(settings, products=None))  # as serve does

    async def run() -> None:
        services = build_services(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await run_worker(services, stop)
        finally:
            await services.engine.dispose()
            if services.redis is not None:
                await services.redis.aclose()

    asyncio.run(run())


def _print_schema(args: argparse.Namespace, settings: Settings) -> None:
    sdl = build_schema(settings).as_str() + "\n"
    if args.output:
        Path(args.output).write_text(sdl)
    else:
        sys.stdout.write(sdl)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument(
        "--demo-products",
        type=int,
        default=600,
        help="products to seed into a new embedded database (default 600)",
    )
    commands.add_parser(
        "worker", help="run background jobs only (start any number, on any machine)"
    )
    commands.add_parser("migrate", help="apply database migrations")
    seed = commands.add_parser(
        "seed",
        help="fill an empty database with demo data",
        description="Fill an empty, migrated database with demo companies, users and products.",
        epilog=demo_logins_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    seed.add_argument("--products", type=int, default=600, help="products to seed (default 600)")
    printer = commands.add_parser("print-schema", help="print the GraphQL SDL")
    printer.add_argument("--output", help="write to this file instead of stdout")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = get_settings()
        if args.command == "serve":
            _serve(args, settings)
        elif args.command == "worker":
            _worker(settings)
        elif args.command == "migrate":
            if settings.database_url is None:
                settings = _use_embedded_database(settings)
            asyncio.run(_migrate_and_seed(settings, products=None))
        elif args.command == "seed":
            _seed(args, settings)
        else:
            _print_schema(args, settings)
    except SettingsError as error:
        print(f"server.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
