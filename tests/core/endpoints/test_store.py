"""core.endpoints.store against SQLite and PostgreSQL: names, lookups, guarded transitions, views."""

from __future__ import annotations

import re
import threading
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import StatementError

from core.apikeys import hash_api_key, new_api_key
from core.db import Database
from core.endpoints import store
from core.endpoints.models import Endpoint, EndpointEvent
from core.endpoints.records import EndpointOptions
from core.endpoints.states import TRANSITIONS, EndpointState, IllegalTransition
from core.errors import InvalidRequest
from core.usage.models import EndpointUsage
from tests.core.endpoints.lifecycle_fixtures import simple_plan
from tests.db_fixtures import create_test_endpoint

S = EndpointState
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
CLUSTER_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

# A legal path from REQUESTED to each state.
PATH_TO: dict[EndpointState, list[EndpointState]] = {
    S.REQUESTED: [],
    S.PROVISIONING: [S.PROVISIONING],
    S.STARTING: [S.PROVISIONING, S.STARTING],
    S.READY: [S.PROVISIONING, S.STARTING, S.READY],
    S.STOPPING: [S.STOPPING],
    S.STOPPED: [S.STOPPING, S.STOPPED],
    S.FAILED: [S.FAILED],
    S.LOST: [S.PROVISIONING, S.LOST],
}


def create(session: Any, **overrides: Any) -> Endpoint:
    fields: dict[str, Any] = dict(
        accelerators="A100:1",
        options=EndpointOptions(max_model_len=8192),
        plan=None,
        max_cost=50.0,
        price_per_hour=3.67,
        cluster_prefix="epb-",
        now=NOW,
    )
    fields.update(overrides)
    return create_test_endpoint(session, **fields)


def walk(session: Any, endpoint: Endpoint, states: list[EndpointState], start: datetime = NOW) -> datetime:
    at = start
    for state in states:
        at += timedelta(minutes=1)
        store.transition(session=session, endpoint=endpoint, to=state, actor="bot", message="test", now=at)
    return at


def count(session: Any, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


def second_process(db: Database, request: pytest.FixtureRequest) -> Database:
    """Another Database on the same store: its own engine and connections, like another bot process."""
    other = Database(db.url.render_as_string(hide_password=False))
    request.addfinalizer(other.dispose)
    return other


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2-5-7b-instruct"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3-1-8b-instruct"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b-instruct-v0-1"),
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-r1-distill-qwen-1-5b"),
        ("/models/local_ckpt/", "local-ckpt"),
        ("org/___", "endpoint"),
    ],
)
def test_derive_name(model: str, name: str) -> None:
    assert store.derive_name(model) == name


def test_derived_names_are_short_and_never_end_in_a_dash() -> None:
    name = store.derive_name("org/" + "Very-Long-Model-Name-" * 5)
    assert len(name) <= store.NAME_MAX_LEN
    assert not name.endswith("-")
    store.validate_name(name)


@pytest.mark.parametrize("bad", ["", "Qwen", "my_bot", "-lead", "trail-", "a--b", "a b", "x" * 41, "ünï"])
def test_invalid_names_are_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="lowercase letters, digits"):
        store.validate_name(bad)


def test_create_records_requested_with_names_and_a_created_event(database: Database) -> None:
    with database.session() as session:
        endpoint = create(session)
    with database.session() as session:
        row = store.get_by_name(session=session, name="qwen2-5-7b-instruct")
        assert row is not None and row.id == endpoint.id
        assert row.state is S.REQUESTED
        assert row.version == 1
        assert re.fullmatch(r"epb-qwen2-5-7b-instruct-[0-9a-f]{6}", row.cluster_name)
        assert row.requested_at == row.updated_at == NOW
        assert row.options["v"] == 1 and row.options["options"]["max_model_len"] == 8192
        assert store.to_view(row).options == EndpointOptions(max_model_len=8192)
        assert row.max_cost == 50.0 and row.price_per_hour == 3.67 and row.cost_so_far == 0.0
        assert [(e.kind, e.actor) for e in row.events] == [("created", "U1")]
        assert store.get_by_cluster(session=session, cluster_name=row.cluster_name).id == row.id  # type: ignore[union-attr]
        assert store.get_endpoint(session=session, endpoint_id=row.id) is row


def test_name_clashes_get_numbered_including_stopped_endpoints(database: Database) -> None:
    with database.session() as session:
        first = create(session)
        walk(session, first, PATH_TO[S.STOPPED])  # names are never reused, even after a stop
    with database.session() as session:
        names = [create(session).name for _ in range(3)]
    assert names == ["qwen2-5-7b-instruct-2", "qwen2-5-7b-instruct-3", "qwen2-5-7b-instruct-4"]
    with database.session() as session:
        clusters = [e.cluster_name for e in store.list_endpoints(session=session)]
    assert len(set(clusters)) == 4


def test_a_given_name_is_used_and_a_taken_one_refused_without_writing(database: Database) -> None:
    with database.session() as session:
        assert create(session, name="team-demo").name == "team-demo"
    with pytest.raises(InvalidRequest, match="already used"), database.session() as session:
        create(session, name="team-demo", model="meta-llama/Llama-3.1-8B-Instruct")
    with pytest.raises(InvalidRequest), database.session() as session:
        create(session, name="Team_Demo")
    with database.session() as session:
        assert count(session, Endpoint) == 1
        assert count(session, EndpointEvent) == 1


def test_cluster_names_suit_clouds_even_for_long_and_digit_first_names(database: Database) -> None:
    with database.session() as session:
        long = create(session, model="org/" + "Extremely-Long-Model-Name-" * 4)
        digits = create(session, name="7b-test", cluster_prefix="")
    for endpoint in (long, digits):
        assert len(endpoint.cluster_name) <= store.CLUSTER_NAME_MAX_LEN
        assert CLUSTER_RE.match(endpoint.cluster_name), endpoint.cluster_name
    assert digits.cluster_name.startswith("e7b-test-")


@pytest.mark.parametrize("prefix", ["EPB-", "1x-", "epb_", "a" * 21])
def test_a_bad_cluster_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidRequest, match="CLUSTER_PREFIX"):
        store.make_cluster_name(prefix=prefix, name="qwen")


@pytest.mark.timeout(60)
def test_concurrent_creates_of_one_model_get_distinct_names(
    database: Database, request: pytest.FixtureRequest
) -> None:
    """Two processes launching the same model at the same moment: both succeed, with different names."""
    dbs = [database, second_process(database, request)] * 3
    barrier = threading.Barrier(len(dbs))
    names: list[str] = []
    errors: list[BaseException] = []

    def launch(db: Database) -> None:
        try:
            barrier.wait()
            with db.session() as session:
                names.append(create(session).name)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=launch, args=(db,)) for db in dbs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(names) == sorted(
        ["qwen2-5-7b-instruct"] + [f"qwen2-5-7b-instruct-{n}" for n in range(2, len(dbs) + 1)]
    )


def test_list_endpoints_filters_by_state_and_owner(database: Database) -> None:
    with database.session() as session:
        a = create(session, owner_id="U1")
        b = create(session, owner_id="U2")
        c = create(session, owner_id="U1")
        walk(session, b, PATH_TO[S.READY])
        walk(session, c, PATH_TO[S.FAILED])
    with database.session() as session:
        ids = lambda rows: [r.id for r in rows]  # noqa: E731
        assert ids(store.list_endpoints(session=session)) == [a.id, b.id, c.id]
        assert ids(store.list_endpoints(session=session, states=S.live())) == [a.id, b.id]
        assert ids(store.list_endpoints(session=session, owner_id="U1")) == [a.id, c.id]
        assert ids(store.list_endpoints(session=session, states=[S.FAILED], owner_id="U1")) == [c.id]
        assert store.list_endpoints(session=session, states=[]) == []
        assert store.get_by_name(session=session, name="nope") is None
        assert store.get_by_name(session=session, name=" Qwen2-5-7B-Instruct ").id == a.id  # type: ignore[union-attr]


def test_a_listing_page_reads_the_first_rows_and_counts_the_rest(database: Database) -> None:
    """Issue 12: `/endpoint list` and App Home read a screen's worth, not every row, yet say how many."""
    with database.session() as session:
        rows = [create(session, owner_id="U1" if i % 3 else "U2", price_per_hour=1.5) for i in range(7)]
        walk(session, rows[6], PATH_TO[S.STOPPED])
    with database.session() as session:
        ids = lambda found: [r.id for r in found]  # noqa: E731
        live = S.live()
        assert ids(store.list_endpoints(session=session, states=live, limit=3)) == [r.id for r in rows[:3]]
        assert store.count_endpoints(session=session, states=live) == 6
        assert store.count_endpoints(session=session) == 7
        mine = store.list_endpoints(session=session, states=live, owner_id="U1", limit=10)
        assert ids(mine) == [rows[i].id for i in (1, 2, 4, 5)]
        others = store.list_endpoints(session=session, states=live, exclude_owner="U1", limit=1)
        assert ids(others) == [rows[0].id]
        assert store.count_endpoints(session=session, states=live, exclude_owner="U1") == 2  # 0 and 3
        assert store.spend_rate(session=session, states=live) == pytest.approx(9.0)  # the stopped one not
        assert store.spend_rate(session=session, states=[S.FAILED]) == 0.0


# --- transitions ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_illegal_transitions_raise_and_write_nothing(database: Database) -> None:
    illegal = [(a, b) for a in S for b in S if b not in TRANSITIONS[a]]
    assert len(illegal) > 40
    with database.session() as session:
        for current, target in illegal:
            endpoint = create(session)
            walk(session, endpoint, PATH_TO[current])
            session.commit()
            before = (endpoint.version, endpoint.updated_at, count(session, EndpointEvent))
            with pytest.raises(IllegalTransition):
                store.transition(
                    session=session, endpoint=endpoint, to=target, actor="bot", message="no", now=NOW
                )
            session.rollback()
            session.expire_all()
            assert endpoint.state is current, (current, target)
            assert (endpoint.version, endpoint.updated_at, count(session, EndpointEvent)) == before


@pytest.mark.timeout(60)
def test_every_legal_transition_writes_one_event_and_its_timestamp(database: Database) -> None:
    legal = [(a, b) for a in S for b in TRANSITIONS[a]]
    with database.session() as session:
        for current, target in legal:
            endpoint = create(session)
            at = walk(session, endpoint, PATH_TO[current])
            version = endpoint.version
            events = len(store.list_events(session=session, endpoint_id=endpoint.id))
            when = at + timedelta(minutes=5)
            store.transition(
                session=session, endpoint=endpoint, to=target, actor="U9", message="because", now=when
            )
            log = store.list_events(session=session, endpoint_id=endpoint.id)
            assert len(log) == events + 1, (current, target)
            assert (log[-1].kind, log[-1].actor, log[-1].at) == ("transition", "U9", when)
            assert log[-1].message == f"{current} -> {target}: because"
            assert (log[-1].from_state, log[-1].to_state) == (current, target)
            assert endpoint.state is target and endpoint.version == version + 1
            assert endpoint.updated_at == when
            if target is S.STARTING:
                assert endpoint.provisioned_at == when
            if target is S.READY:
                assert endpoint.ready_at == when
            if target.is_terminal:
                assert endpoint.stopped_at == when
            if target is S.REQUESTED:  # relaunch: a new run
                assert endpoint.requested_at == when
                assert endpoint.provisioned_at is None and endpoint.stopped_at is None


def test_a_full_lifecycle_persists_state_and_timestamps(database: Database) -> None:
    with database.session() as session:
        endpoint = create(session)
        walk(session, endpoint, [S.PROVISIONING, S.STARTING, S.READY, S.STOPPING, S.STOPPED])
    with database.session() as session:
        row = store.get_endpoint(session=session, endpoint_id=endpoint.id)
        assert row is not None and row.state is S.STOPPED
        assert row.provisioned_at == NOW + timedelta(minutes=2)
        assert row.ready_at == NOW + timedelta(minutes=3)
        assert row.stopped_at == NOW + timedelta(minutes=5)
        assert row.version == 6
        kinds = [e.kind for e in store.list_events(session=session, endpoint_id=row.id)]
        assert kinds == ["created"] + ["transition"] * 5


def test_changes_made_before_a_transition_are_saved_with_it(database: Database) -> None:
    with database.session() as session:
        endpoint = create(session)
        walk(session, endpoint, PATH_TO[S.READY])
    with database.session() as session:
        row = store.get_endpoint(session=session, endpoint_id=endpoint.id)
        row.stop_reason = "idle for 45m"  # type: ignore[union-attr]
        store.transition(
            session=session, endpoint=row, to=S.STOPPING, actor="watchdog", message="idle", now=NOW
        )  # type: ignore[arg-type]
    with database.session() as session:
        row = store.get_endpoint(session=session, endpoint_id=endpoint.id)
        assert (row.state, row.stop_reason) == (S.STOPPING, "idle for 45m")  # type: ignore[union-attr]


def test_a_concurrent_transition_loses_cleanly(database: Database, request: pytest.FixtureRequest) -> None:
    other = second_process(database, request)
    with database.session() as session:
        endpoint_id = walk_new(session, S.READY)
    with database.session() as mine, other.session() as theirs:
        a = store.get_endpoint(session=mine, endpoint_id=endpoint_id)
        b = store.get_endpoint(session=theirs, endpoint_id=endpoint_id)
        assert a is not None and b is not None
        store.transition(session=mine, endpoint=a, to=S.STOPPING, actor="U1", message="user", now=LATER)
        mine.commit()
        with pytest.raises(store.TransitionConflict) as lost:
            store.transition(
                session=theirs, endpoint=b, to=S.LOST, actor="reconcile", message="gone", now=LATER
            )
        assert lost.value.current is S.STOPPING
        assert b.state is S.STOPPING  # refreshed to what the winner wrote
        # The loser may re-decide from the fresh state and go on in the same session.
        store.transition(
            session=theirs, endpoint=b, to=S.STOPPED, actor="reconcile", message="gone", now=LATER
        )
    with database.session() as session:
        log = [e.message for e in store.list_events(session=session, endpoint_id=endpoint_id)]
        assert log[-2:] == ["READY -> STOPPING: user", "STOPPING -> STOPPED: gone"]


def test_a_stale_copy_cannot_move_an_endpoint_that_came_back_to_the_same_state(
    database: Database, request: pytest.FixtureRequest
) -> None:
    """LOST -> relaunch -> LOST again: a copy loaded at the first LOST is stale (version check)."""
    other = second_process(database, request)
    with database.session() as session:
        endpoint_id = walk_new(session, S.LOST)
    with other.session() as theirs:
        stale = store.get_endpoint(session=theirs, endpoint_id=endpoint_id)
        assert stale is not None
        theirs.commit()
        with database.session() as mine:
            fresh = store.get_endpoint(session=mine, endpoint_id=endpoint_id)
            walk(mine, fresh, [S.REQUESTED, S.PROVISIONING, S.LOST])  # type: ignore[arg-type]
        with pytest.raises(store.TransitionConflict):
            store.transition(session=theirs, endpoint=stale, to=S.REQUESTED, actor="U1", message="x", now=NOW)


@pytest.mark.timeout(60)
def test_racing_threads_move_an_endpoint_exactly_once(
    database: Database, request: pytest.FixtureRequest
) -> None:
    other = second_process(database, request)
    with database.session() as session:
        endpoint_id = walk_new(session, S.READY)
    dbs = [database, other] * 4
    barrier = threading.Barrier(len(dbs))
    outcomes: list[str] = []

    def stop(db: Database, n: int) -> None:
        try:
            with db.session() as session:
                endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
                barrier.wait()
                store.transition(
                    session=session,
                    endpoint=endpoint,
                    to=S.STOPPING,
                    actor=f"U{n}",
                    message="stop",
                    now=NOW,  # type: ignore[arg-type]
                )
            outcomes.append("won")
        except store.TransitionConflict:
            outcomes.append("lost")
        except BaseException as exc:  # asserted below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=stop, args=(db, n)) for n, db in enumerate(dbs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["lost"] * (len(dbs) - 1) + ["won"]
    with database.session() as session:
        log = store.list_events(session=session, endpoint_id=endpoint_id)
        assert sum(e.message.startswith("READY -> STOPPING") for e in log) == 1


def test_naive_times_are_refused_before_anything_is_written(database: Database) -> None:
    with database.session() as session:
        endpoint = create(session)
        with pytest.raises(ValueError, match="timezone-aware"):
            store.transition(
                session=session,
                endpoint=endpoint,
                to=S.PROVISIONING,
                actor="bot",
                message="",
                now=datetime(2026, 1, 5),
            )
        assert endpoint.state is S.REQUESTED
        with pytest.raises(ValueError, match="timezone-aware"):
            create(session, now=datetime(2026, 1, 5))


def test_record_event_appends_to_the_audit_log(database: Database) -> None:
    with database.session() as session:
        endpoint = create(session)
        store.record_event(
            session=session, endpoint=endpoint, actor="U1", kind="extend", message="+2h", now=NOW
        )
    with database.session() as session:
        log = store.list_events(session=session, endpoint_id=endpoint.id)
        assert [(e.kind, e.actor, e.message) for e in log][-1] == ("extend", "U1", "+2h")


# --- secrets and views ---------------------------------------------------------------------------


def test_only_the_api_key_hash_is_stored(database: Database) -> None:
    key = new_api_key()
    with database.session() as session:
        endpoint = create(session)
        with pytest.raises(ValueError, match="hash_api_key") as refused:
            endpoint.api_key_hash = key
        assert key not in str(refused.value)
        endpoint.api_key_hash = hash_api_key(key)
    # Statements that bypass the ORM attribute are checked too, and the error never echoes the key.
    with pytest.raises(StatementError) as refused_sql, database.session() as session:
        session.execute(update(Endpoint).values(api_key_hash=key))
    assert key not in str(refused_sql.value)
    with database.session() as session:
        dump = []
        for table in ("endpoints", "endpoint_events", "work_claims", "endpoint_usage", "reminders"):
            dump += [repr(tuple(row)) for row in session.execute(text(f"SELECT * FROM {table}"))]
        assert dump and key not in "\n".join(dump)
        assert hash_api_key(key) in "\n".join(dump)
        view = store.to_view(store.get_endpoint(session=session, endpoint_id=endpoint.id))  # type: ignore[arg-type]
        assert not hasattr(view, "api_key_hash")
        assert key not in repr(view) and hash_api_key(key) not in repr(view)


def test_to_view_snapshots_the_row_and_its_usage(database: Database) -> None:
    with database.session() as session:
        endpoint = create(session, plan=simple_plan())
        walk(session, endpoint, PATH_TO[S.READY])
        endpoint.cost_so_far = 2.0
        endpoint.url = "http://10.0.0.5:8000"
        usage = EndpointUsage(
            endpoint_id=endpoint.id,
            requests=10,
            prompt_tokens=5000,
            generation_tokens=400_000,
            latency={"ttft_p50": 0.12, "e2e_p99": 4.5},
        )
        session.add(usage)
    with database.session() as session:
        row = store.get_endpoint(session=session, endpoint_id=endpoint.id)
        view = store.to_view(row, session.get(EndpointUsage, endpoint.id))  # type: ignore[arg-type]
    assert (view.name, view.state, view.url, view.cost_so_far) == (
        row.name,
        S.READY,
        "http://10.0.0.5:8000",
        2.0,
    )  # type: ignore[union-attr]
    assert view.ready_at == NOW + timedelta(minutes=3) and view.ready_at.tzinfo is not None
    assert view.plan == simple_plan()
    assert view.usage is not None
    assert view.usage.requests == 10 and view.usage.latency == {"ttft_p50": 0.12, "e2e_p99": 4.5}
    assert view.usage.cost_per_million_output_tokens == pytest.approx(5.0)
    assert view.options == EndpointOptions(max_model_len=8192)
    with pytest.raises(FrozenInstanceError):  # the snapshot cannot be changed under other threads
        view.plan.fits = False  # type: ignore[misc, union-attr]
    assert store.to_view(row).usage is None  # type: ignore[arg-type]


def walk_new(session: Any, state: EndpointState) -> int:
    endpoint = create(session)
    walk(session, endpoint, PATH_TO[state])
    return endpoint.id


def test_changes_ride_with_the_transition_and_only_if_it_wins(
    database: Database, request: pytest.FixtureRequest
) -> None:
    other = second_process(database, request)
    with database.session() as session:
        endpoint_id = walk_new(session, S.READY)
    with database.session() as mine, other.session() as theirs:
        a = store.get_endpoint(session=mine, endpoint_id=endpoint_id)
        b = store.get_endpoint(session=theirs, endpoint_id=endpoint_id)
        store.transition(
            session=mine,
            endpoint=a,  # type: ignore[arg-type]
            to=S.STOPPING,
            actor="U1",
            message="user",
            now=LATER,
            changes={"stop_reason": "stopped by U1", "options": {"note": "x"}},
        )
        mine.commit()
        with pytest.raises(store.TransitionConflict):
            store.transition(
                session=theirs,
                endpoint=b,  # type: ignore[arg-type]
                to=S.STOPPING,
                actor="watchdog",
                message="idle",
                now=LATER,
                changes={"stop_reason": "idle for 45m"},
            )
        assert b.stop_reason == "stopped by U1"  # type: ignore[union-attr]
        a.options["more"] = 1  # type: ignore[union-attr]
    with database.session() as session:
        row = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        assert (row.state, row.stop_reason) == (S.STOPPING, "stopped by U1")  # type: ignore[union-attr]
        assert row.options == {"note": "x", "more": 1}  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="cannot set"):
            store.transition(
                session=session,
                endpoint=row,
                to=S.STOPPED,
                actor="bot",
                message="",
                now=LATER,
                changes={"state": "READY"},  # type: ignore[arg-type]
            )
        with pytest.raises(ValueError, match="cannot set"):
            store.transition(
                session=session,
                endpoint=row,
                to=S.STOPPED,
                actor="bot",
                message="",
                now=LATER,
                changes={"colour": 1},  # type: ignore[arg-type]
            )
        assert row.state is S.STOPPING  # type: ignore[union-attr]


def test_derived_names_fill_gaps_left_by_given_names(database: Database) -> None:
    with database.session() as session:
        assert create(session, name="qwen2-5-7b-instruct-3").name == "qwen2-5-7b-instruct-3"
        derived = [create(session).name for _ in range(3)]
    assert derived == ["qwen2-5-7b-instruct", "qwen2-5-7b-instruct-2", "qwen2-5-7b-instruct-4"]


@pytest.mark.timeout(60)
def test_random_walks_leave_exactly_the_legal_moves_in_the_log(database: Database) -> None:
    """Seeded random attempts, legal and illegal: the row and its audit log agree with the table."""
    import random

    rng = random.Random(20260105)
    expected: dict[int, list[tuple[EndpointState, EndpointState]]] = {}
    states: dict[int, EndpointState] = {}
    at = NOW
    for _ in range(150):
        if all(state.is_terminal for state in states.values()):  # keep something alive to move
            with database.session() as session:
                endpoint_id = create(session).id
            expected[endpoint_id], states[endpoint_id] = [], S.REQUESTED
        live = sorted(e for e, state in states.items() if not state.is_terminal)
        endpoint_id = rng.choice(live) if rng.random() < 0.8 else rng.choice(sorted(states))
        legal = sorted(TRANSITIONS[states[endpoint_id]])
        target = rng.choice(legal) if legal and rng.random() < 0.5 else rng.choice(list(S))
        at += timedelta(seconds=30)
        with database.session() as session:
            row = store.get_endpoint(session=session, endpoint_id=endpoint_id)
            assert row is not None and row.state is states[endpoint_id]
            try:
                store.transition(
                    session=session, endpoint=row, to=target, actor="bot", message="walk", now=at
                )
            except IllegalTransition:
                assert target not in TRANSITIONS[states[endpoint_id]]
                continue
        assert target in TRANSITIONS[states[endpoint_id]]
        expected[endpoint_id].append((states[endpoint_id], target))
        states[endpoint_id] = target
    assert sum(len(moves) for moves in expected.values()) >= 40  # the walk really moved
    with database.session() as session:
        for endpoint_id, moves in expected.items():
            log = [
                (e.from_state, e.to_state)
                for e in store.list_events(session=session, endpoint_id=endpoint_id)
                if e.kind == "transition"
            ]
            row = store.get_endpoint(session=session, endpoint_id=endpoint_id)
            assert log == moves
            assert row.version == len(moves) + 1  # type: ignore[union-attr]
            assert row.state is states[endpoint_id]  # type: ignore[union-attr]
