"""Alembic environment for endpoint-bot.

Normally run through `core.db.Database.upgrade()`, which passes its open connection in
`config.attributes["connection"]`. Developers can also run Alembic by hand, e.g. to draft a revision:
`alembic -c core/migrations/alembic.ini revision --autogenerate -m "..."` (the URL then comes from
`sqlalchemy.url` in that ini, or from the bot's settings when it is empty).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from core.schema import metadata
from core.settings import load_settings

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    return load_settings().sqlalchemy_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later revisions use batch mode (copy and move).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url())
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
