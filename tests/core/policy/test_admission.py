"""Limits checked atomically with the launch record: concurrent `up`s against a limit of one, from
threads with their own Database objects and from two processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.endpoints.models import Endpoint
from core.endpoints.service import UpRequest
from core.policy import gate as gate_module
from core.policy.gate import PolicyGate
from core.policy.loader import PolicySource, parse_policy
from core.policy.rules import PolicyRefused
from tests.db_fixtures import create_test_endpoint

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ONE_AT_A_TIME = "everyone:\n  limits:\n    endpoints: 1\n"
INTERNS_TWO_GPUS = "groups:\n  ml-interns:\n    members: [U1, U2]\n    limits:\n      gpus: 2\n"


def _gate(text: str) -> PolicyGate:
    return PolicyGate(PolicySource.fixed(parse_policy(text)), settings_admins=["U9ADMIN"])


def _try_launch(url: str, policy_text: str, owner: str, name: str, accelerators: str = "L4:1") -> str:
    """One `up`'s transaction: the policy's admission, then the row. "ok" or the refusal's rule."""
    database = Database(url)
    try:
        request = UpRequest(model="Qwen/Qwen2.5-7B-Instruct", accelerators=accelerators, owner_id=owner)
        admit = _gate(policy_text).admit(request, accelerators=accelerators, price_per_hour=1.0, now=NOW)
        with database.session() as session:
            create_test_endpoint(session, now=NOW, owner_id=owner, name=name, accelerators=accelerators,
                                 admission=admit)  # fmt: skip
        return "ok"
    except PolicyRefused as exc:
        return exc.decision.rule
    finally:
        database.dispose()


def _slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the window between reading the use and inserting the row, as a loaded machine would."""
    real = gate_module.use_of

    def slow(*args: Any, **kwargs: Any) -> Any:
        used = real(*args, **kwargs)
        time.sleep(0.3)
        return used

    monkeypatch.setattr(gate_module, "use_of", slow)


def _count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Endpoint)) or 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_ups_in_threads_pass_a_limit_of_one_once(
    backend: str, database_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = database_factory(backend, migrated=True)
    _slow_reads(monkeypatch)
    barrier = threading.Barrier(4)
    results: list[str] = []

    def run(i: int) -> None:
        barrier.wait()
        results.append(
            _try_launch(
                str(database.engine.url.render_as_string(hide_password=False)),
                ONE_AT_A_TIME,
                "U1",
                f"race-{i}",
            )
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(results) == ["everyone.limits.endpoints"] * 3 + ["ok"]
    assert _count(database) == 1


def _process_main(url: str, policy_text: str, owner: str, name: str, start: Any, out: Any) -> None:
    start.wait()
    out.put(_try_launch(url, policy_text, owner, name))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_against_a_group_limit(
    backend: str, database_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two bot processes, two members of one group, each asking for the group's last 2 GPUs."""
    database = database_factory(backend, migrated=True)
    url = database.engine.url.render_as_string(hide_password=False)
    _slow_reads(monkeypatch)  # inherited by the forked processes
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(2), context.Queue()
    processes = [
        context.Process(
            target=_process_main,
            args=(
                url,
                INTERNS_TWO_GPUS.replace("gpus: 2", "gpus: 1"),
                owner,
                f"proc-{owner.lower()}",
                start,
                out,
            ),
        )
        for owner in ("U1", "U2")
    ]
    for p in processes:
        p.start()
    results = sorted(out.get(timeout=120) for _ in processes)
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == ["groups.ml-interns.limits.gpus", "ok"]
    assert _count(database) == 1


def test_refusal_names_the_rule_the_use_and_who_can_change_it(sqlite_database: Database) -> None:
    url = sqlite_database.engine.url.render_as_string(hide_password=False)
    assert _try_launch(url, INTERNS_TWO_GPUS, "U1", "a") == "ok"
    assert _try_launch(url, INTERNS_TWO_GPUS, "U2", "b") == "ok"
    request = UpRequest(model="Qwen/Qwen2.5-7B-Instruct", accelerators="L4:1", owner_id="U2")
    admit = _gate(INTERNS_TWO_GPUS).admit(request, accelerators="L4:1", price_per_hour=1.0, now=NOW)
    with pytest.raises(PolicyRefused) as refused, sqlite_database.session() as session:
        create_test_endpoint(session, now=NOW, owner_id="U2", name="c", admission=admit)
    message = str(refused.value)
    assert message.startswith(
        "Your group `ml-interns` may use at most 2 GPUs at once; it has 2 GPUs in use (`a`, `b`)"
    )
    assert "`groups.ml-interns.limits.gpus`" in message and "Ask an admin: <@U9ADMIN>" in message
    assert refused.value.decision.limit == 2 and refused.value.decision.current == 2
    assert _count(sqlite_database) == 2  # nothing recorded for the refused launch
    # An admin is not bound by the limit; someone outside the group is not counted against it.
    assert _try_launch(url, INTERNS_TWO_GPUS, "U9ADMIN", "d") == "ok"
    assert _try_launch(url, INTERNS_TWO_GPUS, "U3", "e") == "ok"
