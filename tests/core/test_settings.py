"""Settings: parsing from the environment, secrets kept secret, and the README table in step."""

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings
from core.settings_doc import BEGIN, END, replace_section, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_durations_lists_and_well_known_token_names(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(
        monkeypatch,
        ENDPOINT_BOT_IDLE_TIMEOUT="1h30m",
        ENDPOINT_BOT_WATCHDOG_INTERVAL="15",
        ENDPOINT_BOT_ADMIN_USER_IDS="U1, U2,,",
        SLACK_BOT_TOKEN="xoxb-test-not-real",
        HF_TOKEN="hf_test_not_real",
        ENDPOINT_BOT_LAUNCHER="local",
    )
    assert settings.idle_timeout == timedelta(minutes=90)
    assert settings.watchdog_interval == timedelta(seconds=15)
    assert settings.admin_user_ids == ["U1", "U2"]
    assert settings.has_slack
    assert settings.launcher == "local"
    assert settings.hf_token is not None and settings.hf_token.get_secret_value() == "hf_test_not_real"


def test_tokens_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, SLACK_BOT_TOKEN="xoxb-secret-value", HF_TOKEN="hf_secret_value")
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "xoxb-secret-value" not in shown
    assert "hf_secret_value" not in shown


def test_bad_values_are_refused_with_the_field_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="idle_timeout"):
        _settings(monkeypatch, ENDPOINT_BOT_IDLE_TIMEOUT="soon")
    with pytest.raises(ValidationError, match="launcher"):
        _settings(monkeypatch, ENDPOINT_BOT_LAUNCHER="kubernetes")


def test_database_url_overrides_the_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings(monkeypatch, ENDPOINT_BOT_DB_PATH="/tmp/x.db").sqlalchemy_url == "sqlite:////tmp/x.db"
    url = "postgresql+psycopg://postgres@127.0.0.1/test"
    assert _settings(monkeypatch, ENDPOINT_BOT_DATABASE_URL=url).sqlalchemy_url == url


def test_every_setting_documents_its_default() -> None:
    undocumented = [
        name for name, field in Settings.model_fields.items() if "Default" not in (field.description or "")
    ]
    assert undocumented == []


def test_readme_configuration_table_matches_the_settings_class() -> None:
    text = README.read_text()
    assert BEGIN in text and END in text
    assert replace_section(text, settings_table()) == text, (
        "README's configuration table is stale: run `.venv/bin/python -m core.settings_doc --write README.md`"
    )
