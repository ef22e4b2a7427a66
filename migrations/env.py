"""Alembic environment: async engine from MNETIFI_DATABASE_URL (or -x url=...)."""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from api.config import get_settings
from api.models import Base

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def _url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or get_settings().database_url


# What autogenerate compares, as tests/test_models_schema.py does: a column's type or server
# default changed in a model is a migration too, not only a new or dropped column.
COMPARE = {"compare_type": True, "compare_server_default": True}


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, **COMPARE)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, **COMPARE)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
