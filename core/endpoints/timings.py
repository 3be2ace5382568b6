"""Cold-start timings: where the minutes between `up` and READY went, measured and stored per launch.

The marks come from what the bot already records plus two looks at the launcher:
- the endpoint row and its audit log: requested (`requested_at`), PROVISIONING (the audit log: the
  launch submitted), STARTING (`provisioned_at`: the launch request finished, cluster up, `run`
  started), READY (`ready_at`);
- the readiness probe's "engine answers /health" step: the launch flow keeps it in memory and stores it
  with READY (`record_ready`, in the READY transaction; a launch that dies before READY ends FAILED and
  has no cold start to measure);
- the launcher, when it can tell: `cluster_up_at(cluster)` (SkyPilot: the cluster record's
  `launched_at`, written when provisioning, image pull included, ended and the cluster went UP) and
  `engine_log(cluster)` (the engine's start-up log: weights download and load, core.launcher.startup_log).
  A launcher with `provisions = False` (the local one: a process on this host) has no provisioning.

`measure` turns the marks into phases: queued (waiting for a worker, shown from 1 s), provisioning,
setup (cluster UP to the engine started: file mounts such as the weights bucket, setup), weights
(download + load, as the engine reported them; "download", "cache" or "local"), load (the rest of the
engine's start until healthy: compilation, KV cache, CUDA graphs), first completion (healthy to a real
completion). Without the engine's figures, the engine's whole start is "engine start". A phase that
cannot be measured is left out, never estimated. `record_ready` (the launch flow, in its READY
transaction) stores them (`cold_starts`, one row per launch run: the history `core.endpoints.cold_stats` reads) and on the endpoint's lifecycle, so every
view (status card, `status`) carries them. Timings never fail a launch: errors are logged and skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import as_utc
from core.endpoints import records, store
from core.endpoints.models import Endpoint
from core.endpoints.records import ColdStart, Phase
from core.endpoints.views import EndpointView
from core.launcher.startup_log import StartupLog, parse_startup_log
from core.tables import Base, UtcDateTime

log = logging.getLogger(__name__)

# The phases in the order they happen (stats and renderings list them so).
PHASES = ("queued", "provisioning", "setup", "weights", "load", "engine start", "first completion")
_COLUMNS = {name: name.replace(" ", "_") + "_s" for name in PHASES}
_SHOWN_FROM_S = 1.0  # a queue shorter than this is no phase worth naming


class ColdStartRecord(Base):
    """One launch run's cold start: its phases in seconds (None: not measured)."""

    __tablename__ = "cold_starts"
    __table_args__ = (UniqueConstraint("endpoint_id", "run_requested_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), index=True)
    run_requested_at: Mapped[datetime] = mapped_column(UtcDateTime)  # a relaunch is a new run
    model: Mapped[str] = mapped_column(String(255))
    accelerators: Mapped[str] = mapped_column(String(64), index=True)
    engine: Mapped[str] = mapped_column(String(16))
    launcher: Mapped[str] = mapped_column(String(16))
    healthy_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # set: the run reached READY
    total_s: Mapped[float | None] = mapped_column(Float)
    queued_s: Mapped[float | None] = mapped_column(Float)
    provisioning_s: Mapped[float | None] = mapped_column(Float)
    setup_s: Mapped[float | None] = mapped_column(Float)
    weights_s: Mapped[float | None] = mapped_column(Float)
    weights_note: Mapped[str | None] = mapped_column(String(16))  # "download" | "cache" | "local"
    load_s: Mapped[float | None] = mapped_column(Float)
    engine_start_s: Mapped[float | None] = mapped_column(Float)
    first_completion_s: Mapped[float | None] = mapped_column(Float)

    def phases(self) -> tuple[Phase, ...]:
        return tuple(
            Phase(name, seconds, self.weights_note if name == "weights" else None)
            for name in PHASES
            if (seconds := getattr(self, _COLUMNS[name])) is not None
        )


@dataclass(frozen=True)
class Marks:
    """When each step of one launch run happened (None: not known)."""

    requested_at: datetime
    ready_at: datetime
    provisioning_at: datetime | None = None  # entered PROVISIONING: the launch submitted
    cluster_up_at: datetime | None = None
    starting_at: datetime | None = None
    healthy_at: datetime | None = None
    provisions: bool = True  # False: the launcher starts a process here, no machines


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (as_utc(end) - as_utc(start)).total_seconds())


def _weights_note(startup: StartupLog, model: str) -> str | None:
    if startup.downloaded:
        return "download"
    if startup.weights_load_s is None:  # SGLang's figure says nothing of where the files came from
        return None
    return "local" if model.startswith(("/", "./", "~")) else "cache"


def _engine_phases(engine_s: float, startup: StartupLog | None, model: str) -> list[Phase]:
    """The engine's start split into weights and load when it reported its weights, else one phase."""
    weights = startup.weights_s if startup is not None else None
    if weights is None or startup is None:
        return [Phase("engine start", engine_s)]
    weights = min(weights, engine_s)  # the launch is seen finished up to a poll late: never more than all
    return [Phase("weights", weights, _weights_note(startup, model)), Phase("load", engine_s - weights)]


def _cloud_phases(marks: Marks) -> list[Phase]:
    """Provisioning (and setup, when the launcher says when the cluster went UP) of a cloud launch."""
    provisioned, up, starting = marks.provisioning_at, marks.cluster_up_at, marks.starting_at
    if provisioned is None or starting is None:
        return []
    if up is not None and as_utc(provisioned) <= as_utc(up) <= as_utc(starting):
        return [Phase("provisioning", _seconds(provisioned, up)), Phase("setup", _seconds(up, starting))]
    return [Phase("provisioning", _seconds(provisioned, starting))]


def measure(marks: Marks, startup: StartupLog | None, *, model: str) -> ColdStart:
    """The phases of one launch from its marks and the engine's own figures (pure)."""
    phases: list[Phase] = []
    if (
        marks.provisioning_at is not None
        and _seconds(marks.requested_at, marks.provisioning_at) >= _SHOWN_FROM_S
    ):
        phases.append(Phase("queued", _seconds(marks.requested_at, marks.provisioning_at)))
    if marks.provisions:
        phases.extend(_cloud_phases(marks))
        engine_from = marks.starting_at
    else:
        engine_from = marks.provisioning_at or marks.starting_at  # the process starts at the submit
    if engine_from is not None:
        engine_s = _seconds(engine_from, marks.healthy_at or marks.ready_at)
        phases.extend(_engine_phases(engine_s, startup if marks.healthy_at else None, model))
    if marks.healthy_at is not None:
        phases.append(Phase("first completion", _seconds(marks.healthy_at, marks.ready_at)))
    return ColdStart(total_s=_seconds(marks.requested_at, marks.ready_at), phases=tuple(phases))


# --- recording ---------------------------------------------------------------------------------------


def _record(session: Session, view: EndpointView, launcher_name: str) -> ColdStartRecord:
    """This run's row, made on first use."""
    found = session.scalars(
        select(ColdStartRecord).where(
            ColdStartRecord.endpoint_id == view.id, ColdStartRecord.run_requested_at == view.requested_at
        )
    ).one_or_none()
    if found is None:
        found = ColdStartRecord(
            endpoint_id=view.id,
            run_requested_at=view.requested_at,
            model=view.model,
            accelerators=view.accelerators,
            engine=view.engine,
            launcher=launcher_name,
        )
        session.add(found)
    return found


def _ask(launcher: Any, what: str, cluster_name: str) -> Any:
    """`launcher.<what>(cluster)` when the launcher has it; None when it has not or it fails."""
    method = getattr(launcher, what, None)
    if method is None:
        return None
    try:
        return method(cluster_name)
    except Exception as exc:
        log.info("%s of %s is not known (%s)", what, cluster_name, type(exc).__name__)
        return None


def launcher_marks(launcher: Any, view: EndpointView) -> tuple[datetime | None, StartupLog | None]:
    """What the launcher can tell of a launch (when its cluster went UP, the engine's start-up figures),
    asked with no transaction held; (None, None) for a SkyServe service (its replicas are clusters of
    their own, so only the marks count)."""
    if records.is_service(view.options):
        return None, None
    up_at = _ask(launcher, "cluster_up_at", view.cluster_name)
    text = _ask(launcher, "engine_log", view.cluster_name)
    return up_at, (parse_startup_log(text) if text else None)


def record_ready(
    session: Session,
    endpoint: Endpoint,
    *,
    launcher: Any,
    provisioning_at: datetime | None,
    healthy_at: datetime | None,
    launcher_facts: tuple[datetime | None, StartupLog | None] = (None, None),
) -> None:
    """In the READY transaction (the launch flow's): measure the run from the marks it kept in memory
    (entering PROVISIONING, the engine healthy) and the launcher's facts, store its row and put the
    phases on the endpoint's lifecycle. Never raises: a timing that cannot be stored is logged."""
    try:
        if endpoint.ready_at is None:
            return
        view = store.to_view(endpoint)
        up_at, startup = launcher_facts
        marks = Marks(
            requested_at=endpoint.requested_at,
            ready_at=endpoint.ready_at,
            provisioning_at=provisioning_at,
            cluster_up_at=up_at,
            starting_at=endpoint.provisioned_at,
            healthy_at=healthy_at,
            provisions=getattr(launcher, "provisions", True),
        )
        cold = measure(marks, startup, model=view.model)
        record = _record(session, view, launcher.name)
        record.healthy_at = record.healthy_at or healthy_at
        _store(record, cold, ready_at=endpoint.ready_at)
        store.set_lifecycle(endpoint, replace(view.lifecycle, cold_start=cold))
    except Exception:
        log.warning("endpoint %s: could not measure its cold start", endpoint.name, exc_info=True)


def _store(record: ColdStartRecord, cold: ColdStart, *, ready_at: datetime) -> None:
    record.ready_at = ready_at
    record.total_s = cold.total_s
    for name in PHASES:
        setattr(record, _COLUMNS[name], None)
    for phase in cold.phases:
        setattr(record, _COLUMNS[phase.name], phase.seconds)
        if phase.name == "weights":
            record.weights_note = phase.note
