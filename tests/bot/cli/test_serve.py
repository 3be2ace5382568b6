"""`endpoint-bot serve` and the default start: which adapter runs, and what a missing token says."""

from __future__ import annotations

import pytest

from bot.cli import main

SLACK_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "ENDPOINT_BOT_SLACK_BOT_TOKEN",
)


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in SLACK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout


def test_serve_without_tokens_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN" in err and "SLACK_APP_TOKEN" in err and "docs/slack-setup.md" in err


def test_http_mode_needs_the_signing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-used")
    assert main(["serve", "--http", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_SIGNING_SECRET" in err and "xoxb-not-used" not in err


def test_default_start_without_slack_runs_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.cli.shell

    started: list[bool] = []
    monkeypatch.setattr(bot.cli.shell, "run_shell", lambda **kwargs: started.append(True) or 0)
    from bot.cli.serve import run_default

    assert run_default() == 0
    assert started == [True]


@pytest.mark.timeout(60)
def test_python_dash_m_bot_cli_is_the_same_entry_point(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "fit", "--help"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: endpoint-bot fit")
