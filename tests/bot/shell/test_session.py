"""`Shell` in-process: an unexpected error is one apology on the console, its traceback only in the log.

The conversation itself (commands, choices, waiting, leaving) is driven through a real `endpoint-bot
shell` process in tests/bot/cli/test_shell.py.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from bot.shell.console import Console
from bot.shell.notifier import ShellNotifier
from bot.shell.session import SORRY, Shell
from core.clock import ManualClock


class _BrokenService:
    """Stands in for the service only to make it fail unexpectedly (nothing else can, on demand)."""

    flows: Any = None

    def list(self, **_: Any) -> Any:
        raise RuntimeError("database is on fire")


def test_an_unexpected_error_is_one_apology_and_the_traceback_goes_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    notifier = ShellNotifier(Console(stream), clock=ManualClock())
    lines = iter(["list", "help status"])
    shell = Shell(
        service=_BrokenService(),  # type: ignore[arg-type]
        notifier=notifier,
        user_id="U1",
        channel_id="C1",
        reader=lambda _prompt: next(lines, None),
        clock=ManualClock(),
    )
    with caplog.at_level(logging.ERROR, logger="bot.shell.session"):
        shell.run()
    out = stream.getvalue()
    assert out.splitlines()[0] == SORRY
    assert "fire" not in out and "Traceback" not in out
    assert "`/endpoint status NAME`" in out, "the shell keeps going after a failure"
    assert any(r.exc_info and "database is on fire" in str(r.exc_info[1]) for r in caplog.records)
