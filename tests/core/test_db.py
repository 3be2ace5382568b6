"""core.db: migrations from empty, SQLite settings, sessions, and aware-UTC datetimes on both backends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import StatementError

from core.db import Database
from core.endpoints import store
from core.endpoints.models import Endpoint, EndpointEvent
from core.endpoints.records import EndpointOptions
from core.schema import metadata
from core.settings import load_settings
from tests.db_fixtures import create_test_endpoint

TABLES = {
    "endpoints",
    "endpoint_events",
    "work_claims",
    "endpoint_usage",
    "reminders",
    "outbox",
    "stop_requests",
    "seen_requests",
    "cold_starts",
}
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HEAD = "0004"  # the newest revision in core/migrations/versions


def _new_endpoint(db: Database, **overrides: Any) -> int:
    with db.session() as session:
        fields = {"accelerators": "A100:1", "price_per_hour": 3.0, **overrides}
        return create_test_endpoint(session, now=NOW, **fields).id


@pytest.mark.timeout(60)
def test_upgrade_from_empty_creates_every_table_and_is_repeatable(empty_database: Database) -> None:
    db = empty_database
    assert db.current_revision() is None
    assert not TABLES & set(inspect(db.engine).get_table_names())

    db.upgrade()
    assert db.current_revision() == db.head_revision() == HEAD
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    assert db.is_up_to_date()

    db.upgrade()  # a second start changes nothing
    assert db.current_revision() == HEAD


@pytest.mark.timeout(60)
def test_migrations_match_the_models(database: Database) -> None:
    """The committed revision creates exactly what the models describe (no drift to autogenerate)."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_upgrading_at_once_both_succeed(
    database_factory: Callable[[str], Database], request: pytest.FixtureRequest, backend: str
) -> None:
    """Two bots starting together on one store take turns (PostgreSQL advisory lock, SQLite write lock)."""
    first = database_factory(backend)
    second = Database(first.url.render_as_string(hide_password=False))
    request.addfinalizer(second.dispose)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def start(db: Database) -> None:
        try:
            barrier.wait()
            db.upgrade()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert first.current_revision() == HEAD


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_foreign_keys_are_enforced(database: Database) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"), database.session() as session:
        session.add(EndpointEvent(endpoint_id=999, at=NOW, actor="bot", kind="x", message="orphan"))


def test_from_settings_uses_the_sqlite_file_and_creates_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.db"
    db = Database.from_settings(load_settings(db_path=path, database_url=None))
    try:
        db.upgrade()
        assert path.exists()
        assert db.dialect == "sqlite"
    finally:
        db.dispose()


def test_database_url_overrides_the_file() -> None:
    settings = load_settings(database_url="postgresql+psycopg://bot:pw@db.example:5432/epb")
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://")


def test_repr_never_shows_the_password() -> None:
    db = Database("postgresql+psycopg://bot:hunter2@127.0.0.1:1/epb")
    try:
        assert "hunter2" not in repr(db)
    finally:
        db.dispose()


def test_session_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    endpoint_id = _new_endpoint(database)
    with pytest.raises(RuntimeError), database.session() as session:
        row = session.get(Endpoint, endpoint_id)
        assert row is not None
        row.url = "http://10.0.0.1:8000"
        session.flush()
        raise RuntimeError("boom")
    with database.session() as session:
        assert session.get(Endpoint, endpoint_id).url is None  # type: ignore[union-attr]
        session.get(Endpoint, endpoint_id).url = "http://10.0.0.2:8000"  # type: ignore[union-attr]
    with database.session() as session:
        assert session.get(Endpoint, endpoint_id).url == "http://10.0.0.2:8000"  # type: ignore[union-attr]


def test_datetimes_round_trip_as_aware_utc(database: Database) -> None:
    paris_noon = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    endpoint_id = _new_endpoint(database, expires_at=paris_noon)
    # A fresh Database, so nothing comes from an identity map: the values really went through the DB.
    again = Database(database.url.render_as_string(hide_password=False))
    try:
        with again.session() as session:
            row = session.get(Endpoint, endpoint_id)
            assert row is not None
            for value in (row.expires_at, row.requested_at, row.updated_at):
                assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
            assert row.expires_at == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
            assert row.requested_at == NOW
            # Comparisons in SQL see the same instants whatever offset the caller used.
            found = session.scalars(
                select(Endpoint.id).where(Endpoint.expires_at < datetime(2026, 3, 1, 11, 30, tzinfo=UTC))
            ).all()
            assert found == [endpoint_id]
    finally:
        again.dispose()


def test_naive_datetimes_are_refused(database: Database) -> None:
    endpoint_id = _new_endpoint(database)
    with pytest.raises(StatementError, match="naive"), database.session() as session:
        row = session.get(Endpoint, endpoint_id)
        row.last_activity_at = datetime(2026, 1, 5, 9, 0)  # type: ignore[union-attr]
        session.flush()
    with database.session() as session:
        assert session.get(Endpoint, endpoint_id).last_activity_at is None  # type: ignore[union-attr]


def test_json_columns_save_in_place_changes(database: Database) -> None:
    endpoint_id = _new_endpoint(database, options=EndpointOptions(spot=False))
    with database.session() as session:
        row = session.get(Endpoint, endpoint_id)
        assert row is not None
        row.options["options"] = {"spot": True}
    with database.session() as session:
        row = session.get(Endpoint, endpoint_id)
        assert row is not None and row.options["options"] == {"spot": True}
        assert store.to_view(row).options == EndpointOptions(spot=True)


@pytest.mark.timeout(60)
def test_0002_fills_event_states_from_existing_transition_messages(empty_database: Database) -> None:
    db = empty_database
    db.upgrade("0001")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO endpoints (id, name, cluster_name, model, accelerators, engine, launcher, options,"
                " plan, state, version, owner_id, requested_at, idle_timeout_s, expires_at, price_per_hour,"
                " price_is_estimate, cost_so_far, updated_at) VALUES (1, 'a', 'epb-a-000000', 'm', 'L4:1',"
                " 'vllm', 'fake', '{}', '{}', 'READY', 4, 'U1', :t, 60, :t, 1.0, false, 0.0, :t)"
            ),
            {"t": NOW},
        )
        for message, kind in [
            ("requested m", "created"),
            ("REQUESTED -> PROVISIONING: submitted", "transition"),
            ("PROVISIONING -> STARTING", "transition"),
            ("garbled", "transition"),
        ]:
            connection.execute(
                text(
                    "INSERT INTO endpoint_events (endpoint_id, at, actor, kind, message)"
                    " VALUES (1, :t, 'bot', :kind, :message)"
                ),
                {"t": NOW, "kind": kind, "message": message},
            )
    db.upgrade()
    assert db.current_revision() == HEAD
    with db.session() as session:
        events = session.scalars(select(EndpointEvent).order_by(EndpointEvent.id)).all()
        assert [(e.from_state, e.to_state) for e in events] == [
            (None, None),
            ("REQUESTED", "PROVISIONING"),
            ("PROVISIONING", "STARTING"),
            (None, None),
        ]


@pytest.mark.parametrize(
    "url",
    ["postgres://bot:pw@db.example:5432/epb", "postgresql://bot:pw@db.example:5432/epb"],
)
def test_provider_style_postgres_urls_use_psycopg(url: str) -> None:
    db = Database(url)
    try:
        assert db.url.drivername == "postgresql+psycopg"
        assert db.dialect == "postgresql"
    finally:
        db.dispose()


def test_an_in_memory_database_works_for_quick_use() -> None:
    db = Database("sqlite://")
    try:
        db.upgrade()
        assert db.is_up_to_date()
        endpoint_id = _new_endpoint(db)
        with db.session() as session:
            assert session.get(Endpoint, endpoint_id) is not None
    finally:
        db.dispose()


@pytest.mark.timeout(60)
def test_downgrade_to_empty_and_upgrade_again(database: Database) -> None:
    _new_endpoint(database)
    database.downgrade("0001")
    assert database.current_revision() == "0001"
    columns = {c["name"] for c in inspect(database.engine).get_columns("endpoint_events")}
    assert "from_state" not in columns
    database.downgrade("base")
    assert database.current_revision() is None
    assert not TABLES & set(inspect(database.engine).get_table_names())
    database.upgrade()
    assert database.current_revision() == HEAD


@pytest.mark.timeout(60)
def test_0004_adds_cold_starts_beside_existing_rows_and_steps_back(empty_database: Database) -> None:
    """Upgrading a 0003 store with endpoints in it adds the empty `cold_starts` table (its rows keep);
    stepping back to 0003 drops only that table."""
    db = empty_database
    db.upgrade("0003")
    endpoint_id = _new_endpoint(db)
    db.upgrade()
    assert db.current_revision() == "0004"
    with db.session() as session:
        assert session.get(Endpoint, endpoint_id) is not None
        assert session.execute(text("SELECT count(*) FROM cold_starts")).scalar_one() == 0
    columns = {c["name"] for c in inspect(db.engine).get_columns("cold_starts")}
    assert {
        "endpoint_id",
        "run_requested_at",
        "total_s",
        "weights_s",
        "weights_note",
        "first_completion_s",
    } <= columns
    db.downgrade("0003")
    assert "cold_starts" not in inspect(db.engine).get_table_names()
    with db.session() as session:
        assert session.get(Endpoint, endpoint_id) is not None
