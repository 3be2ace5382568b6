"""Database fixtures for CLI tests (tests/db_fixtures.py)."""

from tests.db_fixtures import *  # noqa: F403
