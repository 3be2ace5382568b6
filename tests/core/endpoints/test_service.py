"""EndpointService: validation before side effects, fit check, permissions, extend ceiling, budget,
on a real store (SQLite and PostgreSQL) with the fake cloud and real model configs."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.clock import ManualClock
from core.db import Database
from core.endpoints.service import DoesNotFit
from core.endpoints.states import EndpointState as S
from core.endpoints.views import EndpointView
from core.errors import BudgetExceeded, InvalidRequest, NotFound, PermissionDenied, UserFacingError
from tests.core.endpoints.lifecycle_fixtures import HF_TOKEN, Lifecycle, make_settings, new_cloud, up_request

pytestmark = pytest.mark.timeout(60)


def _lifecycle(database: Database, **settings: Any) -> Lifecycle:
    clock = ManualClock()
    return Lifecycle(
        database=database, cloud=new_cloud(clock), clock=clock, settings=make_settings(**settings)
    )


@pytest.fixture
def lc(database: Database) -> Iterator[Lifecycle]:
    lifecycle = _lifecycle(database)
    yield lifecycle
    lifecycle.close()
    lifecycle.cloud.close()


def _up(lc: Lifecycle, **overrides: Any) -> str:
    view = lc.service.up(request=up_request(max_model_len=8192, **overrides))
    lc.join()
    return view.name


def _launched_argv(lc: Lifecycle, view: EndpointView) -> list[str]:
    """The engine argv the launch handed the cloud (built once, from the stored plan and the settings)."""
    cluster = lc.cloud.cluster(view.cluster_name)
    assert cluster is not None
    return list(cluster.spec.engine_argv)


def _nothing_happened(lc: Lifecycle) -> None:
    assert lc.service.list(include_terminal=True) == []
    assert lc.cloud.calls == []
    assert lc.notifier.calls == []


def test_up_records_first_announces_then_launches_to_ready(lc: Lifecycle) -> None:
    view = lc.service.up(request=up_request(max_model_len=8192))
    assert view.state is S.REQUESTED  # returned at once; the launch runs on the pool
    assert view.cluster_name.startswith("epb-")
    assert view.plan is not None and view.plan.fits
    assert view.price_per_hour > 0
    lc.join()
    assert _launched_argv(lc, view)[:2] == ["vllm", "serve"]
    final = lc.service.status(name=view.name)
    assert final.state is S.READY
    announced = lc.notifier.of("announce")
    assert len(announced) == 1 and announced[0].state is S.REQUESTED
    assert final.message_ts == "1700000000.000001", "the card's ChatRef is stored"
    assert final.options.ttl_s == 8 * 3600
    assert final.expires_at - final.requested_at == timedelta(hours=8)
    assert len(lc.notifier.of("ready")) == 1


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"engine": "tgi"}, "engine"),
        ({"quantization": "bitsandbytes"}, "quantization"),  # gone from vLLM 0.33
        ({"dtype": "int3"}, "dtype"),
        ({"kv_cache_dtype": "int4"}, "kv_cache_dtype"),
        ({"ttl": timedelta(hours=100)}, "ceiling"),
        ({"ttl": timedelta(0)}, "lifetime"),
        ({"idle_timeout": timedelta(seconds=-5)}, "idle"),
        ({"max_cost": 0.0}, "max_cost"),
        ({"name": "Bad Name!"}, "name"),
        ({"cloud": "gcpp"}, "cloud"),
        ({"region": "us-central1"}, "cloud="),
        ({"region": "US CENTRAL"}, "region"),
        ({"speculative_tokens": 3}, "draft"),
        ({"memory_fraction": 1.5}, "memory fraction"),
        ({"tensor_parallel": 0}, "tensor parallel"),
        ({"draft_model": "Qwen/Qwen2.5-7B-Instruct"}, "draft"),
        ({"accelerators": "Z100:1"}, "Z100"),
        ({"model": "no such/model/really"}, "model"),
        ({"model": "nobody/not-in-fixtures"}, "not-in-fixtures"),
        # Unbounded numbers from the CLI or any other caller: refused before arithmetic or the database
        # (inf was stored as "cap $inf" on SQLite and raised DataError on PostgreSQL).
        ({"max_cost": float("inf")}, "max_cost"),
        ({"max_cost": float("nan")}, "max_cost"),
        ({"max_cost": 1e400}, "max_cost"),
        ({"max_cost": 2_000_000.0}, "max_cost"),
        ({"max_model_len": 10**400}, "context length"),
        ({"idle_timeout": timedelta(days=5000)}, "idle"),
        ({"model": "x" * 10_000}, "model"),
    ],
)
def test_bad_input_is_refused_with_a_sentence_and_changes_nothing(
    lc: Lifecycle, overrides: dict[str, Any], words: str
) -> None:
    with pytest.raises(UserFacingError) as caught:
        lc.service.up(request=up_request(**overrides))
    assert words.lower() in str(caught.value).lower()
    assert len(str(caught.value)) < 400, "what was typed is quoted, cut"
    _nothing_happened(lc)


def test_tp_and_memory_fraction_reach_the_plan_and_the_engine_command(lc: Lifecycle) -> None:
    view = lc.service.up(
        request=up_request(accelerators="L4:2", tensor_parallel=2, memory_fraction=0.85, max_model_len=8192)
    )
    assert view.plan is not None
    assert view.plan.memory_fraction == 0.85 and view.plan.kv_cache_tokens > 0
    assert (view.options.tensor_parallel, view.options.memory_fraction) == (2, 0.85)
    lc.join()
    argv = _launched_argv(lc, view)
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.85"


def test_a_pinned_tp_the_gpus_cannot_take_is_refused_before_anything_happens(lc: Lifecycle) -> None:
    with pytest.raises(DoesNotFit) as caught:
        lc.service.up(request=up_request(accelerators="L4:2", tensor_parallel=3))
    assert any("Tensor parallel size 3" in r for r in caught.value.plan.reasons)
    _nothing_happened(lc)


def test_model_that_does_not_fit_is_refused_with_the_plan(lc: Lifecycle) -> None:
    with pytest.raises(DoesNotFit) as caught:
        lc.service.up(request=up_request(model="meta-llama/Llama-3.1-70B-Instruct", accelerators="L4:1"))
    assert not caught.value.plan.fits
    assert caught.value.plan.reasons
    _nothing_happened(lc)


def test_a_taken_name_is_refused(lc: Lifecycle) -> None:
    _up(lc, name="mine")
    with pytest.raises(InvalidRequest, match="already used"):
        lc.service.up(request=up_request(name="mine"))
    assert len(lc.service.list(include_terminal=True)) == 1


def test_only_owner_or_admin_may_stop_extend_or_keep_alive(lc: Lifecycle) -> None:
    name = _up(lc)
    for act in (
        lambda: lc.service.down(name=name, actor="U_STRANGER"),
        lambda: lc.service.extend(name=name, actor="U_STRANGER", by=timedelta(hours=1)),
        lambda: lc.service.keep_alive(name=name, actor="U_STRANGER"),
    ):
        with pytest.raises(PermissionDenied):
            act()
    assert lc.state(name) is S.READY
    lc.service.keep_alive(name=name, actor="U_ADMIN")
    lc.service.down(name=name, actor="U_ADMIN")
    lc.join()
    view = lc.service.status(name=name)
    assert view.state is S.STOPPED
    assert view.stop_reason == "stopped by <@U_ADMIN>"  # a mention: Slack shows the name


def test_down_is_idempotent_and_unknown_names_are_not_found(lc: Lifecycle) -> None:
    name = _up(lc)
    lc.service.down(name=name, actor="U_OWNER")
    lc.join()
    downs = len(lc.cloud.calls_to("down"))
    again = lc.service.down(name=name, actor="U_OWNER")
    lc.join()
    assert again.state is S.STOPPED
    assert len(lc.cloud.calls_to("down")) == downs, "already stopped: nothing asked of the cloud"
    with pytest.raises(NotFound):
        lc.service.down(name="ghost", actor="U_OWNER")


def test_extend_moves_expiry_resets_the_cluster_deadline_and_is_audited(lc: Lifecycle) -> None:
    name = _up(lc)
    before = lc.service.status(name=name)
    lc.clock.advance(timedelta(hours=1))
    view = lc.service.extend(name=name, actor="U_OWNER", by=timedelta(hours=2))
    lc.join()
    assert view.expires_at == before.expires_at + timedelta(hours=2)
    # 8h lifetime, 1h gone, +2h: the cluster's own timer now says 9h from now.
    assert lc.cloud.calls_to("set_deadline")[-1].args == {
        "cluster_name": view.cluster_name,
        "minutes": 9 * 60,
    }
    assert lc.cloud.cluster(view.cluster_name).deadline_minutes == 9 * 60
    extends = [e for e in lc.events(name) if e["kind"] == "extend"]
    assert len(extends) == 1 and extends[0]["actor"] == "U_OWNER"


def test_extend_never_passes_the_admin_ceiling(lc: Lifecycle) -> None:
    name = _up(lc)
    view = lc.service.extend(name=name, actor="U_OWNER", by=timedelta(hours=500))
    assert view.expires_at == view.requested_at + lc.settings.max_ttl
    with pytest.raises(InvalidRequest, match="ceiling"):
        lc.service.extend(name=name, actor="U_ADMIN", by=timedelta(hours=1))
    lc.join()
    assert lc.cloud.calls_to("set_deadline")[-1].args["minutes"] == 72 * 60


def test_extend_or_keep_alive_of_a_stopped_endpoint_is_a_clear_answer(lc: Lifecycle) -> None:
    name = _up(lc)
    lc.service.down(name=name, actor="U_OWNER")
    lc.join()
    with pytest.raises(InvalidRequest, match="stopped"):
        lc.service.extend(name=name, actor="U_OWNER", by=timedelta(hours=1))
    with pytest.raises(InvalidRequest, match="stopped"):
        lc.service.keep_alive(name=name, actor="U_OWNER")


def test_keep_alive_resets_the_idle_clock(lc: Lifecycle) -> None:
    name = _up(lc)
    lc.clock.advance(timedelta(minutes=30))
    view = lc.service.keep_alive(name=name, actor="U_OWNER")
    assert view.last_activity_at == lc.clock.now()
    assert any(e["kind"] == "keep_alive" for e in lc.events(name))


def test_team_daily_budget_refuses_new_launches_once_spent(database: Database) -> None:
    lc = _lifecycle(database, team_daily_budget=1.0)
    try:
        name = _up(lc)
        price = lc.service.status(name=name).price_per_hour
        lc.clock.advance(timedelta(hours=1.5 / price))  # $1.50 spent today
        with pytest.raises(BudgetExceeded, match=r"\$1.50"):
            lc.service.up(request=up_request(max_model_len=8192))
        assert len(lc.service.list(include_terminal=True)) == 1
        # A new UTC day starts a new budget.
        lc.service.down(name=name, actor="U_OWNER")
        lc.join()
        lc.clock.advance(timedelta(days=1))
        assert lc.service.up(request=up_request(max_model_len=8192)).state is S.REQUESTED
        lc.join()
    finally:
        lc.close()
        lc.cloud.close()


def test_list_and_status(lc: Lifecycle) -> None:
    a = _up(lc, name="a")
    b = _up(lc, name="b", owner_id="U_OTHER")
    lc.service.down(name=a, actor="U_OWNER")
    lc.join()
    assert [v.name for v in lc.service.list()] == [b]
    assert [v.name for v in lc.service.list(include_terminal=True)] == [a, b]
    assert [v.name for v in lc.service.list(include_terminal=True, owner_id="U_OTHER")] == [b]
    assert lc.service.status(name=b).state is S.READY
    with pytest.raises(NotFound):
        lc.service.status(name="nope")


def test_list_page_and_home_read_a_screenful_and_count_the_rest(lc: Lifecycle) -> None:
    names = [_up(lc, name=f"p{i}", owner_id="U_OWNER" if i % 2 else "U_OTHER") for i in range(5)]
    lc.service.down(name=names[4], actor="U_OTHER")
    lc.join()
    page = lc.service.list_page(limit=2)
    assert [v.name for v in page.views] == names[:2] and page.total == 4 and page.more == 2
    everything = lc.service.list_page(limit=10, include_terminal=True)
    assert [v.name for v in everything.views] == names and everything.total == 5 and everything.more == 0
    home = lc.service.home(user_id="U_OWNER", limit=1)
    assert [v.name for v in home.mine.views] == [names[1]] and home.mine.total == 2
    assert [v.name for v in home.others.views] == [names[0]] and home.others.total == 2
    live = lc.service.list()
    assert home.spend_per_hour == pytest.approx(sum(v.price_per_hour for v in live))


def test_preview_redacts_every_secret(lc: Lifecycle) -> None:
    from core.launcher.render import render_task_yaml

    plan, spec = lc.service.preview(request=up_request(max_model_len=8192))
    assert plan.fits and plan.engine_command == spec.engine_argv  # one argv: the one the launch would run
    assert spec.engine_argv[spec.engine_argv.index("--port") + 1] == str(lc.settings.engine_port)
    assert set(spec.secrets.values()) == {"<redacted>"}
    text = render_task_yaml(spec)
    assert HF_TOKEN not in text and "epk-" not in text
    assert spec.autostop_minutes == 8 * 60
    _nothing_happened(lc)


def test_fit_gives_one_plan_for_an_accelerator_or_the_cheapest_shapes(lc: Lifecycle) -> None:
    [plan] = lc.service.fit(
        model="Qwen/Qwen2.5-7B-Instruct", accelerators="L4:1", options={"max_model_len": 8192}
    )
    assert plan.fits and plan.accelerators == "L4:1"
    shapes = lc.service.fit(model="meta-llama/Llama-3.1-70B-Instruct", accelerators=None, options={})
    assert shapes and all(p.fits for p in shapes)
    prices = [p.price_per_hour for p in shapes]
    assert prices == sorted(prices)
    with pytest.raises(InvalidRequest, match="Unknown fit option"):
        lc.service.fit(model="Qwen/Qwen2.5-7B-Instruct", accelerators="L4:1", options={"colour": "red"})
    _nothing_happened(lc)


@pytest.mark.timeout(90)
def test_up_and_down_through_the_skypilot_launcher_and_the_real_sky_client(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production launcher, over SkyPilot's own client and HTTP, against the fake API server; the
    cluster's "public IP" is loopback, where a fake engine answers."""
    pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")
    from sky.server import common as server_common

    from core.launcher.skypilot import SkyPilotLauncher
    from core.workers import WorkerPool
    from tests.core.endpoints.lifecycle_fixtures import FAST_FLOWS, RecordingNotifier, fixture_facts
    from tests.fakes import fake_sky_api
    from tests.fakes.fake_engine import start_fake_engine

    def forget_server() -> None:
        server_common.get_server_url.cache_clear()
        server_common.is_api_server_local.cache_clear()

    monkeypatch.setattr(
        fake_sky_api, "FakeSkyCluster", functools.partial(fake_sky_api.FakeSkyCluster, ip="127.0.0.1")
    )
    with (
        fake_sky_api.FakeSkyApiServer() as api,
        start_fake_engine(engine="vllm", model="Qwen/Qwen2.5-7B-Instruct") as engine,
    ):
        monkeypatch.setenv("SKYPILOT_API_SERVER_ENDPOINT", api.url)
        monkeypatch.setenv("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
        forget_server()
        settings = make_settings(launcher="skypilot", engine_port=engine.port)
        launcher = SkyPilotLauncher(settings, poll_seconds=0.02)
        workers = WorkerPool.from_settings(settings)
        notifier = RecordingNotifier()
        from core.endpoints.service import EndpointService

        service = EndpointService(
            settings=settings, database=sqlite_database, launcher=launcher, notifier=notifier,
            workers=workers, clock=ManualClock(), facts_loader=fixture_facts, live_prices=False,
            flow_options=dict(FAST_FLOWS),
        )  # fmt: skip
        try:
            # tls=no: the fake API server runs no run script, so the engine here is a plain one.
            view = service.up(request=up_request(max_model_len=8192, tls=False))
            assert workers.join(60)
            ready = service.status(name=view.name)
            assert ready.state is S.READY, ready.failure_reason
            assert ready.url == f"http://127.0.0.1:{engine.port}"
            assert api.launched_tasks[0]["run"]  # the real client sent a real task
            service.down(name=view.name, actor="U_OWNER")
            assert workers.join(60)
            assert service.status(name=view.name).state is S.STOPPED
            assert view.cluster_name not in api.clusters
        finally:
            workers.shutdown()
            forget_server()


@pytest.mark.parametrize("path", ["/etc", "./models/qwen", "../up", "~/weights", "~root/x", " /srv/m"])
def test_local_model_directories_are_refused_with_the_skypilot_launcher(
    database: Database, path: str
) -> None:
    read: list[str] = []
    lc = _lifecycle(database, launcher="skypilot")
    lc.service.facts_loader = lambda model, **_: read.append(model)  # type: ignore[assignment,misc,return-value]
    try:
        for attempt in (
            lambda: lc.service.up(request=up_request(model=path)),
            lambda: lc.service.preview(request=up_request(model=path)),
            lambda: lc.service.fit(model=path, accelerators="L4:1", options={}),
            lambda: lc.service.fit(model=path, accelerators=None, options={}),
            lambda: lc.service.fit(model="Qwen/Qwen2.5-7B-Instruct", accelerators="L4:1",
                                   options={"draft_model": path}),
        ):  # fmt: skip
            with pytest.raises(
                InvalidRequest, match="only accepted with the local launcher; use a Hub repo id"
            ):
                attempt()
        with pytest.raises(InvalidRequest, match="only accepted with the local launcher"):
            lc.service.up(request=up_request(draft_model=path))
        assert read == ["Qwen/Qwen2.5-7B-Instruct"], "only the Hub model was read; nothing on the host"
        _nothing_happened(lc)
    finally:
        lc.close()
        lc.cloud.close()


@pytest.mark.parametrize(
    "settings", [{"launcher": "local"}, {"launcher": "skypilot", "allow_local_models": True}]
)
def test_local_model_directories_are_read_with_the_local_launcher_or_when_allowed(
    database: Database, settings: dict[str, Any]
) -> None:
    from tests.core.endpoints.lifecycle_fixtures import fixture_facts

    read: list[str] = []

    def loader(model: str, **kwargs: Any) -> Any:
        read.append(model)
        return fixture_facts("Qwen/Qwen2.5-7B-Instruct")

    lc = _lifecycle(database, **settings)
    lc.service.facts_loader = loader
    try:
        plans = lc.service.fit(model="./models/qwen", accelerators="L4:1", options={"max_model_len": 8192})
        assert plans[0].fits
        view = lc.service.up(request=up_request(model="./models/qwen", max_model_len=8192))
        lc.join()
        assert lc.service.status(name=view.name).state is S.READY
        assert read == ["./models/qwen", "./models/qwen"]
    finally:
        lc.close()
        lc.cloud.close()


def test_a_launch_waiting_for_a_worker_thread_says_so_in_its_thread(database: Database) -> None:
    """Only a launch's first step (record, submit) needs a thread; when every thread is busy submitting,
    the next launches are told their place, and all of them still run."""
    clock = ManualClock()
    cloud = new_cloud(clock)
    gate = threading.Event()
    entered = threading.Semaphore(0)

    class SlowSubmit:
        """The fake cloud, whose `submit` waits for the test: the submitting launches hold both threads."""

        name = "fake"

        def __getattr__(self, attr: str) -> Any:
            return getattr(cloud, attr)

        def submit(self, spec: Any) -> str:
            entered.release()
            assert gate.wait(60)
            return cloud.submit(spec)

    lc = Lifecycle(
        database=database, cloud=SlowSubmit(), clock=clock, settings=make_settings(worker_threads=2)
    )
    try:
        names = [
            lc.service.up(request=up_request(name=f"burst{i}", max_model_len=8192)).name for i in range(4)
        ]
        assert entered.acquire(timeout=60) and entered.acquire(timeout=60)  # both threads are submitting
        said = {name: lc.notifier.thread_texts(name) for name in names}
        assert not any("Queued" in t for name in names[:2] for t in said[name])
        assert any(
            "Queued: all 2 launch workers are busy" in t and "queued ahead" not in t for t in said[names[2]]
        )
        assert any("1 other launch queued ahead of it" in t for t in said[names[3]])
        gate.set()
        lc.join()
        assert all(lc.state(name) is S.READY for name in names), "queued launches still run"
    finally:
        gate.set()
        lc.close()
        cloud.close()


def test_down_still_stops_an_endpoint_whose_launch_moved_it_at_the_same_moment(
    lc: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch flow moves REQUESTED -> PROVISIONING between `down` reading the row and writing
    STOPPING: the stop must still win (not fail with an internal conflict and leave it launching)."""
    from core.endpoints import service as service_module
    from core.endpoints import store
    from tests.core.endpoints.lifecycle_fixtures import record_endpoint

    view = record_endpoint(lc)
    real_authorize = service_module.EndpointService._authorize
    moved: list[bool] = []

    def authorize_then_launch_step(self: Any, endpoint: Any, actor: str, verb: str) -> None:
        real_authorize(self, endpoint, actor, verb)
        if moved:
            return
        moved.append(True)
        with lc.database.session() as other:  # the launch flow's own session, committed first
            row = store.get_endpoint(session=other, endpoint_id=view.id)
            store.transition(
                session=other,
                endpoint=row,
                to=S.PROVISIONING,
                actor="bot",
                message="launch",
                now=lc.clock.now(),
            )

    monkeypatch.setattr(service_module.EndpointService, "_authorize", authorize_then_launch_step)
    stopped = lc.service.down(name=view.name, actor="U_OWNER")
    lc.join()
    assert moved, "the concurrent launch step ran"
    assert stopped.state is S.STOPPING
    assert lc.state(view.name) is S.STOPPED
    assert lc.service.status(name=view.name).stop_reason == "stopped by <@U_OWNER>"


@pytest.mark.parametrize("model", ["Qwen/Qwen2.5-7B-Instruct@main", "Qwen/Qwen2.5-7B-Instruct@{sha}"])
def test_up_takes_a_model_pinned_to_a_revision_to_the_hub(
    lc: Lifecycle, fake_hub, hub_settings, model: str
) -> None:
    """`up org/model@main` used to pass the parser and then be refused by the service's own model-id
    pattern as "not a model id" before the Hub was asked; `fit` and the README's pinning accept it."""
    from core.hub import load_model_facts

    sha = fake_hub.repos["Qwen/Qwen2.5-7B-Instruct"].sha
    model = model.format(sha=sha)
    lc.service.facts_loader = lambda name, *, settings: load_model_facts(name, settings=hub_settings)
    view = lc.service.up(request=up_request(model=model, max_model_len=8192))
    lc.join()
    assert lc.service.status(name=view.name).state is S.READY
    revision = model.partition("@")[2]
    assert fake_hub.model_requests()[0].path == f"/api/models/Qwen/Qwen2.5-7B-Instruct/revision/{revision}"
    argv = _launched_argv(lc, view)
    assert argv[argv.index("--revision") + 1] == sha  # the engine loads the commit the check read


def test_a_malformed_pinned_model_is_refused_before_the_hub_is_asked(lc: Lifecycle, fake_hub) -> None:
    with pytest.raises(InvalidRequest, match="nothing follows `@`"):
        lc.service.up(request=up_request(model="Qwen/Qwen2.5-7B-Instruct@"))
    assert fake_hub.model_requests() == []
    _nothing_happened(lc)


def test_a_gpu_spelling_with_several_catalogue_names_launches_on_any_of_them(lc: Lifecycle) -> None:
    # `H100-SXM5`: SkyPilot's `H100` (AWS p5, GCP a3) and `H100-SXM` (RunPod and others) are that part.
    view = lc.service.up(request=up_request(accelerators="H100-SXM5:1", max_model_len=8192))
    lc.join()
    assert lc.service.status(name=view.name).state is S.READY
    assert view.accelerators == "H100,H100-SXM:1"
    assert any("`H100` or `H100-SXM`" in w for w in view.plan.warnings)
    (submit,) = lc.cloud.calls_to("submit")
    assert submit.args["accelerators"] == ["H100:1", "H100-SXM:1"]


def test_a100_40gb_is_skypilots_a100(lc: Lifecycle) -> None:
    view = lc.service.up(request=up_request(accelerators="A100-40GB:1", max_model_len=8192))
    lc.join()
    assert view.accelerators == "A100:1"
    assert lc.cloud.calls_to("submit")[0].args["accelerators"] == ["A100:1"]


def test_up_with_rope_yarn_launches_the_stretched_context(lc: Lifecycle) -> None:
    view = lc.service.up(
        request=up_request(accelerators="A100-80GB:1", max_model_len=131072, rope_scaling="yarn")
    )
    lc.join()
    assert lc.service.status(name=view.name).state is S.READY
    argv = _launched_argv(lc, view)
    assert argv[argv.index("--max-model-len") + 1] == "131072"
    assert json.loads(argv[argv.index("--hf-overrides") + 1])["rope_parameters"]["factor"] == 4.0
    assert view.options.rope_scaling == "yarn"


def test_up_beyond_the_native_context_without_yarn_is_refused_with_yarn_offered(lc: Lifecycle) -> None:
    with pytest.raises(DoesNotFit) as caught:
        lc.service.up(request=up_request(accelerators="A100-80GB:1", max_model_len=131072))
    assert any("rope=yarn" in r for r in caught.value.plan.reasons)
    assert any(s.changes == {"rope_scaling": "yarn"} for s in caught.value.plan.suggestions)
    _nothing_happened(lc)


def test_an_unknown_rope_scaling_is_refused_before_anything_happens(lc: Lifecycle) -> None:
    with pytest.raises(InvalidRequest, match="rope=yarn"):
        lc.service.up(request=up_request(rope_scaling="dynamic"))
    _nothing_happened(lc)


def test_fit_without_gpus_beyond_the_native_context_says_rope_yarn(lc: Lifecycle) -> None:
    with pytest.raises(InvalidRequest, match="rope=yarn"):
        lc.service.fit(model="Qwen/Qwen2.5-7B-Instruct", accelerators=None, options={"max_model_len": 131072})
    shapes = lc.service.fit(
        model="Qwen/Qwen2.5-7B-Instruct", accelerators=None,
        options={"max_model_len": 131072, "rope_scaling": "yarn"},
    )  # fmt: skip
    assert shapes and all(p.fits and p.rope_scaling and p.max_context_tokens == 131072 for p in shapes)
