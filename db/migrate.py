"""Apply Alembic migrations programmatically (the `migrate` command and the test set-up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_to_head(database_url: str) -> None:
    """Run in a worker thread: Alembic's env starts its own event loop."""
    await asyncio.to_thread(_upgrade, database_url)
