"""Files only the bot's user may read (issue 10, item 9): the SQLite database with its WAL and shared-memory
files, and the folders the bot creates for them."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from core.db import Database
from core.private_files import private_dir, private_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_and_shm_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    db_path = tmp_path / "made" / "by-the-bot" / "bot.db"
    database = Database(f"sqlite:///{db_path}")
    try:
        database.upgrade()
        with database.engine.connect() as connection:  # WAL mode: the -wal and -shm files exist while open
            connection.execute(text("SELECT 1"))
            files = [db_path, db_path.with_name("bot.db-wal"), db_path.with_name("bot.db-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        database.dispose()
    assert _mode(db_path.parent) == 0o700 and _mode(db_path.parent.parent) == 0o700


def test_an_old_readable_database_is_tightened_and_its_existing_folder_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    db_path = tmp_path / "old.db"
    first = Database(f"sqlite:///{db_path}")
    first.upgrade()
    first.dispose()
    db_path.chmod(0o644)  # as an older version left it
    again = Database(f"sqlite:///{db_path}")
    try:
        with again.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        again.dispose()
    assert _mode(db_path) == 0o600
    assert _mode(tmp_path) == 0o755, "the folder the user chose for the database is not changed"


def test_private_dir_and_file_helpers(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    assert _mode(folder) == 0o700 and _mode(tmp_path / "a") == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    private_dir(loose)
    assert _mode(loose) == 0o700
    file = private_file(folder / "f")
    assert _mode(file) == 0o600
    file.chmod(0o644)
    file.write_text("kept")
    private_file(file)
    assert _mode(file) == 0o600 and file.read_text() == "kept"
