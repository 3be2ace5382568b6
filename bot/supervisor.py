"""`WatchdogChild`: the watchdog as a child process of the Slack bot, started, restarted and stopped with it.

`endpoint-bot serve` (and plain `endpoint-bot` with Slack tokens) starts `endpoint-bot watchdog` as a child
when `settings.watchdog_mode` is `process` (the default): the tick's scraping and parsing then run on
their own interpreter, never competing with Bolt's acks for the GIL. Both processes share the database
(SQLite in WAL mode with a busy timeout, or PostgreSQL); each delivers its own outbox rows (core.outbox
leases: one sender per message). The child leaves when its parent does (it watches its parent's pid),
so a killed bot leaves no orphan watchdog behind; a child that dies is started again after a backoff.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STEADY_AFTER_S = 60.0  # a child that ran this long starts the backoff over when it dies


class WatchdogChild:
    """Runs `python -m bot.cli watchdog` and keeps it running until `stop()`."""

    def __init__(self, argv: list[str] | None = None) -> None:
        self.argv = argv or [sys.executable, "-m", "bot.cli", "watchdog"]
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._supervise, name="epb-watchdog-child", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to finish its tick and leave (SIGTERM), then kill it if it does not."""
        self._stop.set()
        with self._lock:
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._thread is not None:
            self._thread.join(timeout)

    def _supervise(self) -> None:
        failures = 0
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self.process = subprocess.Popen(self.argv)  # inherits the environment: same settings
                self.starts += 1
            began = time.monotonic()
            log.info("watchdog process started (pid %s)", self.process.pid)
            code = self.process.wait()
            if self._stop.is_set():
                return
            failures = 0 if time.monotonic() - began > STEADY_AFTER_S else failures + 1
            delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
            log.error("watchdog process exited with %s; starting it again in %g s", code, delay)
            self._stop.wait(delay)
