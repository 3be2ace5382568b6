"""Build the running bot's core from settings: database, launcher, notifier, worker pool, clock, service.

Adapters (the Slack app, the shell, the CLI) call `build_runtime(settings, notifier=...)` once, then
`runtime.start()` (migrate the store, reconcile once, start the periodic reconcile thread and the one
watchdog) and `runtime.close()` at the end. One-shot commands pass `start(watchdog=False)`. Tests pass
their own launcher, clock and database, and may call `runtime.watchdog.tick()` themselves.

Not for: reading settings (core.settings) or anything chat-specific (bot/).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.clock import Clock, SystemClock
from core.endpoints.service import EndpointService
from core.launcher.base import Launcher
from core.notifier import ConsoleNotifier, Notifier
from core.settings import Settings
from core.workers import WorkerPool

if TYPE_CHECKING:
    from core.watchdog.runner import Watchdog

log = logging.getLogger(__name__)


def build_launcher(settings: Settings) -> Launcher:
    """The launcher named by `settings.launcher` (SkyPilot is imported lazily inside it)."""
    if settings.launcher == "local":
        from core.launcher.local import LocalLauncher

        return LocalLauncher(settings)
    from core.launcher.skypilot import SkyPilotLauncher

    return SkyPilotLauncher(settings)


@dataclass
class Runtime:
    """The wired core of one bot process."""

    settings: Settings
    database: Any  # core.db.Database
    launcher: Launcher
    notifier: Notifier
    workers: WorkerPool
    clock: Clock
    service: EndpointService
    watchdog: Watchdog | None = None  # built by build_runtime; started by start() unless told not to
    _stop: threading.Event = field(default_factory=threading.Event)
    _reconciler: threading.Thread | None = None

    def start(
        self,
        *,
        upgrade: bool = True,
        reconcile_now: bool = True,
        periodic: bool = True,
        watchdog: bool = True,
    ) -> None:
        """Migrate the store, reconcile once (resume what a previous process left), then every interval;
        run the watchdog (idle, lifetime and cost reminders and teardowns) unless `watchdog=False`."""
        if upgrade:
            self.database.upgrade()
        if reconcile_now:
            self.reconcile_once()
        if periodic and self._reconciler is None:
            self._reconciler = threading.Thread(
                target=self._reconcile_loop, name="epb-reconcile", daemon=True
            )
            self._reconciler.start()
        if watchdog and self.watchdog is not None:
            try:
                self.watchdog.start()
            except Exception:
                log.exception("the watchdog could not start; endpoints are still stopped by their deadlines")

    def reconcile_once(self) -> None:
        try:
            self.service.reconcile()
        except Exception:
            # The cloud API being down must not stop the bot; the next sweep tries again.
            log.exception("reconcile sweep failed")

    def _reconcile_loop(self) -> None:
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
    **service_options: Any,
) -> Runtime:
    """Everything the service needs, from settings unless given."""
    from core.db import Database

    database = database or Database.from_settings(settings)
    launcher = launcher or build_launcher(settings)
    notifier = notifier or ConsoleNotifier()
    workers = workers or WorkerPool.from_settings(settings)
    clock = clock or SystemClock()
    service = EndpointService(
        settings=settings,
        database=database,
        launcher=launcher,
        notifier=notifier,
        workers=workers,
        clock=clock,
        **service_options,
    )
    from core.watchdog.runner import Watchdog

    return Runtime(
        settings=settings,
        database=database,
        launcher=launcher,
        notifier=notifier,
        workers=workers,
        clock=clock,
        service=service,
        watchdog=Watchdog(settings, database, service, notifier, clock),
    )
