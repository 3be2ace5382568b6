"""Shared set-up for the lifecycle tests: a service on a real store, the fake cloud and a recording notifier.

`Lifecycle` bundles one "bot process": its own worker pool, notifier and service, on a database and a
FakeCloud that a second Lifecycle (a restarted process) can share. Facts come from the real model
configs in /work/shared/fixtures/model_configs.json through core.facts.facts_from_config (no Hub).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.clock import ManualClock
from core.db import Database
from core.endpoints import store
from core.endpoints.records import EndpointOptions
from core.endpoints.service import EndpointService, UpRequest
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.errors import ModelNotFound
from core.facts import ModelFacts
from core.fit.plan import MemoryBreakdown, Plan
from core.notifier import Action, ChatRef
from core.settings import Settings, load_settings
from core.workers import WorkerPool
from tests.fakes.fake_cloud import FakeCloud

FIXTURES = Path("/work/shared/fixtures/model_configs.json")
HF_TOKEN = "hf_TESTTOKENdoNotLeak1234567890"
MODEL = "Qwen/Qwen2.5-7B-Instruct"


def fixture_facts(model: str, *, settings: Settings | None = None) -> ModelFacts:
    """ModelFacts from the shared real configs (config.json only, no safetensors counts)."""
    from core.facts import facts_from_config

    for entry in json.loads(FIXTURES.read_text()):
        if entry["model_id"] == model:
            return facts_from_config(entry["config"], model_id=model)
    raise ModelNotFound(f"No model `{model}` in the test fixtures.")


class RecordingNotifier:
    """A Notifier that records what was said; `fail = True` makes every call raise (a chat outage)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = False
        self._lock = threading.Lock()
        self._ts = 0

    def _record(self, kind: str, payload: Any) -> None:
        with self._lock:
            self.calls.append((kind, payload))
        if self.fail:
            raise ConnectionError("chat is down")

    def announce(self, endpoint: EndpointView) -> ChatRef | None:
        self._record("announce", endpoint)
        with self._lock:
            self._ts += 1
            return ChatRef(channel_id=endpoint.channel_id or "C1", message_ts=f"1700000000.{self._ts:06d}")

    def endpoint_changed(self, endpoint: EndpointView) -> None:
        self._record("changed", endpoint)

    def thread_post(self, endpoint: EndpointView, text: str) -> None:
        self._record("thread", (endpoint.name, text))

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> None:
        self._record("ready", (endpoint, api_key))

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> None:
        self._record("dm", (user_id, text))

    def of(self, kind: str) -> list[Any]:
        with self._lock:
            return [payload for k, payload in self.calls if k == kind]

    def thread_texts(self, name: str) -> list[str]:
        return [text for n, text in self.of("thread") if n == name]

    def everything_said(self) -> str:
        with self._lock:
            return repr(self.calls)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "hf_token": HF_TOKEN,
        "cluster_prefix": "epb-",
        "worker_threads": 8,
        "admin_user_ids": ["U_ADMIN"],
        "launcher": "local",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


FAST_FLOWS = {
    "teardown_delays": (0.0, 0.0),
    "heartbeat_every": 0.05,
    "readiness_options": {"first_delay": 0.01, "max_delay": 0.05},
    "request_poll_every": 0.01,
    "state_check_every": 0.05,
}


@dataclass
class Lifecycle:
    """One bot process for tests."""

    database: Any
    cloud: Any
    clock: ManualClock
    settings: Settings
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    workers: WorkerPool | None = None
    service: EndpointService | None = None

    def __post_init__(self) -> None:
        self.workers = self.workers or WorkerPool.from_settings(self.settings)
        self.service = EndpointService(
            settings=self.settings,
            database=self.database,
            launcher=self.cloud,
            notifier=self.notifier,
            workers=self.workers,
            clock=self.clock,
            facts_loader=fixture_facts,
            flow_options=dict(FAST_FLOWS),
        )

    def join(self, timeout: float = 90.0) -> None:
        # Generous: returns as soon as the flows finish, and CI's two cores may be busy.
        assert self.workers.join(timeout), "flows did not finish"

    def state(self, name: str) -> EndpointState:
        return self.service.status(name=name).state

    def events(self, name: str) -> list[dict[str, Any]]:
        return self.service.events(name=name)

    def close(self) -> None:
        self.workers.shutdown(wait=True)
        self.service.flows.close()


def up_request(**overrides: Any) -> UpRequest:
    values: dict[str, Any] = {
        "model": MODEL,
        "accelerators": "L4:1",
        "owner_id": "U_OWNER",
        "channel_id": "C1",
    }
    values.update(overrides)
    return UpRequest(**values)


def simple_plan(model: str = MODEL, accelerators: str = "L4:1", engine: str = "vllm") -> Plan:
    """A fitting plan written by hand (for flow tests that skip the fit check)."""
    gpu, _, count = accelerators.partition(":")
    return Plan(
        model_id=model,
        engine=engine,  # type: ignore[arg-type]
        accelerators=accelerators,
        gpu_name=gpu,
        gpu_count=int(count or 1),
        fits=True,
        tensor_parallel=int(count or 1),
        pipeline_parallel=1,
        data_parallel=1,
        expert_parallel=1,
        nodes=1,
        max_context_tokens=8192,
        memory_per_gpu_gib=MemoryBreakdown(weights=15.0, kv_cache=1.0, overhead=2.0, total=18.0, usable=20.0),
        price_per_hour=0.8,
        dtype="bfloat16",
        quantization=None,
        kv_cache_dtype=None,
        memory_fraction=0.92,
    )


def record_endpoint(
    lc: Lifecycle,
    *,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=8),
    owner_id: str = "U_OWNER",
    options: EndpointOptions | None = None,
) -> EndpointView:
    """An endpoint recorded in REQUESTED exactly as `up` leaves it, without fit check or scheduling."""
    now = lc.clock.now()
    with lc.database.session() as session:
        endpoint = store.create_endpoint(
            session=session,
            model=MODEL,
            accelerators="L4:1",
            engine="vllm",
            launcher=lc.cloud.name,
            owner_id=owner_id,
            channel_id="C1",
            options=options or EndpointOptions(engine="vllm", spot=False),
            plan=simple_plan(),
            idle_timeout_s=2700,
            expires_at=now + ttl,
            max_cost=None,
            price_per_hour=0.8,
            price_is_estimate=True,
            now=now,
            name=name,
            cluster_prefix=lc.settings.cluster_prefix,
        )
        return store.to_view(endpoint)


def new_cloud(clock: ManualClock, **kwargs: Any) -> FakeCloud:
    return FakeCloud(start_engines=True, now=clock.now, **kwargs)


@contextmanager
def sqlite_lifecycle(path: Path) -> Iterator[Lifecycle]:
    """A Lifecycle on a fresh migrated SQLite file at `path`, with a fake cloud on a manual clock; all
    of it closed afterwards."""
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    clock = ManualClock()
    cloud = new_cloud(clock)
    lifecycle = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    try:
        yield lifecycle
    finally:
        lifecycle.close()
        cloud.close()
        database.dispose()
