"""The bot's own worker pool: where launches, readiness checks and teardowns run.

Chat listeners must answer within seconds, so every slow step is handed to this pool. It is a thin
wrapper around `ThreadPoolExecutor` that:
- names its threads (`epb-worker_3`), so a stack dump says whose thread it is;
- wraps every task so no exception escapes a worker thread silently: it is logged with the task's
  name (the flows themselves turn errors into endpoint states; this is the last line of defence);
- counts tasks in flight (and the peak), and lets tests and the CLI wait until it is idle (`join`);
- keeps separate lanes of threads (`lanes={"teardown": 4}`): teardowns (the thing that stops the billing)
  retry with sleeps, and without a lane of their own they would queue behind a burst of launch steps.
  `submit(..., lane="teardown")` uses that lane;
- runs a task later without holding a thread meanwhile (`submit_later(delay, fn)`): ONE timer thread
  keeps a heap of due times and hands each task to the pool when it is due. Multi-step work (a launch
  followed for minutes) waits between its short steps here, not on a blocked worker thread. A task
  waiting for its time counts as in flight, so `join` waits for it too; shutdown drops it.

Not for: scheduling periodic work (see `core.wiring`), or anything that must survive a restart
(intent lives in the store; reconcile picks work up again after a restart).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class WorkerPool:
    """A fixed-size pool of named threads with idle-waiting and no silent failures."""

    def __init__(self, *, size: int, name: str = "epb-worker", lanes: dict[str, int] | None = None) -> None:
        if size < 1 or any(n < 1 for n in (lanes or {}).values()):
            raise ValueError("a worker pool (and each lane) needs at least one thread")
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._lanes = {
            lane: ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"{name}-{lane}")
            for lane, n in (lanes or {}).items()
        }
        self._idle = threading.Condition()
        self._pending = 0  # submitted and not finished (queued or running)
        self._running = 0
        self._peak_running = 0
        self._failures = 0
        self._lane_sizes = dict(lanes or {})
        self._busy: dict[str | None, int] = {}  # tasks running now, by lane (None: the main threads)
        self._closed = False
        self._timers: list[tuple[float, int, str, str | None, Callable[[], Any]]] = []  # a heap by due time
        self._timer_seq = itertools.count()
        self._timer_thread: threading.Thread | None = None
        self._name = name

    @classmethod
    def from_settings(cls, settings: Any) -> WorkerPool:
        """The main pool sized by `settings.worker_threads`, plus a teardown lane a quarter its size."""
        size = settings.worker_threads
        return cls(size=size, lanes={"teardown": max(2, size // 4)})

    def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        task_name: str | None = None,
        lane: str | None = None,
        **kwargs: Any,
    ) -> Future:
        """Run `fn(*args, **kwargs)` on a worker thread (of `lane` when the pool has it, else the main
        threads). The returned future never holds an exception that nobody looked at: failures are
        logged here."""
        label = task_name or getattr(fn, "__qualname__", repr(fn))
        with self._idle:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            self._pending += 1
        return self._enqueue(label, lane, fn, args, kwargs)

    def _enqueue(
        self, label: str, lane: str | None, fn: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Future:
        """Hand an already counted task to its executor."""
        try:
            lane = lane if lane in self._lanes else None
            executor = self._lanes[lane] if lane is not None else self._executor
            future = executor.submit(self._run, label, lane, fn, args, kwargs)
        except BaseException:
            self._done()
            raise
        # Counted down when the future settles: after running, or when cancelled at shutdown.
        future.add_done_callback(lambda _f: self._done())
        return future

    def submit_later(
        self,
        delay: float,
        fn: Callable[..., Any],
        /,
        *args: Any,
        task_name: str | None = None,
        lane: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Run `fn(*args, **kwargs)` on the pool once `delay` seconds have passed; no thread is held
        meanwhile (the one timer thread keeps the due time). Counts as in flight from now."""
        label = task_name or getattr(fn, "__qualname__", repr(fn))
        due = time.monotonic() + max(0.0, delay)
        with self._idle:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            self._pending += 1
            heapq.heappush(
                self._timers, (due, next(self._timer_seq), label, lane, lambda: fn(*args, **kwargs))
            )
            if self._timer_thread is None:
                self._timer_thread = threading.Thread(
                    target=self._timer_loop, name=f"{self._name}-timer", daemon=True
                )
                self._timer_thread.start()
            self._idle.notify_all()  # an earlier due time than the one the timer thread sleeps towards

    @property
    def timers(self) -> int:
        """Tasks waiting for their time (`submit_later`)."""
        with self._idle:
            return len(self._timers)

    def _timer_loop(self) -> None:
        """Hand each timed task to the pool when due; ends when none waits (`submit_later` starts another)."""
        while True:
            with self._idle:
                while not self._closed and self._timers:
                    now = time.monotonic()
                    if self._timers[0][0] <= now:
                        break
                    self._idle.wait(self._timers[0][0] - now)
                if self._closed or not self._timers:
                    self._timer_thread = None
                    return
                _due, _seq, label, lane, call = heapq.heappop(self._timers)
            try:
                self._enqueue(label, lane, call, (), {})
            except RuntimeError:  # shut down between the pop and the hand-over: dropped, counted out
                log.info("task %s dropped: the worker pool is shut down", label)

    def _run(self, label: str, lane: str | None, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        with self._idle:
            self._running += 1
            self._busy[lane] = self._busy.get(lane, 0) + 1
            self._peak_running = max(self._peak_running, self._running)
        try:
            return fn(*args, **kwargs)
        except BaseException:  # a worker thread is the end of the line: log, never lose it
            with self._idle:
                self._failures += 1
            log.exception("task %s failed in a worker thread", label)
            return None
        finally:
            with self._idle:
                self._running -= 1
                self._busy[lane] -= 1

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Block until no task is queued or running (tasks may submit more tasks). False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    @property
    def in_flight(self) -> int:
        """Tasks queued or running right now."""
        with self._idle:
            return self._pending

    def free_threads(self, lane: str | None = None) -> int:
        """Threads of `lane` (default: the main threads) not running a task right now."""
        lane = lane if lane in self._lanes else None
        with self._idle:
            size = self.size if lane is None else self._lane_sizes[lane]
            return max(0, size - self._busy.get(lane, 0))

    @property
    def peak_running(self) -> int:
        """The most tasks that ran at the same time since the pool started."""
        with self._idle:
            return self._peak_running

    @property
    def failures(self) -> int:
        """Tasks that ended with an exception (each was logged)."""
        with self._idle:
            return self._failures

    def shutdown(self, *, wait: bool = True, cancel_pending: bool = False) -> None:
        """Refuse new tasks; optionally wait for running ones and drop queued ones."""
        with self._idle:
            self._closed = True
            dropped, self._timers = len(self._timers), []
            self._pending -= dropped
            self._idle.notify_all()
        for executor in (self._executor, *self._lanes.values()):
            executor.shutdown(wait=wait, cancel_futures=cancel_pending)
