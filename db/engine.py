"""The async engine and how a mutation gets its session."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool


def create_engine(url: str, *, pool_size: int = 10, null_pool: bool = False) -> AsyncEngine:
    """One engine per process. `null_pool` suits short scripts and per-test event loops."""
    options: dict[str, object] = {
        # Statement and lock timeouts keep one bad query from holding a connection forever.
        "connect_args": {
            "server_settings": {
                "statement_timeout": "15000",
                "lock_timeout": "5000",
                "application_name": "b2b-gateway",
            }
        },
    }
    if null_pool:
        options["poolclass"] = NullPool
    else:
        # No pre-ping: it costs a round trip per checkout, and loaders check out per batch.
        # Connections are recycled instead, and a dead one fails one statement, not all.
        options.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    return create_async_engine(url, **options)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
