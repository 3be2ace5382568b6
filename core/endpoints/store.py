"""Reading and writing endpoints: create, look up, list, and the one function that changes state.

Functions are keyword-only and take the caller's `session` (Dispatch style); they flush but never
commit, so a caller's changes and the store's land in one transaction (`Database.session()` commits).

`transition` is the only writer of `Endpoint.state`. It checks the transition table
(core.endpoints.states), then moves the row with `UPDATE ... WHERE id = :id AND state = :old AND
version = :version`: if another thread or process moved the endpoint first, no row matches and the
loser gets `TransitionConflict` with the endpoint refreshed to what the winner wrote. Each move
writes a "transition" event whose message reads "OLD -> NEW: why" and whose `from_state` /
`to_state` columns say the same for code (billing reads them).

Names: `create_endpoint` reserves a unique human name and cluster name with one atomic
`INSERT ... ON CONFLICT DO NOTHING`, so two processes creating the same model at once both succeed.
Names are never reused, even after an endpoint stops, so the audit log stays unambiguous.

Call these with short transactions (one `Database.session()` per step): an open write transaction
holds SQLite's single write lock, and on PostgreSQL a create holds a per-model name lock until commit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.endpoints import records
from core.endpoints.models import Endpoint, EndpointEvent
from core.endpoints.records import EndpointOptions, Lifecycle
from core.endpoints.states import EndpointState, IllegalTransition, check_transition
from core.endpoints.views import EndpointView
from core.errors import InvalidRequest
from core.fit.plan import Plan
from core.tables import upsert_into
from core.usage.counters import build_usage_view
from core.usage.models import EndpointUsage
from core.vocabulary import NAME_MAX_LEN, check_endpoint_name

_ENDPOINTS = Endpoint.__table__
_EVENTS = EndpointEvent.__table__
CLUSTER_NAME_MAX_LEN = 50
_CLUSTER_SUFFIX_HEX = 6  # random hex digits at the end of a cluster name
_CLUSTER_PREFIX_RE = re.compile(r"^([a-z][a-z0-9-]*)?$")
_MAX_NAME_ATTEMPTS = 50


class TransitionConflict(IllegalTransition):
    """Another thread or process changed the endpoint's state first; nothing was written.

    `endpoint` has been refreshed to the state the winner wrote; re-decide from there.
    """

    def __init__(self, message: str, *, current: EndpointState) -> None:
        super().__init__(message)
        self.current = current


# --- names ---------------------------------------------------------------------------------------


def derive_name(model: str) -> str:
    """A short human name from a model id: "Qwen/Qwen2.5-7B-Instruct" -> "qwen2-5-7b-instruct"."""
    base = model.rstrip("/").rsplit("/", 1)[-1].lower()
    base = re.sub(r"[^a-z0-9]+", "-", base).strip("-")
    base = base[:NAME_MAX_LEN].rstrip("-")
    return base or "endpoint"


def validate_name(name: str) -> str:
    """A user-given name as stored, or InvalidRequest saying what is wrong with it (core.vocabulary)."""
    return check_endpoint_name(name)


def _with_suffix(base: str, n: int) -> str:
    if n == 1:
        return base
    suffix = f"-{n}"
    return base[: NAME_MAX_LEN - len(suffix)].rstrip("-") + suffix


def _first_free_name(session: Session, base: str) -> str:
    """`base`, else `base-2`, `base-3`, ...: the first not yet taken (a fresh read; the insert decides).

    Names are never deleted, so the numbered ones are usually contiguous: try the one after the
    last before reading them all.
    """
    if not _name_taken(session, base):
        return base
    numbered = session.scalar(
        select(func.count()).where(Endpoint.name.startswith(f"{base}-", autoescape=True))
    )
    guess = _with_suffix(base, int(numbered or 0) + 2)
    if not _name_taken(session, guess):
        return guess
    stem = base[: NAME_MAX_LEN - 4].rstrip("-")
    taken = set(
        session.scalars(select(Endpoint.name).where(Endpoint.name.startswith(stem, autoescape=True))).all()
    )
    n = 2
    while _with_suffix(base, n) in taken:
        n += 1
    return _with_suffix(base, n)


def make_cluster_name(*, prefix: str, name: str) -> str:
    """`<prefix><name>-<6 random hex>`: lowercase, starts with a letter, at most 50 characters."""
    if not _CLUSTER_PREFIX_RE.match(prefix) or len(prefix) > 20:
        raise InvalidRequest(
            f"cluster prefix `{prefix}` is not usable: it must start with a lowercase letter and contain "
            "only lowercase letters, digits and dashes (at most 20 characters). Fix ENDPOINT_BOT_CLUSTER_PREFIX."
        )
    head = prefix + name
    if not head[:1].isalpha():
        head = "e" + head  # clouds want a leading letter; names may start with a digit
    room = CLUSTER_NAME_MAX_LEN - 1 - _CLUSTER_SUFFIX_HEX
    head = head[:room].rstrip("-")
    return f"{head}-{secrets.token_hex(_CLUSTER_SUFFIX_HEX // 2)}"


# --- create and read -----------------------------------------------------------------------------


def _insert_if_free(session: Session, values: dict[str, Any]) -> int | None:
    """Insert an endpoint row unless its name or cluster name is taken (atomically); its id or None."""
    stmt = (
        upsert_into(session, _ENDPOINTS).values(**values).on_conflict_do_nothing().returning(_ENDPOINTS.c.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def create_endpoint(
    *,
    session: Session,
    model: str,
    accelerators: str,
    engine: str,
    launcher: str,
    owner_id: str,
    channel_id: str | None,
    options: EndpointOptions,
    plan: Plan | None,
    idle_timeout_s: int,
    expires_at: datetime,
    max_cost: float | None,
    price_per_hour: float,
    price_is_estimate: bool,
    now: datetime,
    name: str | None = None,
    cluster_prefix: str = "epb-",
    actor: str | None = None,
    lifecycle: Lifecycle | None = None,
    admission: Callable[[Session], None] | None = None,
) -> Endpoint:
    """Record a new endpoint in REQUESTED with a unique name and cluster name, and a "created" event.

    A given `name` must be valid and free (InvalidRequest otherwise); without one, a name is derived
    from the model, with "-2", "-3", ... on a clash. `admission` (the team policy's limits) runs first
    in the same transaction and may refuse by raising.
    """
    _require_aware(now, "now")
    _require_aware(expires_at, "expires_at")
    if name is not None:
        validate_name(name)
    common = {
        "model": model,
        "accelerators": accelerators,
        "engine": engine,
        "launcher": launcher,
        "owner_id": owner_id,
        "channel_id": channel_id,
        "options": records.options_to_json(options, lifecycle or Lifecycle()),
        "plan": records.plan_to_json(plan),
        "state": EndpointState.REQUESTED,
        "version": 1,
        "idle_timeout_s": int(idle_timeout_s),
        "expires_at": expires_at,
        "max_cost": max_cost,
        "price_per_hour": float(price_per_hour),
        "price_is_estimate": bool(price_is_estimate),
        "cost_so_far": 0.0,
        "requested_at": now,
        "updated_at": now,
    }
    if admission is not None:  # the policy's limits, read under its lock, before the row goes in
        session.flush()
        admission(session)
    endpoint_id = _insert_under_a_free_name(
        session, common, model=model, name=name, cluster_prefix=cluster_prefix
    )
    endpoint = session.get(Endpoint, endpoint_id)
    assert endpoint is not None
    message = f"requested {model} on {accelerators} ({engine}, {launcher}) as {endpoint.name}"
    session.execute(
        insert(_EVENTS).values(
            endpoint_id=endpoint_id, at=now, actor=actor or owner_id, kind="created", message=message
        )
    )
    return endpoint


def _insert_under_a_free_name(
    session: Session, common: dict[str, Any], *, model: str, name: str | None, cluster_prefix: str
) -> int:
    """Insert the row under `name` (InvalidRequest when taken) or the first free name derived from the
    model, with a fresh cluster name; the new row's id."""
    session.flush()
    if name is None:
        _queue_for_name(session, derive_name(model))
    endpoint_id: int | None = None
    for _ in range(_MAX_NAME_ATTEMPTS):
        # Re-read after every clash: while this writer waited for the lock, others may have taken
        # several of the next names.
        candidate = name if name is not None else _first_free_name(session, derive_name(model))
        values = {
            **common,
            "name": candidate,
            "cluster_name": make_cluster_name(prefix=cluster_prefix, name=candidate),
        }
        endpoint_id = _insert_if_free(session, values)
        if endpoint_id is not None:
            break
        if name is not None and _name_taken(session, name):
            raise InvalidRequest(
                f"The name `{name}` is already used by another endpoint (names are never reused, "
                "so the history stays readable). Pick another name, or leave `name=` out to get one."
            )
        # Otherwise the name was taken meanwhile, or (astronomically rarely) the random cluster name.
    if endpoint_id is None:  # pragma: no cover - needs 50 clashes in a row
        raise InvalidRequest(f"Could not find a free name for `{model}` right now; give one with `name=`.")
    return endpoint_id


def _queue_for_name(session: Session, base: str) -> None:
    """On PostgreSQL, let creates of one model take turns choosing a name (until the transaction ends).

    Without it, concurrent creates all pick the same next name; the losers wait for the winner's
    commit and try again, and an unlucky one can lose for seconds. SQLite needs nothing: its writers
    already take turns.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(
        hashlib.blake2b(f"endpoint-name:{base}".encode(), digest_size=8).digest(), "big", signed=True
    )
    session.execute(select(func.pg_advisory_xact_lock(key)))


def _name_taken(session: Session, name: str) -> bool:
    return session.scalar(select(Endpoint.id).where(Endpoint.name == name)) is not None


def get_endpoint(*, session: Session, endpoint_id: int) -> Endpoint | None:
    return session.get(Endpoint, endpoint_id)


def get_by_name(*, session: Session, name: str) -> Endpoint | None:
    """The endpoint called `name` (names are lowercase, so `Qwen-Test` finds `qwen-test`)."""
    return session.scalars(select(Endpoint).where(Endpoint.name == name.strip().lower())).one_or_none()


def name_taken(*, session: Session, name: str) -> bool:
    """Whether an endpoint is called `name` (its id only is read; names are lowercase)."""
    return _name_taken(session, name.strip().lower())


def get_by_cluster(*, session: Session, cluster_name: str) -> Endpoint | None:
    return session.scalars(select(Endpoint).where(Endpoint.cluster_name == cluster_name)).one_or_none()


def list_endpoints(
    *,
    session: Session,
    states: Collection[EndpointState] | None = None,
    owner_id: str | None = None,
    exclude_owner: str | None = None,
    limit: int | None = None,
) -> list[Endpoint]:
    """Endpoints, oldest first; only those in `states` / of `owner_id` / not of `exclude_owner` when
    given, and only the first `limit` of them."""
    stmt = _filtered(select(Endpoint), states, owner_id, exclude_owner).order_by(Endpoint.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).all())


def list_views(
    *,
    session: Session,
    states: Collection[EndpointState] | None = None,
    owner_id: str | None = None,
    exclude_owner: str | None = None,
    limit: int | None = None,
) -> list[EndpointView]:
    """`list_endpoints` as views, read as plain rows: no ORM identity map and no change tracking of the
    JSON columns, which cost more than the query itself for a thousand endpoints (issue 12)."""
    columns = Endpoint.__table__.columns
    stmt = _filtered(select(*columns), states, owner_id, exclude_owner).order_by(Endpoint.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [to_view(SimpleNamespace(**row)) for row in session.execute(stmt).mappings()]


def count_endpoints(
    *,
    session: Session,
    states: Collection[EndpointState] | None = None,
    owner_id: str | None = None,
    exclude_owner: str | None = None,
) -> int:
    """How many endpoints `list_endpoints` with the same filters would return without a limit."""
    stmt = _filtered(select(func.count(Endpoint.id)), states, owner_id, exclude_owner)
    return int(session.scalar(stmt) or 0)


def spend_rate(*, session: Session, states: Collection[EndpointState]) -> float:
    """Dollars per hour of every endpoint in `states` together."""
    stmt = _filtered(select(func.coalesce(func.sum(Endpoint.price_per_hour), 0.0)), states, None, None)
    return float(session.scalar(stmt) or 0.0)


def _filtered(
    stmt: Select[Any],
    states: Collection[EndpointState] | None,
    owner_id: str | None,
    exclude_owner: str | None,
) -> Select[Any]:
    if states is not None:
        stmt = stmt.where(Endpoint.state.in_([EndpointState(s) for s in states]))
    if owner_id is not None:
        stmt = stmt.where(Endpoint.owner_id == owner_id)
    if exclude_owner is not None:
        stmt = stmt.where(Endpoint.owner_id != exclude_owner)
    return stmt


def list_events(*, session: Session, endpoint_id: int) -> list[EndpointEvent]:
    """An endpoint's audit log, oldest first."""
    stmt = (
        select(EndpointEvent)
        .where(EndpointEvent.endpoint_id == endpoint_id)
        .order_by(EndpointEvent.at, EndpointEvent.id)
    )
    return list(session.scalars(stmt).all())


# --- state changes -------------------------------------------------------------------------------


def transition(
    *,
    session: Session,
    endpoint: Endpoint,
    to: EndpointState,
    actor: str,
    message: str,
    now: datetime,
    changes: Mapping[str, Any] | None = None,
) -> Endpoint:
    """Move `endpoint` to `to`, set the timestamps that go with it, and write a "transition" event.

    `changes` (e.g. `{"stop_reason": "idle for 45m"}`) are written by the same guarded UPDATE, so
    they land only if this transition wins. Raises IllegalTransition (nothing written) when the
    table forbids the move, and TransitionConflict (nothing of this call written; `endpoint`
    refreshed) when another writer moved the endpoint first. Attributes the caller set on `endpoint`
    beforehand are flushed first and stay in the session's transaction either way: pass them as
    `changes` instead if they belong to the transition.
    """
    _require_aware(now, "now")
    to = EndpointState(to)
    current = EndpointState(endpoint.state)
    check_transition(current, to)
    extra = dict(changes or {})
    reserved = {"id", "state", "version", "updated_at"} & extra.keys()
    unknown = extra.keys() - Endpoint.__table__.columns.keys()
    if reserved or unknown:
        raise ValueError(f"transition cannot set {sorted(reserved | unknown)}")

    values: dict[str, Any] = {**extra, "state": to, "version": endpoint.version + 1, "updated_at": now}
    if to is EndpointState.REQUESTED:
        # A relaunch (LOST -> REQUESTED) starts a new run on the same endpoint.
        values.update(requested_at=now, provisioned_at=None, ready_at=None, stopped_at=None)
    elif to is EndpointState.STARTING:
        values["provisioned_at"] = now
    elif to is EndpointState.READY:
        values["ready_at"] = now
    elif to.is_terminal:
        values["stopped_at"] = now

    session.flush()
    # Core statements on the tables (not ORM-enabled DML): the same SQL without the ORM's bulk-update
    # bookkeeping, which costs more CPU than the statement itself in a burst of launches.
    result = session.execute(
        update(_ENDPOINTS)
        .where(
            _ENDPOINTS.c.id == endpoint.id,
            _ENDPOINTS.c.state == current,
            _ENDPOINTS.c.version == endpoint.version,
        )
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(endpoint)
        raise TransitionConflict(
            f"endpoint {endpoint.name} moved to {endpoint.state} before {current} -> {to} could be written",
            current=EndpointState(endpoint.state),
        )
    for key, value in values.items():
        if isinstance(value, dict | list):
            setattr(endpoint, key, value)  # through the attribute, so in-place edits stay tracked
        else:
            set_committed_value(endpoint, key, value)  # already in the row: no second UPDATE
    session.execute(
        insert(_EVENTS).values(
            endpoint_id=endpoint.id,
            at=now,
            actor=actor,
            kind="transition",
            message=f"{current} -> {to}: {message}" if message else f"{current} -> {to}",
            from_state=current,
            to_state=to,
        )
    )
    return endpoint


def record_event(
    *, session: Session, endpoint: Endpoint, actor: str, kind: str, message: str, now: datetime
) -> EndpointEvent:
    """Append one line to the endpoint's audit log."""
    _require_aware(now, "now")
    event = EndpointEvent(endpoint_id=endpoint.id, at=now, actor=actor, kind=kind, message=message)
    session.add(event)
    session.flush()
    return event


def record_events(*, session: Session, events: Collection[tuple[int, str, str, str]], now: datetime) -> None:
    """Append many audit lines, (endpoint_id, actor, kind, message), in one `executemany` INSERT."""
    _require_aware(now, "now")
    if events:
        session.execute(
            insert(EndpointEvent),
            [
                {"endpoint_id": endpoint_id, "at": now, "actor": actor, "kind": kind, "message": message}
                for endpoint_id, actor, kind, message in events
            ],
        )


def record_event_for(
    *, session: Session, endpoint_id: int, actor: str, kind: str, message: str, now: datetime
) -> bool:
    """`record_event` on the endpoint with this id, if it still exists; False when it does not."""
    endpoint = get_endpoint(session=session, endpoint_id=endpoint_id)
    if endpoint is None:
        return False
    record_event(session=session, endpoint=endpoint, actor=actor, kind=kind, message=message, now=now)
    return True


# --- views ---------------------------------------------------------------------------------------


# The view's fields that are the row's column of the same name, as stored (`to_view` reads the rest).
_VIEW_COLUMNS = tuple(
    f.name
    for f in fields(EndpointView)
    if f.name not in {"state", "plan", "options", "lifecycle", "usage", "tls"}
)


def to_view(endpoint: Endpoint | SimpleNamespace, usage: EndpointUsage | None = None) -> EndpointView:
    """An immutable snapshot of the row (an ORM row or its columns by name, see `list_views`, and its
    usage counters) for adapters and other threads."""
    options, lifecycle = records.options_from_json(endpoint.options)
    usage_view = None if usage is None else build_usage_view(usage, cost_so_far=endpoint.cost_so_far or 0.0)
    return EndpointView(
        **{name: getattr(endpoint, name) for name in _VIEW_COLUMNS},
        state=EndpointState(endpoint.state),
        plan=records.plan_from_json(endpoint.plan),
        options=options,
        lifecycle=lifecycle,
        usage=usage_view,
        tls=records.tls_from_json(endpoint.options),
    )


# The row's columns a thin view reads (every scalar column of the view, plus `version`).
THIN_COLUMNS = (*_VIEW_COLUMNS, "state", "version")


def to_thin_view(endpoint: Endpoint) -> EndpointView:
    """The row's scalar columns only (options, plan, lifecycle, TLS and usage left at their defaults):
    enough for the watchdog's decisions (core.watchdog.policy.decide), never shown to anyone. Reads no
    JSON, so the row may be loaded with only `THIN_COLUMNS`."""
    return EndpointView(
        **{name: getattr(endpoint, name) for name in _VIEW_COLUMNS}, state=EndpointState(endpoint.state)
    )


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware UTC datetime, got naive {value.isoformat()}")


def set_lifecycle(endpoint: Endpoint, lifecycle: Lifecycle) -> None:
    """Record new lifecycle facts on the row (its options unchanged), stored in the versioned shape."""
    options, _ = records.options_from_json(endpoint.options)
    endpoint.options = records.options_to_json(options, lifecycle, records.tls_from_json(endpoint.options))


def options_with_tls(endpoint: Endpoint, tls: records.TlsRecord) -> dict[str, Any]:
    """The row's `options` JSON with how the current launch serves HTTPS (public material only), for a
    transition's `changes`."""
    options, lifecycle = records.options_from_json(endpoint.options)
    return records.options_to_json(options, lifecycle, tls)
