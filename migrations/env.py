"""Alembic environment: runs migrations over one psycopg connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

import patron.models  # noqa: F401  (registers every table on the metadata)
from patron.config import get_settings
from patron.db.base import Base
from patron.db.engine import resolve_database_url

config = context.config
target_metadata = Base.metadata


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """Autogenerate ignores tables Patron does not model (Procrastinate's, audit partitions)."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    table = getattr(obj, "table", None)
    return not (type_ == "index" and table is not None and table.name not in target_metadata.tables)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or resolve_database_url(get_settings())
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Patron migrations run online only: use `patron migrate`.")
run_migrations_online()
