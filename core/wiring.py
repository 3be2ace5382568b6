"""Build the running bot's core from settings: database, launcher, notifier, worker pool, clock, service.

Adapters (the Slack app, the shell, the CLI) call `build_runtime(settings, notifier=...)` once, then
`runtime.start()` (migrate the store, carry out stops acknowledged before a crash, start the outbox
sender, the reconcile thread, whose first sweep runs at once, and the one watchdog) and `runtime.close()`
at the end. `start` never waits on the cloud: a hung or dead SkyPilot API server delays only the
background sweep, and the bot's chat surface opens at once. Slack passes `outbox=True`: everything the
core says then goes through core.outbox (stored, retried off the calling thread). One-shot commands
pass `start(watchdog=False)`. Tests pass their own launcher, clock and database, and may call
`runtime.watchdog.tick()` themselves.

Not for: reading settings (core.settings) or anything chat-specific (bot/).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from core.clock import Clock, SystemClock
from core.db import Database
from core.endpoints import flows
from core.endpoints.flows import FlowContext, SharesFlows
from core.endpoints.service import EndpointService
from core.launcher.base import Launcher
from core.launcher.local import LocalLauncher
from core.launcher.skypilot import SkyPilotLauncher
from core.notifier import ConsoleNotifier, Notifier
from core.outbox import Outbox
from core.settings import Settings
from core.watchdog.runner import Watchdog
from core.workers import WorkerPool

log = logging.getLogger(__name__)


def build_launcher(settings: Settings) -> Launcher:
    """The launcher named by `settings.launcher` (SkyPilot is imported lazily inside it)."""
    if settings.launcher == "local":
        return LocalLauncher(settings)
    return SkyPilotLauncher(settings)


@dataclass
class Runtime(SharesFlows):
    """The wired core of one bot process: the service (whose flows hold the settings, database, launcher,
    notifier, worker pool and clock everything shares), the watchdog and the outbox."""

    service: EndpointService
    watchdog: Watchdog | None = None  # built by build_runtime; started by start() unless told not to
    outbox: Outbox | None = None  # the notifier the core uses, when the adapter's chat can fail
    _stop: threading.Event = field(default_factory=threading.Event)
    _reconciler: threading.Thread | None = None

    @property
    def flows(self) -> FlowContext:
        return self.service.flows

    def start(
        self,
        *,
        upgrade: bool = True,
        reconcile_now: bool = True,
        periodic: bool = True,
        watchdog: bool = True,
    ) -> None:
        """Migrate the store, carry out acknowledged stops, reconcile (resume what a previous process left)
        and then every interval, run the watchdog (idle, lifetime and cost reminders and teardowns) unless
        `watchdog=False`. With `periodic`, the first sweep runs on the reconcile thread, so start-up never
        waits on the cloud; without it, `reconcile_now` sweeps once here."""
        if upgrade:
            self.database.upgrade()
        if self.outbox is not None:
            self.outbox.start()
        self.service.resume_stops()
        if periodic and self._reconciler is None:
            self._reconciler = threading.Thread(
                target=self._reconcile_loop, args=(reconcile_now,), name="epb-reconcile", daemon=True
            )
            self._reconciler.start()
        elif reconcile_now:
            self.reconcile_once()
        if watchdog and self.watchdog is not None:
            try:
                self.watchdog.start()
            except Exception:
                log.exception("the watchdog could not start; endpoints are still stopped by their deadlines")

    def reconcile_once(self) -> None:
        try:
            self.service.reconcile()
        except Exception as exc:
            # The cloud API being down must not stop the bot; the next sweep tries again.
            log.warning("reconcile sweep failed (%s); the next sweep tries again", _one_line(exc))
            log.debug("reconcile sweep failure", exc_info=True)

    def _reconcile_loop(self, first_now: bool = True) -> None:
        if first_now:
            self.reconcile_once()
        interval = self.settings.reconcile_interval.total_seconds()
        while not self._stop.wait(interval):
            self.reconcile_once()

    def close(self, *, wait: bool = True) -> None:
        """Stop the watchdog, the reconcile thread and the worker pool (waiting for running flows when `wait`)."""
        if self.watchdog is not None:
            self.watchdog.stop(timeout=5)
        self._stop.set()
        if self._reconciler is not None:
            self._reconciler.join(timeout=5)
        self.workers.shutdown(wait=wait)
        self.flows.close()
        if self.outbox is not None:  # after the flows, so what they said gets a last round too
            self.outbox.stop(timeout=5)
            try:
                self.outbox.drain(timeout=5)  # what is left, the next start delivers or settles
            except Exception:
                log.warning("last outbox round failed", exc_info=True)
        closer = getattr(self.launcher, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:
                log.warning("launcher close failed", exc_info=True)


def build_runtime(
    settings: Settings,
    *,
    notifier: Notifier | None = None,
    launcher: Launcher | None = None,
    database: Any | None = None,
    clock: Clock | None = None,
    workers: WorkerPool | None = None,
    outbox: bool = False,
    **service_options: Any,
) -> Runtime:
    """Everything the service needs, from settings unless given; with `outbox`, the notifier is wrapped in
    a core.outbox.Outbox (for a chat that can refuse messages: Slack)."""
    database = database or Database.from_settings(settings)
    launcher = launcher or build_launcher(settings)
    notifier = notifier or ConsoleNotifier()
    workers = workers or WorkerPool.from_settings(settings)
    clock = clock or SystemClock()
    sender = None
    if outbox:
        sender = Outbox(
            notifier=notifier,
            database=database,
            clock=clock,
            key_deadline=settings.key_delivery_deadline,
            lease=settings.claim_ttl,
        )
        notifier = sender
    service = EndpointService(
        settings=settings,
        database=database,
        launcher=launcher,
        notifier=notifier,
        workers=workers,
        clock=clock,
        **service_options,
    )
    if sender is not None:
        sender.owner = service.flows.owner
        sender.on_key_lost = lambda endpoint_id, reason: flows.key_lost(
            service.flows, endpoint_id=endpoint_id, reason=reason
        )
    return Runtime(
        service=service,
        watchdog=Watchdog(settings, database, service, notifier, clock),
        outbox=sender,
    )


def _one_line(exc: BaseException) -> str:
    """An error as one log-friendly sentence: its type and first line, never a traceback."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300] if first else type(exc).__name__
