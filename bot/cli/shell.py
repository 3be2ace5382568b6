"""`endpoint-bot shell`: the text adapter at a prompt (what plain `endpoint-bot` runs without Slack tokens).

Type the same `/endpoint ...` lines as in Slack (the leading `/endpoint` is optional); cards, thread
replies and DMs print as labelled text and buttons are numbered choices. See `bot.shell`.
"""

from __future__ import annotations

import argparse
from typing import Any


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
    from bot.shell import run_shell

    return run_shell(wait=args.wait, log_file=args.log_file)
