"""What every table shares: the one declarative `Base` (one `MetaData`, with stable constraint names) and
the column types `UtcDateTime` and `JsonDict`.

Each table lives with the module that owns it (`core.endpoints.models`, `core.claims`, `core.usage.models`,
`core.watchdog.reminders`, `core.outbox`, `core.replays`, `core.endpoints.timings`); `core.schema` gathers them all for Alembic.
`upsert_into` gives the dialect's `INSERT ... ON CONFLICT` for atomic claims; `update_changed` writes the
changes of many rows read with Core as a few `executemany` UPDATEs (the watchdog's tick over every endpoint). Datetimes are timezone-aware UTC in and out on every database (`UtcDateTime`); JSON columns track
top-level changes (`options["x"] = ...` is saved).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, MetaData, Table, TypeDecorator, bindparam, update
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


def update_changed(
    session: Session, table: Table, rows: Iterable[tuple[dict[str, Any], dict[str, Any]]]
) -> int:
    """Write plain rows read with Core (no ORM objects: cheap for thousands) back to `table`: for each
    (loaded, current) pair of column dicts, the columns whose value changed, as one `executemany` UPDATE
    by primary key per set of changed columns. How many rows were written."""
    (key,) = (c.name for c in table.primary_key.columns)
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for loaded, current in rows:
        changed = {name: value for name, value in current.items() if loaded.get(name) != value}
        if changed:
            groups.setdefault(frozenset(changed), []).append({**changed, "_pk": current[key]})
    for columns, values in groups.items():
        statement = (
            update(table)
            .where(table.c[key] == bindparam("_pk"))
            .values({name: bindparam(name) for name in columns})
        )
        session.connection().execute(statement, values)
    return sum(len(values) for values in groups.values())
