"""Following launch requests without a thread per launch: one poll round for every request in flight.

SkyPilot's SDK is request-based: a launch is a request id whose status can be asked for, not a call to
block on. `RequestFollower.follow(request_id, done)` adds a request to the set this process follows;
every `every` seconds ONE poll round (a short task on the worker pool, started by the pool's timer
thread) asks the launcher for the status of all of them at once (`request_statuses` where the launcher
has it, one `request_status` per id otherwise; a request just added is first asked about within
FIRST_POLL_S). Each request that finished (SUCCEEDED, FAILED,
CANCELLED; or forgotten: None), or whose deadline passed, leaves the set and its `done(outcome)` runs
as its own task on the pool. Between rounds nothing blocks: 1,000 launches in flight cost one timer
entry and one status call per round.

A poll round that fails (the API server unreachable) is retried next round; after `give_up_after`
failed rounds in a row every follower gets the error, so a dead API server fails the launches with its
own explanation instead of running out their deadlines.

Not for: the launch's own steps (core.endpoints.flows) or readiness probes (core.readiness).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.workers import WorkerPool

log = logging.getLogger(__name__)

FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
DEFAULT_EVERY_S = 2.0  # settings.request_poll_seconds: one batched status call per round
FIRST_POLL_S = 0.5  # a newly followed request is first asked about this soon (a local launch is done at once)


@dataclass(frozen=True)
class RequestOutcome:
    """How following one request ended: its last status (None = the launcher forgot it), the error of
    the poll rounds when they kept failing, or `timed_out` with the status it was still in."""

    request_id: str
    status: str | None
    timed_out: bool = False
    error: Exception | None = None


@dataclass
class _Followed:
    done: Callable[[RequestOutcome], None]
    deadline: float | None  # time.monotonic()
    name: str


def request_statuses(launcher: Any, request_ids: Iterable[str]) -> dict[str, str | None]:
    """The status of every id, in one call where the launcher offers `request_statuses`."""
    ids = list(request_ids)
    batched = getattr(launcher, "request_statuses", None)
    if batched is not None:
        return dict(batched(ids))
    return {rid: launcher.request_status(rid) for rid in ids}


class RequestFollower:
    """The requests this process follows, polled together every `every` seconds on `workers`."""

    def __init__(
        self, *, launcher: Any, workers: WorkerPool, every: float = DEFAULT_EVERY_S, give_up_after: int = 5
    ) -> None:
        self.launcher = launcher
        self.workers = workers
        self.every = every
        self.give_up_after = give_up_after
        self._followed: dict[str, _Followed] = {}
        self._lock = threading.Lock()
        self._round_at: float | None = None  # when the armed poll round is due (None: none armed)
        self._token = 0  # the armed round's; an earlier one armed later supersedes it
        self._failed_rounds = 0
        self.rounds = 0  # poll rounds run (for tests and benchmarks)
        self.peak_followed = 0

    def follow(
        self,
        request_id: str,
        done: Callable[[RequestOutcome], None],
        *,
        timeout: float | None = None,
        name: str = "",
    ) -> None:
        """Follow `request_id` until it finishes (or `timeout` seconds pass); then `done(outcome)` runs on
        the pool. `name` labels its task."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._followed[request_id] = _Followed(done=done, deadline=deadline, name=name or request_id)
            self.peak_followed = max(self.peak_followed, len(self._followed))
            self._arm(first=True)

    def forget(self, request_id: str) -> None:
        """Stop following `request_id` (its `done` never runs)."""
        with self._lock:
            self._followed.pop(request_id, None)

    @property
    def following(self) -> int:
        with self._lock:
            return len(self._followed)

    def _arm(self, *, first: bool = False) -> None:
        """Schedule the next poll round unless one comes soon enough (lock held); `first`: a request was
        just added, so within FIRST_POLL_S rather than a whole interval."""
        if not self._followed:
            return
        delay = min(self.every, FIRST_POLL_S) if first else self.every
        due = time.monotonic() + delay
        if self._round_at is not None and self._round_at <= due:
            return
        self._token += 1
        try:
            self.workers.submit_later(delay, self._round, self._token, task_name="follow-requests")
        except RuntimeError:  # the pool is shut down: nothing more is followed
            return
        self._round_at = due

    def _round(self, token: int) -> None:
        """One poll round: one status call for every followed request; the finished ones are handed on."""
        with self._lock:
            if token != self._token:
                return  # superseded by a round armed sooner
            self._round_at = None
            ids = list(self._followed)
        self.rounds += 1
        try:
            statuses = request_statuses(self.launcher, ids) if ids else {}
        except Exception as exc:
            self._round_failed(exc)
            return
        self._failed_rounds = 0
        now = time.monotonic()
        ended: list[tuple[_Followed, RequestOutcome]] = []
        with self._lock:
            for rid in ids:
                followed = self._followed.get(rid)
                if followed is None:
                    continue
                status = statuses.get(rid)
                status = status.upper() if status else None
                if status is None or status in FINISHED:
                    ended.append((followed, RequestOutcome(rid, status)))
                elif followed.deadline is not None and now >= followed.deadline:
                    ended.append((followed, RequestOutcome(rid, status, timed_out=True)))
                else:
                    continue
                del self._followed[rid]
            self._arm()
        self._hand_on(ended)

    def _round_failed(self, exc: Exception) -> None:
        self._failed_rounds += 1
        log.warning("could not poll %s launch requests (%s); retrying", self.following, type(exc).__name__)
        ended: list[tuple[_Followed, RequestOutcome]] = []
        with self._lock:
            if self._failed_rounds >= self.give_up_after:
                ended = [(f, RequestOutcome(rid, None, error=exc)) for rid, f in self._followed.items()]
                self._followed.clear()
                self._failed_rounds = 0
            self._arm()
        self._hand_on(ended)

    def _hand_on(self, ended: list[tuple[_Followed, RequestOutcome]]) -> None:
        for followed, outcome in ended:
            try:
                self.workers.submit(followed.done, outcome, task_name=f"launch-step:{followed.name}")
            except RuntimeError:  # the pool is shut down: the store keeps the launch for reconcile
                log.info("request %s finished after shutdown; left to reconcile", outcome.request_id)
