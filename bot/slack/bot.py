"""Assemble the whole Slack bot: Web API client -> notifier -> runtime (service, watchdog) -> App Home -> Bolt app.

The order matters: the service needs the notifier, the notifier's App Home refresh needs the
service, so the Home is attached after both exist. Tests and benchmarks pass their own
`runtime_factory` (the real core over the fake cloud); production uses `core.wiring.build_runtime`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.app import build_app, make_web_client
from bot.slack.deps import SlackDeps
from bot.slack.home import HomePublisher
from bot.slack.notifier import SlackNotifier
from bot.slack.usergroups import UserGroups
from core.clock import Clock, SystemClock
from core.settings import Settings
from core.watchdog.runner import Watchdog
from core.wiring import Runtime, build_runtime
from core.workers import WorkerPool

CHAT_THREADS = 8  # concurrent chat commands being answered (each mostly waits on the store or the Hub)

RuntimeFactory = Callable[[Settings, SlackNotifier, Clock], Runtime]


@dataclass
class SlackBot:
    app: App
    deps: SlackDeps
    client: WebClient
    runtime: Runtime
    commands: WorkerPool

    @property
    def watchdog(self) -> Watchdog | None:
        """The runtime's one watchdog (idle/lifetime/cost reminder DMs with buttons, via the same notifier)."""
        return self.runtime.watchdog

    def close(self) -> None:
        self.commands.shutdown(wait=True)
        self.runtime.close()


def _production_runtime(
    settings: Settings, notifier: SlackNotifier, clock: Clock, *, watchdog: bool = True
) -> Runtime:
    # Everything the core says goes through the outbox: stored, retried off the launch thread (429 bursts).
    runtime = build_runtime(settings, notifier=notifier, clock=clock, outbox=True)
    # Migrate, carry out acknowledged stops, reconcile in the background, run the outbox and the watchdog.
    runtime.start(watchdog=watchdog)
    return runtime


def _attach_slack(
    notifier: SlackNotifier, runtime: Runtime, client: WebClient, clock: Clock
) -> HomePublisher:
    """What the notifier needs from the runtime (the policy's key delivery, the App Home) and the policy
    from Slack (user groups)."""
    policy = runtime.service.policy
    notifier.key_delivery = lambda: policy.policy.key_delivery
    policy.groups = UserGroups(client)  # Slack user groups named in the policy file, cached
    home = HomePublisher(client=client, service=runtime.service, clock=clock)
    notifier.home_refresher = home.publish
    return home


def build_watchdog_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """The core of the `endpoint-bot watchdog` process: the service and watchdog around the Slack notifier
    behind the outbox (its DMs, thread posts and card updates), with App Home refreshes; no Bolt app.
    Not started: the caller starts it."""
    clock = clock or SystemClock()
    client = make_web_client(settings)
    notifier = SlackNotifier(client, clock=clock)
    runtime = build_runtime(settings, notifier=notifier, clock=clock, outbox=True)
    _attach_slack(notifier, runtime, client, clock)
    return runtime


def build_bot(
    settings: Settings,
    *,
    runtime_factory: RuntimeFactory | None = None,
    client: WebClient | None = None,
    clock: Clock | None = None,
    token_verification: bool = True,
    command_threads: int = CHAT_THREADS,
    start_watchdog: bool = True,
) -> SlackBot:
    """Wire the bot; `runtime_factory` builds the core around the Slack notifier (tests: fake cloud, not
    started: they call `bot.watchdog.tick()` themselves). `start_watchdog` applies to the production runtime."""
    clock = clock or SystemClock()
    client = client or make_web_client(settings)
    notifier = SlackNotifier(client, clock=clock)
    runtime = (runtime_factory or partial(_production_runtime, watchdog=start_watchdog))(
        settings, notifier, clock
    )
    home = _attach_slack(notifier, runtime, client, clock)
    # Chat work (fit checks, lists, stops) gets its own WorkerPool: launch flows hold a worker thread
    # for the whole provisioning, and a reply must never queue behind minutes-long launches.
    commands = WorkerPool(size=command_threads, name="epb-chat")
    deps = SlackDeps(
        settings=settings,
        service=runtime.service,
        pool=commands,
        notifier=notifier,
        home=home,
        clock=clock,
    )
    app = build_app(deps, client=client, token_verification=token_verification)
    return SlackBot(app=app, deps=deps, client=client, runtime=runtime, commands=commands)
