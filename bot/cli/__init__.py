"""`endpoint-bot`: the console entry point.

Each subcommand lives in its own module of this package exposing `register(subparsers)`, which adds
a parser and sets `func(args) -> int` on it. With no subcommand, the bot starts: the Slack app when
Slack tokens are set, otherwise the shell adapter.

Every command builds the whole parser, so these modules import only what their parsers need
(argparse, the vocabulary, units); what a command runs on (settings, the fit check, the database,
Slack, SkyPilot) is imported when it runs. `endpoint-bot fit` never loads the endpoint layer or
SQLAlchemy (tests/bot/cli/test_lazy_imports.py; timing: benchmarks/cli_fit_bench.py).
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
    "bot.cli.watchdog",
    "bot.cli.policy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endpoint-bot",
        description="LLM endpoints on cloud GPUs from Slack. With no command: start the bot "
        "(Slack when SLACK_BOT_TOKEN is set, else the shell).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from bot.cli.serve import run_default

        return run_default()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
