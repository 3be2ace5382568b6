"""`endpoint-bot db upgrade|current` through the real entry point, on a SQLite file and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from core.db import Database

HEAD = Database("sqlite://").head_revision()


def test_upgrade_then_current_on_the_configured_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state" / "bot.db"
    monkeypatch.setenv("ENDPOINT_BOT_DB_PATH", str(path))
    monkeypatch.delenv("ENDPOINT_BOT_DATABASE_URL", raising=False)

    assert main(["db", "current"]) == 0
    assert "No database yet" in capsys.readouterr().out
    assert not path.parent.exists()  # looking created nothing

    assert main(["db", "upgrade"]) == 0
    assert f"from empty to {HEAD}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"up to date (revision {HEAD})" in capsys.readouterr().out

    assert main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert f"revision {HEAD}, newest {HEAD} (up to date)" in out
    assert str(path) in out
    db = Database(f"sqlite:///{path}")
    try:
        assert db.current_revision() == HEAD
    finally:
        db.dispose()


def test_upgrade_with_an_explicit_url(database_factory, capsys: pytest.CaptureFixture[str]) -> None:
    db = database_factory("postgresql")
    assert main(["db", "upgrade", "--url", db.url.render_as_string(hide_password=False)]) == 0
    assert f"to {HEAD}" in capsys.readouterr().out
    assert db.current_revision() == HEAD


def test_an_unreachable_database_fails_with_a_sentence_and_no_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg://bot:hunter2@127.0.0.1:9/epb?connect_timeout=1"
    assert main(["db", "upgrade", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "Could not upgrade postgresql+psycopg://bot:***@127.0.0.1:9/epb" in err
    assert "Check the database URL" in err
    assert "hunter2" not in err
    assert "Traceback" not in err


def test_db_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["db"])
    assert "upgrade" in capsys.readouterr().err


def test_current_on_an_empty_database(database_factory, capsys: pytest.CaptureFixture[str]) -> None:
    db = database_factory("postgresql")
    assert main(["db", "current", "--url", db.url.render_as_string(hide_password=False)]) == 0
    assert "none (empty database)" in capsys.readouterr().out
