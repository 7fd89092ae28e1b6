"""Creating and dropping whole databases on a server (test runs and benchmarks get their own)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.migrate import upgrade_to_head


def _admin_url(server: URL) -> str:
    return server.set(database="postgres").render_as_string(hide_password=False)


async def _run_on_server(server: URL, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    engine = create_async_engine(
        _admin_url(server), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def create_migrated_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`, migrate it, return its URL."""
    if not name.isidentifier():
        raise ValueError(f"database name must be a plain identifier: {name!r}")
    server = make_url(server_url)
    await _run_on_server(server, f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    await upgrade_to_head(url)
    return url


async def drop_database(database_url: str) -> None:
    url = make_url(database_url)
    await _run_on_server(url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
