"""`endpoint-bot db upgrade|current`: apply migrations, or show the revision the database is at.

The bot upgrades on start anyway; these are for operators (a new release against a shared
PostgreSQL, checking what a database holds). The URL printed never shows a password.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

# SQLAlchemy, Alembic and the settings are imported when a db command runs: every `endpoint-bot`
# command builds the whole parser, and `endpoint-bot fit` must stay free of them.
if TYPE_CHECKING:
    from core.db import Database


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db",
        help="database migrations (upgrade, current)",
        description="Manage the bot's database (ENDPOINT_BOT_DATABASE_URL, or the SQLite file "
        "ENDPOINT_BOT_DB_PATH).",
    )
    actions = parser.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="apply every migration up to the newest (safe to repeat)")
    upgrade.add_argument("--url", help="database URL instead of the configured one")
    upgrade.set_defaults(func=run_upgrade)
    current = actions.add_parser("current", help="show the database's revision and the newest one")
    current.add_argument("--url", help="database URL instead of the configured one")
    current.set_defaults(func=run_current)


def _database(args: argparse.Namespace) -> Database:
    from core.db import Database

    return Database(_url(args))


def _url(args: argparse.Namespace) -> str:
    from core.settings import load_settings

    return args.url or load_settings().sqlalchemy_url


def run_upgrade(args: argparse.Namespace) -> int:
    db = _database(args)
    try:
        before = db.current_revision()
        db.upgrade()
        after = db.current_revision()
    except Exception as exc:  # reported as a sentence; the URL is shown without its password
        print(f"Could not upgrade {_where(db)}: {_reason(db, exc)}", file=sys.stderr)
        print("Check the database URL and that the server is reachable, then try again.", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if before == after:
        print(f"{_where(db)} is up to date (revision {after}).")
    else:
        print(f"Upgraded {_where(db)} from {before or 'empty'} to {after}.")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    url = make_url(_url(args))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).expanduser().exists():
        # Looking must not create the file (or its directory).
        print(
            f"No database yet at {url.database}; `endpoint-bot db upgrade` (or starting the bot) creates it."
        )
        return 0
    db = _database(args)
    try:
        current = db.current_revision()
        head = db.head_revision()
    except Exception as exc:
        print(f"Could not read {_where(db)}: {_reason(db, exc)}", file=sys.stderr)
        print("Check the database URL and that the server is reachable, then try again.", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    state = "up to date" if current == head else "needs `endpoint-bot db upgrade`"
    print(f"{_where(db)}: revision {current or 'none (empty database)'}, newest {head} ({state}).")
    return 0


def _where(db: Database) -> str:
    return db.url.render_as_string(hide_password=True)


def _reason(db: Database, exc: Exception) -> str:
    """The error's first line, with the URL's password (if the driver echoed it) scrubbed."""
    lines = str(exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    if db.url.password:
        reason = reason.replace(str(db.url.password), "***")
    return reason
