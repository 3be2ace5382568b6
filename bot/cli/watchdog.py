"""`endpoint-bot watchdog [--once]`: the watchdog alone, on the bot's database.

The Slack bot starts this as its child process (`ENDPOINT_BOT_WATCHDOG_MODE=process`, the default; see
`bot.supervisor`), so ticks never compete with Slack's acks for the interpreter; with `separate`, run it
yourself next to the bot. With Slack tokens it speaks through the Slack notifier behind its own outbox;
without, it prints what it would say. It leaves on SIGTERM/SIGINT, or when the process that started it
is gone. `--once` runs one tick, prints what it did and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings
    from core.wiring import Runtime


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watchdog",
        help="run the watchdog alone (the Slack bot starts it as its child process)",
        description="Run the watchdog (idle, lifetime and cost reminders and teardowns) on the bot's "
        "database until stopped. The Slack bot starts it itself unless ENDPOINT_BOT_WATCHDOG_MODE says "
        "otherwise.",
    )
    parser.add_argument("--once", action="store_true", help="one tick: print what it did and exit")
    parser.add_argument("--report-ticks", action="store_true", help=argparse.SUPPRESS)  # benchmarks
    parser.set_defaults(func=run)


def _runtime(settings: Settings) -> Runtime:
    if settings.has_slack:
        from bot.slack.bot import build_watchdog_runtime

        return build_watchdog_runtime(settings)
    from core.wiring import build_runtime

    return build_runtime(settings)


def run(args: argparse.Namespace) -> int:
    from core.settings import load_settings

    try:
        settings = load_settings()
    except Exception as exc:
        print(f"The settings are not valid: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    parent = os.getppid()
    runtime = _runtime(settings)
    try:
        runtime.start(reconcile_now=False, periodic=False, watchdog=not args.once)
        assert runtime.watchdog is not None
        if args.once:
            _print(runtime.watchdog.tick())
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        last = None
        while not stop.wait(0.5):
            if os.getppid() != parent:  # the bot that started us is gone
                break
            report = runtime.watchdog.last_report
            if args.report_ticks and report is not None and report is not last:
                _print(report)
                last = report
    finally:
        runtime.close()
    return 0


def _print(report: Any) -> None:
    print(
        f"tick {report.seconds:.2f} s: {report.endpoints} endpoints, {report.scraped} scraped, "
        f"{report.scrape_failures} failed, {report.scrape_pending} not back in time, "
        f"{len(report.notices)} reminders, {len(report.teardowns)} teardowns, {len(report.errors)} errors",
        flush=True,
    )
