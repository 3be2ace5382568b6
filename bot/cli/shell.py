"""`endpoint-bot shell`: the text adapter at a prompt (what plain `endpoint-bot` runs without Slack tokens).

Type the same `/endpoint ...` lines as in Slack (the leading `/endpoint` is optional); cards, thread
replies and DMs print as labelled text and buttons are numbered choices. See `bot.shell`. Here: the
arguments, the settings and the log, building and starting the runtime, and ending the process.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, TextIO

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "shell",
        help="the bot at a text prompt: `/endpoint` commands, cards and DMs as text (no Slack needed)",
        description="Run the bot at a text prompt. Type `/endpoint ...` commands (or just `up ...`, `list`, "
        "...), a number to press a button, `help`, or `quit`. Reads standard input line by line, so "
        "`printf 'list\\n' | endpoint-bot shell` works. You are ENDPOINT_BOT_SHELL_USER (default U_SHELL).",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        default=None,
        help="at end of input or `quit`, wait for launches and teardowns in flight before exiting "
        "(default: ENDPOINT_BOT_SHELL_WAIT, else leave them to the next start's reconcile)",
    )
    parser.add_argument(
        "--log-file",
        default=None,
        metavar="PATH",
        help="write the log here instead of standard error",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_shell(wait=args.wait, log_file=args.log_file)


def _configure_logging(settings: Any, log_file: str | None) -> None:
    # INFO lines from the flows would drown the conversation on a terminal: stderr gets warnings and up
    # unless a level was asked for; a log file gets the configured level.
    explicit = "log_level" in settings.model_fields_set
    level = settings.log_level.upper() if (explicit or log_file) else "WARNING"
    target: dict[str, Any] = {"filename": log_file} if log_file else {"stream": sys.stderr}
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True, **target
    )


def run_shell(
    *,
    wait: bool | None = None,
    log_file: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the shell until `quit` or the end of input; the exit code is 0, or 1 when the bot cannot start."""
    # Imported here: every `endpoint-bot` command imports this module to register `shell`.
    from bot.shell.console import Console
    from bot.shell.leaving import abandon_notice, leave
    from bot.shell.notifier import ShellNotifier
    from bot.shell.session import Shell
    from bot.shell.terminal import save_history, setup_readline, stdin_reader
    from core.clock import SystemClock
    from core.settings import load_settings
    from core.wiring import build_runtime

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        settings = load_settings()
    except Exception as exc:  # pydantic's message names the variable and the bad value
        print(f"The settings are not valid: {exc}", file=sys.stderr)
        return 1
    _configure_logging(settings, log_file)
    wait = settings.shell_wait if wait is None else wait
    interactive = stdin.isatty() and stdout.isatty()
    console = Console(stdout, interactive=interactive)
    clock = SystemClock()
    notifier = ShellNotifier(console, channel_id=settings.shell_channel, clock=clock)
    try:
        runtime = build_runtime(settings, notifier=notifier, clock=clock)
        runtime.start()  # migrate, resume what a previous process left, reconcile periodically, watchdog
    except Exception as exc:
        log.exception("the shell could not start")
        print(
            f"The bot could not start ({type(exc).__name__}); the log says why. Check ENDPOINT_BOT_DB_PATH / "
            "ENDPOINT_BOT_DATABASE_URL and ENDPOINT_BOT_LAUNCHER.",
            file=sys.stderr,
        )
        return 1
    if interactive:
        setup_readline()
        console.line(
            f"endpoint-bot shell: you are {settings.shell_user} in #{settings.shell_channel}. "
            "Type `help`, or `quit` to leave."
        )
    shell = Shell(
        service=runtime.service,
        notifier=notifier,
        user_id=settings.shell_user,
        channel_id=settings.shell_channel,
        reader=stdin_reader(interactive, stdin),
        clock=clock,
    )
    abandon = False
    try:
        shell.run()
        abandon = not leave(shell, wait=wait)
    except KeyboardInterrupt:
        console.line("Interrupted.")
        abandon = bool(shell.flows_in_flight())
        if abandon:
            abandon_notice(shell, shell.flows_in_flight())
    finally:
        if interactive:
            save_history()
        runtime.close(wait=not abandon)
    if abandon:
        # Worker threads still following a launch would keep the interpreter alive until it ends; leave
        # the way a crash does (the store already holds the intent; reconcile picks it up at the next start).
        stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)
    return 0
