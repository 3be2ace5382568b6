"""Reading lines: `input()` with readline history and completion on a terminal, `readline()` from a pipe."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.commands import COMMAND

log = logging.getLogger(__name__)


def stdin_reader(interactive: bool, stream: TextIO) -> Callable[[str], str | None]:
    if interactive:

        def read_interactive(prompt: str) -> str | None:
            try:
                return input(prompt)
            except EOFError:
                print(file=sys.stdout)
                return None

        return read_interactive

    def read_piped(_prompt: str) -> str | None:
        line = stream.readline()
        return line if line else None

    return read_piped


def _history_file() -> Path:
    return Path.home() / ".cache" / "endpoint-bot" / "shell_history"


def setup_readline() -> None:
    """History (like Hubot's shell) and completion of the first word; best effort."""
    try:
        import readline

        words = ["up", "fit", "list", "status", "down", "extend", "help", "wait", "quit", COMMAND]
        readline.set_completer(
            lambda prefix, i: ([w + " " for w in words if w.startswith(prefix)] + [None])[i]
        )
        readline.parse_and_bind("tab: complete")
        history = _history_file()
        if history.exists():
            readline.read_history_file(history)
        readline.set_history_length(1000)
    except Exception:
        log.debug("readline unavailable", exc_info=True)


def save_history() -> None:
    try:
        import readline

        history = _history_file()
        history.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(history)
    except Exception:
        log.debug("could not save the shell history", exc_info=True)
