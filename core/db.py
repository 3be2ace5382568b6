"""The database: engine and session factory for SQLite (default) or PostgreSQL, and migrations.

SQLite runs in WAL mode with foreign keys on and a busy timeout, because the bot writes from several
threads (chat listeners, the worker pool, the watchdog). PostgreSQL is reached by URL
(`postgresql+psycopg://...`), which lets a second bot process share the store (see core.claims).
Migrations are Alembic revisions in core/migrations, run programmatically (no alembic.ini in the cwd).

Not for queries: those live in core.endpoints.store and core.claims.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from core.private_files import private_dir, private_file

# Alembic (~0.3 s to import) is imported inside the methods that migrate, on purpose: most commands never do.
if TYPE_CHECKING:
    from alembic.config import Config

    from core.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a writer waits for another writer's lock before "database is locked" (SQLite).
SQLITE_BUSY_TIMEOUT_S = 30.0
# Pooled connections: the worker pool (16 threads by default), the watchdog, reconcile and the chat
# listeners may all hold a session at once.
DEFAULT_POOL_SIZE = 24
# Key of the PostgreSQL advisory lock taken while upgrading, so two bots starting together take turns.
_UPGRADE_LOCK_KEY = 0x45504201  # "EPB" 1


class Database:
    """One engine and its session factory. Create one per process and share it between threads."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = normalise_url(url)
        self.engine: Engine = _create_engine(self.url, echo=echo, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database named by `settings.sqlalchemy_url` (a SQLite file unless `database_url` is set)."""
        # Room for every worker thread plus the watchdog, reconcile and chat listeners.
        pool_size = max(DEFAULT_POOL_SIZE, settings.worker_threads + 8)
        return cls(settings.sqlalchemy_url, pool_size=pool_size)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends normally, rolled back on error.

        Objects stay readable after the block (expire_on_commit is off), but hand views, not rows,
        to other threads.
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (Alembic `upgrade head`). Safe to call on every start."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        with self.engine.begin() as connection:
            # A second process starting at the same moment waits here, then finds nothing to do.
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
            elif self.dialect == "sqlite":
                # Take the write lock before Alembic reads the current revision (pysqlite would only
                # begin at the first DDL, after that read). Busy timeout applies while waiting.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            before = MigrationContext.configure(connection).get_current_revision()
            command.upgrade(self._alembic_config(connection), revision)
            after = MigrationContext.configure(connection).get_current_revision()
        if before != after:
            log.info("upgraded %r from %s to %s", self, before or "empty", after)

    def downgrade(self, revision: str) -> None:
        """Step the schema back to `revision` ("base" = empty), e.g. before running an older release."""
        from alembic import command

        with self.engine.begin() as connection:
            if self.dialect == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            command.downgrade(self._alembic_config(connection), revision)

    def current_revision(self) -> str | None:
        """The revision the database is at, or None for an empty database."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision shipped with this code."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config(None)).get_current_head()

    def is_up_to_date(self) -> bool:
        return self.current_revision() == self.head_revision()

    def dispose(self) -> None:
        """Close every pooled connection (end of process, end of a test)."""
        self.engine.dispose()

    def _alembic_config(self, connection: Any) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        # Alembic's config is a ConfigParser: a literal % in a password would be read as interpolation.
        config.set_main_option(
            "sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%")
        )
        config.attributes["connection"] = connection
        return config

    def __repr__(self) -> str:  # the password never appears
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def normalise_url(url: str | URL) -> URL:
    """The URL to connect with: `postgres://` and `postgresql://` (as hosting providers hand them
    out) use psycopg 3, the driver this project installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _create_engine(url: URL, *, echo: bool, pool_size: int) -> Engine:
    # Enough pooled connections for every thread that may hold a session at once: a thread waiting
    # for a connection can lose it again and again to threads that return and re-take theirs.
    pool = {"pool_size": pool_size, "max_overflow": pool_size // 2, "pool_timeout": 60}
    if url.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True, **pool)

    database = url.database or ""
    # In memory: one shared connection (quick experiments; use it from one thread at a time).
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    connect_args: dict[str, Any] = {
        # Sessions are used from worker threads; each connection is still used by one thread at a time.
        "check_same_thread": False,
        "timeout": SQLITE_BUSY_TIMEOUT_S,
    }
    kwargs: dict[str, Any] = {"echo": echo, "connect_args": connect_args}
    if in_memory:
        # One shared connection, or every connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        # Private: the database and its -wal/-shm files (SQLite gives those the database file's mode).
        path = Path(database).expanduser()
        private_dir(path.parent, tighten=False)
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file == path or file.exists():
                private_file(file)
        kwargs.update(pool)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                _enable_wal(cursor)
                cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a lasting property of the file, so usually already done).

    Switching needs an exclusive lock and SQLite refuses it at once, without the busy timeout, when
    another connection is in the middle of its own first transaction on a new file: retry briefly.
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
