"""Apply Alembic migrations programmatically (the `migrate` command and the test set-up)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

# Importing Alembic logs "setup plugin alembic.autogenerate..." seven times at INFO: noise on
# every start of a server.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class _OnlyMigrationsRun(logging.Filter):
    """Keep Alembic's "Running upgrade a -> b" lines; drop what it says on every start
    ("Context impl PostgresqlImpl.", "Will assume transactional DDL.")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or record.getMessage().startswith("Running upgrade")


def _quiet_alembic() -> None:
    migration_log = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _OnlyMigrationsRun) for f in migration_log.filters):
        migration_log.addFilter(_OnlyMigrationsRun())


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _upgrade(database_url: str) -> None:
    _quiet_alembic()
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_to_head(database_url: str) -> None:
    """Run in a worker thread: Alembic's env starts its own event loop."""
    await asyncio.to_thread(_upgrade, database_url)
