"""What every table shares: the one declarative `Base` (one `MetaData`, with stable constraint names) and
the column types `UtcDateTime` and `JsonDict`.

Each table lives with the module that owns it (`core.endpoints.models`, `core.claims`, `core.usage.models`,
`core.watchdog.reminders`, `core.outbox`, `core.replays`, `core.endpoints.timings`); `core.schema` gathers them all for Alembic.
`upsert_into` gives the dialect's `INSERT ... ON CONFLICT` for atomic claims; `flush_in_bulk` writes the
changes of many loaded rows as a few `executemany` UPDATEs (the watchdog's tick over every endpoint). Datetimes are timezone-aware UTC in and out on every database (`UtcDateTime`); JSON columns track
top-level changes (`options["x"] = ...` is saved).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, MetaData, Table, TypeDecorator, inspect, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import DeclarativeBase, Session

# Stable constraint names, so Alembic revisions can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is timezone-aware UTC in and out.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so values are stored as naive UTC
    (fixed-width text, which also keeps `<`/`>` comparisons right) and made aware again on the way out.
    A naive datetime on the way in is a bug (whose local time is it?), so it is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to the store: pass a timezone-aware UTC "
                "datetime (clock.now())"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonDict = MutableDict.as_mutable(JSON)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JsonDict}  # noqa: RUF012


def upsert_into(session: Session, table: type[Base] | Table) -> postgresql.Insert | sqlite.Insert:
    """An `INSERT` on `table` with the `ON CONFLICT` clauses of the session's database (SQLite or
    PostgreSQL, the two the bot supports), for the atomic claims of `core.claims`, the store and replays."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the store needs SQLite or PostgreSQL, not {dialect}")  # pragma: no cover


def flush_in_bulk(session: Session, rows: Iterable[Base]) -> int:
    """Write the changed columns of persistent `rows` as one `executemany` UPDATE per table and set of
    changed columns, after detaching them (the unit of work would write them again, one statement per
    row). New rows are left to the session. How many rows were written."""
    groups: dict[tuple[type[Base], frozenset[str]], list[dict[str, Any]]] = {}
    written: list[Base] = []
    for row in rows:
        state = inspect(row)
        if not state.persistent or not state.committed_state:  # committed_state: the attributes set
            continue
        columns = state.mapper.columns
        changed = {key: state.dict.get(key) for key in state.committed_state if key in columns}
        if not changed:
            continue
        for key in state.mapper.primary_key:
            changed[key.key] = state.dict[key.key]
        groups.setdefault((type(row), frozenset(changed)), []).append(changed)
        written.append(row)
    for row in written:
        session.expunge(row)
    with session.no_autoflush:
        for (model, _columns), values in groups.items():
            session.execute(update(model), values)  # ORM bulk UPDATE by primary key: executemany
    return len(written)
