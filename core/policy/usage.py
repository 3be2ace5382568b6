"""What people use now, read from the store, and the lock that makes a limit check atomic.

`lock_limits` is taken inside the transaction that inserts the endpoint row, before the use is read:
on PostgreSQL a transaction-level advisory lock per owner/group key (sorted, so two launches never
wait on each other in opposite orders), on SQLite the database's write lock. Two `up`s at once, in
one process or two, then count each other: the second reads the first's row or waits for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.endpoints.models import Endpoint
from core.endpoints.records import options_from_json, replica_bounds
from core.endpoints.states import EndpointState
from core.policy.rules import Use
from core.usage.cost import team_spend_today


def lock_limits(session: Session, keys: Iterable[str]) -> None:
    """Serialise limit checks on `keys` until this transaction ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        for key in sorted(set(keys)):
            digest = hashlib.blake2b(f"endpoint-policy:{key}".encode(), digest_size=8).digest()
            session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest, "big", signed=True))))
    elif dialect == "sqlite":
        # A write takes SQLite's one write lock (as BEGIN IMMEDIATE would) and holds it to commit; the
        # reads that follow see every launch committed before it. It changes no row.
        session.execute(text("UPDATE endpoints SET version = version WHERE 0"))


def gpu_count(accelerators: str) -> int:
    """The COUNT of a stored `NAME:COUNT`."""
    _, _, count = accelerators.rpartition(":")
    return int(count) if count.isdigit() else 1


def endpoint_gpus(endpoint: Endpoint) -> int:
    """The GPUs an endpoint holds: one cluster's, times the most replicas a service may run."""
    options, _ = options_from_json(endpoint.options)
    return gpu_count(endpoint.accelerators) * replica_bounds(options)[1]


def use_of(session: Session, owners: frozenset[str], *, now: datetime) -> Use:
    """The live endpoints of `owners`, their GPUs and $/hour, and what they spent today."""
    live = session.scalars(
        select(Endpoint)
        .where(Endpoint.owner_id.in_(sorted(owners)), Endpoint.state.in_(list(EndpointState.live())))
        .order_by(Endpoint.id)
    ).all()
    return Use(
        endpoints=tuple(e.name for e in live),
        gpus=sum(endpoint_gpus(e) for e in live),
        dollars_per_hour=sum(e.price_per_hour or 0.0 for e in live),
        dollars_today=team_spend_today(session=session, now=now, owners=owners),
    )
