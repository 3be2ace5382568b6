"""`endpoint-bot`: the console entry point.

Each subcommand lives in its own module of this package exposing `register(subparsers)`, which adds
a parser and sets `func(args) -> int` on it. With no subcommand, the bot starts: the Slack app when
Slack tokens are set, otherwise the shell adapter.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Modules that provide subcommands, in help order. Each exposes register(subparsers).
SUBCOMMAND_MODULES = (
    "bot.cli.fit",
    "bot.cli.endpoints",
    "bot.cli.db",
    "bot.cli.serve",
    "bot.cli.shell",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endpoint-bot",
        description="LLM endpoints on cloud GPUs from Slack. With no command: start the bot "
        "(Slack when SLACK_BOT_TOKEN is set, else the shell).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # subcommand not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        try:
            from bot.cli.serve import run_default
        except ModuleNotFoundError:
            parser.print_help()
            return 1
        return run_default()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
