"""Cold-start timings: phases from the marks (pure), stored per launch and read back as medians, and the
whole launch measured end to end with the fake cloud and with the local launcher running the fake engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.text import stats_lines, status_lines
from core.clock import ManualClock, SystemClock
from core.db import Database
from core.endpoints import cold_stats, messaging, store, timings
from core.endpoints.records import ColdStart, Phase
from core.endpoints.states import EndpointState as S
from core.endpoints.timings import ColdStartRecord, Marks, measure
from core.launcher.local import LocalLauncher
from core.launcher.startup_log import StartupLog
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, make_settings, up_request
from tests.db_fixtures import create_test_endpoint
from tests.fakes.fake_cloud import FakeCloud

pytestmark = pytest.mark.timeout(120)

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
FAKE_ENGINE = f"{sys.executable} -m tests.fakes.fake_engine"


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _named(cold: ColdStart) -> dict[str, tuple[float, str | None]]:
    return {p.name: (p.seconds, p.note) for p in cold.phases}


# --- measure (pure) ----------------------------------------------------------------------------------


def test_a_cloud_launch_splits_into_every_phase() -> None:
    marks = Marks(
        requested_at=_at(0),
        provisioning_at=_at(0.2),
        cluster_up_at=_at(185.2),
        starting_at=_at(225.2),
        healthy_at=_at(429.2),
        ready_at=_at(432.2),
    )
    cold = measure(marks, StartupLog(weights_load_s=130.0), model="Qwen/Qwen2.5-7B-Instruct")
    assert cold.total_s == pytest.approx(432.2)
    assert _named(cold) == {
        "provisioning": (185.0, None),
        "setup": (40.0, None),
        "weights": (130.0, "cache"),
        "load": (pytest.approx(74.0), None),
        "first completion": (3.0, None),
    }
    assert messaging.cold_start_text(cold) == (
        "Cold start 7m12s: provisioning 3m5s, setup 40s, weights 2m10s (cache), load 1m14s, first completion 3s"
    )


def test_a_download_is_named_and_counted_in_the_weights() -> None:
    marks = Marks(
        requested_at=_at(0),
        provisioning_at=_at(0),
        starting_at=_at(60),
        healthy_at=_at(400),
        ready_at=_at(401),
    )
    cold = measure(marks, StartupLog(download_s=200.0, weights_load_s=30.0), model="org/m")
    assert _named(cold)["weights"] == (230.0, "download")
    assert _named(cold)["load"] == (110.0, None)


def test_without_the_cluster_up_time_provisioning_is_one_phase_and_nothing_is_invented() -> None:
    marks = Marks(
        requested_at=_at(0),
        provisioning_at=_at(5),
        starting_at=_at(200),
        healthy_at=_at(300),
        ready_at=_at(302),
    )
    cold = measure(marks, None, model="org/m")
    assert list(_named(cold)) == ["queued", "provisioning", "engine start", "first completion"]
    assert _named(cold)["engine start"] == (100.0, None) and _named(cold)["queued"] == (5.0, None)


def test_a_cluster_up_time_outside_the_launch_is_not_used() -> None:
    marks = Marks(
        requested_at=_at(0),
        provisioning_at=_at(0),
        cluster_up_at=_at(-3600),
        starting_at=_at(100),
        ready_at=_at(150),
    )
    assert list(_named(measure(marks, None, model="m"))) == ["provisioning", "engine start"]


def test_the_local_launcher_has_no_provisioning_and_a_local_model_no_cache() -> None:
    marks = Marks(
        requested_at=_at(0),
        provisioning_at=_at(0.3),
        starting_at=_at(0.8),
        healthy_at=_at(60.3),
        ready_at=_at(60.5),
        provisions=False,
    )
    cold = measure(marks, StartupLog(weights_load_s=20.0), model="./demo-model")
    assert list(_named(cold)) == ["weights", "load", "first completion"]
    assert _named(cold)["weights"] == (20.0, "local") and _named(cold)["load"] == (40.0, None)
    assert "<1s" in messaging.phases_text(cold.phases)


def test_engine_figures_never_exceed_the_time_seen() -> None:
    # The bot sees the launch finished up to a poll late, so the engine may report more than it saw.
    marks = Marks(
        requested_at=_at(0), provisioning_at=_at(0), starting_at=_at(10), healthy_at=_at(14), ready_at=_at(15)
    )
    phases = _named(measure(marks, StartupLog(weights_load_s=6.0), model="m"))
    assert phases["weights"] == (4.0, "cache") and phases["load"] == (0.0, None)


def test_sglang_weights_carry_no_guess_about_their_source() -> None:
    marks = Marks(
        requested_at=_at(0), provisioning_at=_at(0), starting_at=_at(10), healthy_at=_at(50), ready_at=_at(51)
    )
    assert _named(measure(marks, StartupLog(sglang_weights_s=25.0), model="m"))["weights"] == (25.0, None)


def test_without_a_healthy_mark_the_engine_start_runs_to_ready() -> None:
    marks = Marks(requested_at=_at(0), provisioning_at=_at(0), starting_at=_at(10), ready_at=_at(70))
    cold = measure(marks, StartupLog(weights_load_s=5.0), model="m")
    assert list(_named(cold)) == ["provisioning", "engine start"] and _named(cold)["engine start"] == (
        60.0,
        None,
    )


# --- stored runs and their medians ---------------------------------------------------------------------


def _stored_run(
    database: Database, *, name: str, model: str, accel: str, provisioning: float, engine: float
) -> None:
    """One launch moved REQUESTED -> READY on a manual clock, measured as the flows measure it."""
    clock = ManualClock(T0)
    with database.session() as session:
        view = store.to_view(
            create_test_endpoint(session, now=clock.now(), name=name, model=model, accelerators=accel)
        )
    steps = ((S.PROVISIONING, 0.0), (S.STARTING, provisioning))
    for to, after in steps:
        clock.advance(timedelta(seconds=after))
        with database.session() as session:
            endpoint = store.get_endpoint(session=session, endpoint_id=view.id)
            store.transition(
                session=session, endpoint=endpoint, to=to, actor="bot", message="t", now=clock.now()
            )
    clock.advance(timedelta(seconds=engine))
    healthy_at = clock.now()  # the readiness step "engine answers /health"
    clock.advance(timedelta(seconds=2))
    with FakeCloud() as cloud, database.session() as session:  # no such cluster: no launcher facts
        endpoint = store.get_endpoint(session=session, endpoint_id=view.id)
        store.transition(
            session=session, endpoint=endpoint, to=S.READY, actor="bot", message="t", now=clock.now()
        )
        timings.record_ready(
            session, endpoint, launcher=cloud, provisioning_at=T0, healthy_at=healthy_at
        )
        after = store.to_view(endpoint)
    assert after.lifecycle.cold_start is not None


def test_stats_are_medians_over_finished_launches(database: Database) -> None:
    for i, (provisioning, engine) in enumerate([(100, 50), (300, 70), (200, 60)]):
        _stored_run(
            database,
            name=f"q{i}",
            model="Qwen/Qwen2.5-7B-Instruct",
            accel="L4:1",
            provisioning=provisioning,
            engine=engine,
        )
    _stored_run(
        database,
        name="big",
        model="meta-llama/Llama-3.1-70B-Instruct",
        accel="H100:4",
        provisioning=400,
        engine=300,
    )
    with database.session() as session:
        everything = cold_stats.history(session)
        h100 = cold_stats.history(session, contains="h100")
        typical = cold_stats.typical(
            session, model="Qwen/Qwen2.5-7B-Instruct", accelerators="L4:1", engine="vllm"
        )
        unseen = cold_stats.typical(
            session, model="Qwen/Qwen2.5-7B-Instruct", accelerators="A100:1", engine="vllm"
        )
        assert session.query(ColdStartRecord).count() == 4
    qwen = everything[0]
    assert (qwen.model, qwen.accelerators, qwen.launches) == ("Qwen/Qwen2.5-7B-Instruct", "L4:1", 3)
    assert qwen.total_s == pytest.approx(262.0)  # medians: 200 + 60 + 2
    assert [(p.name, p.seconds) for p in qwen.phases] == [
        ("provisioning", 200.0),
        ("engine start", 60.0),
        ("first completion", 2.0),
    ]
    assert [h.model for h in h100] == ["meta-llama/Llama-3.1-70B-Instruct"]
    assert typical is not None and typical.launches == 3 and unseen is None
    lines = stats_lines(everything)
    assert (
        lines[1]
        == "  Qwen/Qwen2.5-7B-Instruct on L4:1 (vllm): 4m22s over 3 launches: provisioning 3m20s, engine start 1m, first completion 2s"
    )
    assert "1 launch:" in lines[2]


def test_no_history_says_so(database: Database) -> None:
    with database.session() as session:
        assert cold_stats.history(session) == []
    assert "No finished launches matching `h100`" in stats_lines([], contains="h100")[0]


# --- whole launches --------------------------------------------------------------------------------------


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    database.upgrade()
    yield database
    database.dispose()


def _launch(lc: Lifecycle, name: str, **request: Any) -> None:
    lc.service.up(request=up_request(max_model_len=8192, name=name, **request))
    lc.join()
    assert lc.state(name) is S.READY


def test_a_fake_cloud_launch_ends_ready_with_its_phases(migrated: Database) -> None:
    clock = SystemClock()
    cloud = FakeCloud(
        start_engines=True, launch_seconds=0.3, engine_options={"startup_delay": 0.4}, now=clock.now
    )
    lc = Lifecycle(database=migrated, cloud=cloud, clock=clock, settings=make_settings(launcher="skypilot"))  # type: ignore[arg-type]
    try:
        _launch(lc, "cloudy")
        cold = lc.service.status(name="cloudy").lifecycle.cold_start
        assert cold is not None
        phases = _named(cold)
        assert list(phases) == ["provisioning", "setup", "weights", "load", "first completion"]
        assert phases["provisioning"][0] >= 0.25 and phases["weights"] == (0.2, "cache")
        assert sum(p.seconds for p in cold.phases) == pytest.approx(cold.total_s, abs=0.3)
        ready = [t for t in lc.notifier.thread_texts("cloudy") if t.startswith("Ready")]
        assert len(ready) == 1 and "Cold start" in ready[0] and "weights <1s (cache)" in ready[0]
        # The card posted at READY carries them too.
        last_card = [v for v in lc.notifier.of("changed") if v.name == "cloudy"][-1]
        assert last_card.lifecycle.cold_start == cold
        # The next launch like it is told what to expect in its thread.
        _launch(lc, "cloudy2")
        assert any(t.startswith("Similar launches took ~1 min") for t in lc.notifier.thread_texts("cloudy2"))
        assert lc.notifier.thread_texts("cloudy2")[0].startswith("Similar launches")
    finally:
        lc.close()
        cloud.close()


def test_a_local_launch_records_the_engines_load_time(migrated: Database, tmp_path: Path) -> None:
    settings = make_settings(
        local_engine_command=f"{FAKE_ENGINE} --startup-delay 1.0", local_state_dir=tmp_path / "state"
    )
    launcher = LocalLauncher(settings)
    lc = Lifecycle(database=migrated, cloud=launcher, clock=SystemClock(), settings=settings)  # type: ignore[arg-type]
    try:
        _launch(lc, "loco")
        view = lc.service.status(name="loco")
        cold = view.lifecycle.cold_start
        assert cold is not None
        assert [p.name for p in cold.phases] == [
            "weights",
            "load",
            "first completion",
        ]  # no provisioning here
        assert cold.phases[0] == Phase("weights", 0.5, "cache")  # "Loading weights took 0.50 seconds"
        assert cold.total_s >= 1.0
        text = "\n".join(status_lines(view, now=SystemClock().now()))
        assert "Cold start" in text and "weights <1s (cache)" in text and "provisioning" not in text
        with migrated.session() as session:
            [row] = session.query(ColdStartRecord).all()
            assert (row.launcher, row.weights_s, row.weights_note) == ("local", 0.5, "cache")
            assert row.provisioning_s is None and row.setup_s is None
    finally:
        lc.service.down(name="loco", actor="U_OWNER")
        lc.join()
        lc.close()
