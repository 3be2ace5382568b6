"""`endpoint-bot serve [--http --port N]`: run the Slack bot (Socket Mode by default, or HTTP).

Also `run_default()`, what plain `endpoint-bot` (and `make run`) does: the Slack bot when
SLACK_BOT_TOKEN is set, else the shell adapter (`bot.cli.shell.run_shell`).

Socket Mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN (xapp-, connections:write) and no public
URL. HTTP mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET and serves `/slack/events` on a
threaded WSGI server.

The watchdog runs in a child process (`endpoint-bot watchdog`, supervised by `bot.supervisor`) unless
`ENDPOINT_BOT_WATCHDOG_MODE` says `thread` (in the bot's process) or `separate` (started by you).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the settings are loaded when the bot starts, not when any command's parser is built
    from core.settings import Settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Slack bot (Socket Mode, or HTTP with --http)",
        description="Run the Slack bot. Socket Mode by default (SLACK_BOT_TOKEN + SLACK_APP_TOKEN); "
        "--http serves /slack/events instead (SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET).",
    )
    parser.add_argument("--http", action="store_true", help="HTTP mode instead of Socket Mode")
    parser.add_argument(
        "--port", type=int, default=None, help="HTTP port (default: ENDPOINT_BOT_HTTP_PORT, 3000)"
    )
    parser.add_argument("--host", default="0.0.0.0", help="HTTP bind address (default: 0.0.0.0)")
    parser.set_defaults(func=run)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def missing_settings(settings: Settings, *, http: bool) -> list[str]:
    """The environment variables this mode needs and does not have."""
    missing = [] if settings.slack_bot_token else ["SLACK_BOT_TOKEN"]
    if http and not settings.slack_signing_secret:
        missing.append("SLACK_SIGNING_SECRET")
    if not http and not settings.slack_app_token:
        missing.append("SLACK_APP_TOKEN")
    return missing


def run(args: argparse.Namespace) -> int:
    from core.settings import load_settings

    try:
        settings = load_settings()
    except (
        Exception
    ) as exc:  # pydantic's message names the variable and the bad value (a policy file: its line)
        print(f"The settings are not valid: {exc}", file=sys.stderr)
        return 1
    return serve(settings, http=args.http, port=args.port, host=args.host)


def serve(settings: Settings, *, http: bool = False, port: int | None = None, host: str = "0.0.0.0") -> int:
    """Start the bot and block until SIGINT/SIGTERM."""
    _configure_logging(settings)
    missing = missing_settings(settings, http=http)
    if missing:
        mode = "HTTP mode" if http else "Socket Mode"
        print(
            f"{mode} needs {', '.join(missing)}. See docs/slack-setup.md for where to find them"
            + ("." if http else ", or run `endpoint-bot serve --http` with SLACK_SIGNING_SECRET."),
            file=sys.stderr,
        )
        return 2
    from bot import heap
    from bot.slack.bot import build_bot
    from bot.supervisor import WatchdogChild

    bot = build_bot(settings, start_watchdog=settings.watchdog_mode == "thread")
    heap.settle()  # start-up's objects out of the collector's full passes (they stall every ack)
    child = WatchdogChild() if settings.watchdog_mode == "process" else None
    if child is not None:
        child.start()  # the watchdog's own process (ENDPOINT_BOT_WATCHDOG_MODE)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if http:
            from bot.slack.http_server import make_http_server

            server = make_http_server(bot.app, host=host, port=port or settings.http_port)
            threading.Thread(target=server.serve_forever, name="slack-http", daemon=True).start()
            log.info("serving Slack HTTP requests on %s:%s/slack/events", host, server.server_port)
            stop.wait()
            server.shutdown()
        else:
            from bot.slack.replays import ReplayAwareSocketModeHandler

            assert settings.slack_app_token is not None
            handler = ReplayAwareSocketModeHandler(bot.app, settings.slack_app_token.get_secret_value())
            handler.connect()
            log.info("connected to Slack in Socket Mode")
            stop.wait()
            handler.close()
    finally:
        if child is not None:
            child.stop()
        bot.close()
    return 0


def run_default() -> int:
    """`endpoint-bot` with no subcommand: Slack when SLACK_BOT_TOKEN is set, else the shell adapter."""
    from core.settings import load_settings

    settings = load_settings()
    if settings.has_slack:
        return serve(
            settings, http=settings.slack_app_token is None and settings.slack_signing_secret is not None
        )
    from bot.cli.shell import run_shell

    return int(run_shell() or 0)
