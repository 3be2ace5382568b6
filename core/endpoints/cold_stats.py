"""What `up` costs in minutes, from history: median cold starts per model, GPUs and engine (`/endpoint stats`).

Reads the `cold_starts` rows of launches that reached READY (core.endpoints.timings). Each group's
median total and the median of every phase measured in it (over the launches that measured it; a phase
no launch measured is left out). `typical(...)` is the one figure `up` quotes in a new thread:
"similar launches took ~N min"; `TypicalCache` keeps that figure a few seconds per (model, GPUs, engine),
so a burst of identical `up`s reads the history once.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.endpoints.records import Phase
from core.endpoints.timings import PHASES, ColdStartRecord

MAX_ROWS = 5000  # the most recent launches read for the stats


@dataclass(frozen=True)
class LaunchHistory:
    """Median cold start of one (model, GPUs, engine) over `launches` launches that reached READY."""

    model: str
    accelerators: str
    engine: str
    launches: int
    total_s: float
    phases: tuple[Phase, ...]  # medians, in the order they happen; `note` when every launch agreed


def _finished(session: Session) -> list[ColdStartRecord]:
    stmt = (
        select(ColdStartRecord)
        .where(ColdStartRecord.total_s.is_not(None))
        .order_by(ColdStartRecord.ready_at.desc())
        .limit(MAX_ROWS)
    )
    return list(session.scalars(stmt).all())


def _summary(key: tuple[str, str, str], rows: list[ColdStartRecord]) -> LaunchHistory:
    phases = []
    for name in PHASES:
        measured = [p for row in rows for p in row.phases() if p.name == name]
        if measured:
            notes = {p.note for p in measured}
            note = notes.pop() if len(notes) == 1 else None
            phases.append(Phase(name, median(p.seconds for p in measured), note))
    model, accelerators, engine = key
    return LaunchHistory(
        model=model,
        accelerators=accelerators,
        engine=engine,
        launches=len(rows),
        total_s=median(row.total_s or 0.0 for row in rows),
        phases=tuple(phases),
    )


def history(session: Session, *, contains: str | None = None) -> list[LaunchHistory]:
    """Every (model, GPUs, engine) with finished launches, most launches first; `contains` keeps the
    groups whose model or GPUs contain it (case-insensitive)."""
    groups: dict[tuple[str, str, str], list[ColdStartRecord]] = defaultdict(list)
    needle = (contains or "").strip().lower()
    for row in _finished(session):
        if needle and needle not in row.model.lower() and needle not in row.accelerators.lower():
            continue
        groups[(row.model, row.accelerators, row.engine)].append(row)
    found = [_summary(key, rows) for key, rows in groups.items()]
    return sorted(found, key=lambda h: (-h.launches, h.model, h.accelerators, h.engine))


def typical(session: Session, *, model: str, accelerators: str, engine: str) -> LaunchHistory | None:
    """The history of launches like this one (same model, GPUs and engine), or None without any."""
    stmt = (
        select(ColdStartRecord)
        .where(
            ColdStartRecord.total_s.is_not(None),
            ColdStartRecord.model == model,
            ColdStartRecord.accelerators == accelerators,
            ColdStartRecord.engine == engine,
        )
        .order_by(ColdStartRecord.ready_at.desc())
        .limit(MAX_ROWS)
    )
    rows = list(session.scalars(stmt).all())
    return _summary((model, accelerators, engine), rows) if rows else None


Key = tuple[str, str, str]  # (model, accelerators, engine)


@dataclass
class TypicalCache:
    """`typical` per (model, GPUs, engine), kept `ttl_s` seconds: a burst of identical `up`s reads the
    history once. This process's launches `forget` their key when they add a cold start, so the figure
    is never staler than `ttl_s` for another process's launches, and never stale for this one's."""

    ttl_s: float = 30.0
    _kept: dict[Key, tuple[float, LaunchHistory | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Key, read: Callable[[], LaunchHistory | None]) -> LaunchHistory | None:
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.ttl_s:
            return kept[1]
        found = read()
        with self._lock:
            self._kept[key] = (now, found)
        return found

    def forget(self, key: Key) -> None:
        with self._lock:
            self._kept.pop(key, None)
