"""Database fixtures: a migrated store on SQLite and, when it is reachable, on the local PostgreSQL.

Import the fixtures into a conftest (`from tests.db_fixtures import *`). `database` is parametrized
over both backends, so a test that takes it runs twice; `sqlite_database` is SQLite only.

PostgreSQL: 127.0.0.1:5432, user postgres, trust auth, database `test` (override the whole URL with
ENDPOINT_BOT_TEST_PG_URL). Each test session creates its own schemas and drops them at the end, so
parallel CI jobs never see each other's rows. Unreachable -> the PostgreSQL cases are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.db import Database

PG_URL = os.environ.get(
    "ENDPOINT_BOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test?connect_timeout=2"
)

__all__ = [
    "database",
    "database_factory",
    "empty_database",
    "pg_server",
    "sqlite_database",
]


class PgServer:
    """The local PostgreSQL for this test session: hands out fresh schemas and drops them at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.schemas: list[str] = []

    def new_schema_url(self) -> str:
        """A URL whose connections see only a new, empty schema (first on the search path)."""
        schema = f"epb_test_{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        self.schemas.append(schema)
        url = make_url(self.url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def close(self) -> None:
        with self.engine.begin() as connection:
            for schema in self.schemas:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self.engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    """The local PostgreSQL, or None when it does not answer (then PostgreSQL cases skip)."""
    try:
        server = PgServer(PG_URL)
        with server.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # no server, no driver, no database `test`
        yield None
        return
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database_factory(tmp_path: Path, pg_server: PgServer | None) -> Iterator[Callable[[str], Database]]:
    """`make("sqlite")` / `make("postgresql")`: a new, empty database (not migrated) for this test.

    Several calls give independent databases; two `Database(db.url)` objects on one URL act as two
    bot processes sharing a store.
    """
    made: list[Database] = []

    def make(backend: str) -> Database:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'store-{len(made)}.db'}"
        elif backend == "postgresql":
            if pg_server is None:
                pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
            url = pg_server.new_schema_url()
        else:
            raise ValueError(backend)
        db = Database(url)
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, database_factory: Callable[[str], Database]) -> Database:
    """An empty database (no tables) on each backend."""
    return database_factory(request.param)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, database_factory: Callable[[str], Database]) -> Database:
    """A migrated, empty store on each backend (SQLite file; PostgreSQL schema, skipped if unreachable)."""
    db = database_factory(request.param)
    db.upgrade()
    return db


@pytest.fixture
def sqlite_database(database_factory: Callable[[str], Database]) -> Database:
    """A migrated, empty SQLite store (for tests that need a store but not both backends)."""
    db = database_factory("sqlite")
    db.upgrade()
    return db
