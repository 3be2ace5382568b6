"""Database fixtures: a migrated store on SQLite and, when it is reachable, on the local PostgreSQL.

Import the fixtures into a conftest (`from tests.db_fixtures import *`). `database` is parametrized
over both backends, so a test that takes it runs twice; `sqlite_database` is SQLite only.

Every test gets its own database (a SQLite file; a PostgreSQL schema), so worker threads a test
leaves behind can never write into the next test's rows. To keep that cheap, the migrations run once
per session: SQLite copies a migrated template file, PostgreSQL replays the DDL the migrations emit
(Alembic's offline `--sql` output) into a new schema. tests/core/test_db.py checks the real
`Database.upgrade()` from empty on both backends.

PostgreSQL: 127.0.0.1:5432, user postgres, trust auth, database `test` (override the whole URL with
ENDPOINT_BOT_TEST_PG_URL). Each test session drops the schemas it created at the end, so parallel
runs never see each other's rows. Unreachable -> the PostgreSQL cases are skipped.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.db import MIGRATIONS_DIR, Database
from core.endpoints import store
from core.endpoints.models import Endpoint
from core.endpoints.records import EndpointOptions

PG_URL = os.environ.get(
    "ENDPOINT_BOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test?connect_timeout=2"
)

__all__ = [
    "create_test_endpoint",
    "database",
    "database_factory",
    "empty_database",
    "pg_server",
    "sqlite_database",
    "sqlite_template",
]


def _migration_sql(dialect_url: str) -> str:
    """The SQL `alembic upgrade head --sql` emits for a dialect (BEGIN ... COMMIT included)."""
    from alembic import command
    from alembic.config import Config

    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", dialect_url)
    command.upgrade(config, "head", sql=True)
    return buffer.getvalue()


class PgServer:
    """The local PostgreSQL for this test session: hands out fresh schemas and drops them at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.schemas: list[str] = []
        self._ddl: str | None = None

    def new_schema_url(self, *, migrated: bool = False) -> str:
        """A URL whose connections see only a new schema (first on the search path): empty, or
        with the migrations applied."""
        schema = f"epb_test_{uuid.uuid4().hex[:12]}"
        sql = f'CREATE SCHEMA "{schema}";'
        if migrated:
            if self._ddl is None:
                self._ddl = _migration_sql("postgresql+psycopg://")
            sql += f' SET search_path TO "{schema}"; {self._ddl}'
        self.schemas.append(schema)
        with self.engine.connect() as connection:
            connection.exec_driver_sql(sql)
        url = make_url(self.url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def close(self) -> None:
        with self.engine.connect() as connection:
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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session, copied for each test that wants a migrated store."""
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.upgrade()
    finally:
        db.dispose()  # the last connection closing folds the WAL back into the file
    return path


@pytest.fixture
def database_factory(
    tmp_path: Path, pg_server: PgServer | None, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Database]]:
    """`make("sqlite")` / `make("postgresql")`: a new, empty database (not migrated) for this test;
    `make(backend, migrated=True)`: one already at the newest revision.

    Several calls give independent databases; two `Database(db.url)` objects on one URL act as two
    bot processes sharing a store.
    """
    made: list[Database] = []

    def make(backend: str, *, migrated: bool = False) -> Database:
        if backend == "sqlite":
            path = tmp_path / f"store-{len(made)}.db"
            if migrated:
                shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            url = f"sqlite:///{path}"
        elif backend == "postgresql":
            if pg_server is None:
                pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
            url = pg_server.new_schema_url(migrated=migrated)
        else:
            raise ValueError(f"unknown backend {backend!r}: use 'sqlite' or 'postgresql'")
        db = Database(url)
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, database_factory: Callable[..., Database]) -> Database:
    """An empty database (no tables) on each backend."""
    return database_factory(request.param)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, database_factory: Callable[..., Database]) -> Database:
    """A migrated, empty store on each backend (SQLite file; PostgreSQL schema, skipped if unreachable)."""
    return database_factory(request.param, migrated=True)


@pytest.fixture
def sqlite_database(database_factory: Callable[..., Database]) -> Database:
    """A migrated, empty SQLite store (for tests that need a store but not both backends)."""
    return database_factory("sqlite", migrated=True)


def create_test_endpoint(session: Any, *, now: datetime, **overrides: Any) -> Endpoint:
    """`store.create_endpoint` with plain test values (a 7B model on L4:1, owner U1), any of them overridden."""
    fields: dict[str, Any] = dict(
        model="Qwen/Qwen2.5-7B-Instruct",
        accelerators="L4:1",
        engine="vllm",
        launcher="fake",
        owner_id="U1",
        channel_id="C1",
        options=EndpointOptions(),
        plan=None,
        idle_timeout_s=2700,
        expires_at=now + timedelta(hours=8),
        max_cost=None,
        price_per_hour=1.0,
        price_is_estimate=False,
        now=now,
    )
    fields.update(overrides)
    return store.create_endpoint(session=session, **fields)
