"""An embedded PostgreSQL (pgserver) for running the gateway with no database configured."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path, database: str = "gateway") -> str:
    """Start (or reuse) a PostgreSQL under data_dir and return an asyncpg URL for `database`.

    The server keeps running while this process lives; pgserver stops it at exit when no other
    process of ours uses it.
    """
    # pgserver narrates every initdb line at INFO and warns about XDG_RUNTIME_DIR on import.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only the no-DATABASE_URL path needs it

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    if not database.isidentifier():
        raise ValueError(f"embedded database name must be a plain identifier: {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
        log.info("created embedded database %s under %s", database, pgdata)
    uri: str = server.get_uri(database)
    return "postgresql+asyncpg://" + uri.split("://", 1)[1]
