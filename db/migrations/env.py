"""Alembic environment: runs migrations over the async engine of the configured database."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from db.models import Base

target_metadata = Base.metadata


# Created by the first migration only where pg_trgm exists, so the models cannot declare it.
CONDITIONAL_INDEXES = {"ix_products_name_trgm"}

# The job queue's tables belong to pgqueuer (created by migration 0005 from its own DDL), not to
# our models.
JOB_QUEUE_PREFIX = "pgqueuer"


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    if type_ == "table" and name is not None and name.startswith(JOB_QUEUE_PREFIX):
        return False
    return not (type_ == "index" and name in CONDITIONAL_INDEXES)


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "db.migrate sets sqlalchemy.url"
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(run_with)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
