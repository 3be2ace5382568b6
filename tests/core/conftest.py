"""Fixtures shared by the core tests: a migrated store on SQLite and PostgreSQL (tests/db_fixtures.py)."""

from tests.db_fixtures import *  # noqa: F403
