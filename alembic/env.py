"""Alembic environment for notifier's database (outbox, delivery log, feed versions, meta).

`notifier db upgrade` runs it with an open connection in `config.attributes["connection"]`;
the `alembic` command line works too, taking the URL from `sqlalchemy.url` or
NOTIFIER_DATABASE. Migrations use batch mode so SQLite can alter tables.
"""

from __future__ import annotations

from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection

from alembic import context
from notifier.store import database_url, metadata, normalize_url

config = context.config


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=normalize_url(config.get_main_option("sqlalchemy.url") or database_url()),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = normalize_url(config.get_main_option("sqlalchemy.url") or database_url())
    engine = engine_from_config(
        {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        _migrate(conn)


if context.is_offline_mode():
    run_offline()
else:
    run_online()
