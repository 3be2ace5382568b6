"""Launch throughput: N `up` requests at once on the fake cloud, each followed to READY.

Run: `.venv/bin/python -m benchmarks.launch_bench [--launches 100] [--workers 16] [--provision-seconds 0.5]`;
the issue-12 case is `--launches 1000 --provision-seconds 3` (goal: all READY in under 10 s, a bounded
number of threads).

It wires the real EndpointService on a fresh SQLite store (WAL) with FakeCloud (tests/fakes/fake_cloud.py)
starting a real fake engine per cluster, so every launch goes through the whole flow: record, announce,
submit, follow the request, STARTING, readiness over HTTPS with a real completion, READY. The fake
engines run in a process of their own (tests/fakes/engine_farm_process.py), as real engines run on their
own machines, so the CPU figure is the bot's; `--engines-in-process` runs them in this process instead. The N requests
are sent from N threads at the same moment, as N people typing `/endpoint up` together. The poll
intervals are the production defaults (settings `request_poll_seconds`, `readiness_poll_first` /
`readiness_poll_max`) unless `--fast-polls` shrinks them; the ones used are printed. Printed:
- submission: wall time until every `up` returned, and per-call p50 / p99 / max (what a chat listener
  waits for; the Slack ack budget is 3 s);
- peak launch steps running at once on the worker pool, peak launches followed in the cloud at once,
  peak clusters provisioning, and the peak thread count of the process (`threading.active_count()`
  without the benchmark's own N submitting threads), with the count before the burst;
- time until all are READY, and the check: every record READY, none lost, one cluster per endpoint.
Exits 1 when a launch is missing or not READY.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "fixtures" / "configs" / "Qwen--Qwen2.5-7B-Instruct.json"


class CountingNotifier:
    """Counts what would be said (thread-safe); the benchmark measures the lifecycle, not a chat."""

    def __init__(self) -> None:
        self.ready: dict[str, str] = {}
        self.posts = 0
        self._lock = threading.Lock()

    def announce(self, endpoint: Any) -> None:
        return None

    def endpoint_changed(self, endpoint: Any) -> None:
        pass

    def thread_post(self, endpoint: Any, text: str) -> None:
        with self._lock:
            self.posts += 1

    def endpoint_ready(self, endpoint: Any, *, api_key: str) -> None:
        with self._lock:
            self.ready[endpoint.name] = api_key

    def direct_message(self, user_id: str, text: str, *, actions: tuple = ()) -> None:
        pass


SUBMITTER = "bench-up"


def _poll_options(fast: bool) -> dict[str, Any]:
    """The flow options: none (the production defaults), or the old benchmark's shrunk intervals."""
    if not fast:
        return {}
    return {"readiness_options": {"first_delay": 0.05, "max_delay": 0.2}, "request_poll_every": 0.05}


def _last_reached(session: Any, start: Any) -> dict[Any, float]:
    """Seconds from `start` until the last endpoint entered each launch state (from the audit log)."""
    from sqlalchemy import func, select

    from core.endpoints.models import EndpointEvent
    from core.endpoints.states import EndpointState

    out = {}
    for state in (EndpointState.PROVISIONING, EndpointState.STARTING, EndpointState.READY):
        last = session.scalar(select(func.max(EndpointEvent.at)).where(EndpointEvent.to_state == state))
        if last is not None:
            out[state] = (last - start).total_seconds()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=100)
    parser.add_argument("--workers", type=int, default=16, help="worker pool size (settings.worker_threads)")
    parser.add_argument("--provision-seconds", type=float, default=0.5, help="fake provisioning time")
    parser.add_argument(
        "--fast-polls",
        action="store_true",
        help="shrunk poll intervals (the old benchmark's) instead of the defaults",
    )
    parser.add_argument(
        "--engines-in-process",
        action="store_true",
        help="run the fake engines in the benchmark's own process (by default they run in a process of "
        "their own, as real engines run on their own machines, so the CPU figure is the bot's)",
    )
    parser.add_argument(
        "--derived-names", action="store_true", help="no name= given: every endpoint is named from the model"
    )
    args = parser.parse_args(argv)

    from core.clock import SystemClock
    from core.db import Database
    from core.endpoints import store
    from core.endpoints.service import EndpointService, UpRequest
    from core.endpoints.states import EndpointState
    from core.facts import facts_from_config
    from core.settings import load_settings
    from core.workers import WorkerPool
    from tests.fakes.fake_cloud import FakeCloud

    raw = json.loads(CONFIG.read_text())
    config = raw.get("config", raw)
    facts = facts_from_config(config, model_id="Qwen/Qwen2.5-7B-Instruct")

    with tempfile.TemporaryDirectory(prefix="launch-bench-") as tmp:
        settings = load_settings(
            _env_file=None, launcher="local", worker_threads=args.workers, hf_token="hf_bench_token"
        )
        database = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        database.upgrade()
        cloud = FakeCloud(
            start_engines=True,
            engines_process=not args.engines_in_process,
            launch_seconds=args.provision_seconds,
        )
        workers = WorkerPool.from_settings(settings)
        notifier = CountingNotifier()
        service = EndpointService(
            settings=settings,
            database=database,
            launcher=cloud,
            notifier=notifier,  # type: ignore[arg-type]
            workers=workers,
            clock=SystemClock(),
            facts_loader=lambda model, *, settings: facts,
            flow_options=_poll_options(args.fast_polls),
        )
        flows = service.flows
        request_every = flows.request_poll_every or settings.request_poll_seconds
        readiness = {
            "first_delay": settings.readiness_poll_first,
            "max_delay": settings.readiness_poll_max,
            **flows.readiness_options,
        }
        print(
            f"poll intervals ({'shrunk' if args.fast_polls else 'production defaults'}): launch requests every "
            f"{request_every}s (one batched status call); readiness probes {readiness['first_delay']}s "
            f"doubling to {readiness['max_delay']}s"
        )

        # Peak clusters provisioning and peak threads, sampled while the launches run.
        peak_provisioning = 0
        threads_before = threading.active_count()
        peak_threads = threads_before
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_provisioning, peak_threads
            while not stop.is_set():
                init = sum(1 for c in cloud.list_clusters("epb-") if c.status == "INIT")
                peak_provisioning = max(peak_provisioning, init)
                submitters = sum(1 for t in threading.enumerate() if t.name.startswith(SUBMITTER))
                peak_threads = max(peak_threads, threading.active_count() - submitters)
                time.sleep(0.1)  # listing 1,000 clusters is not free: sample gently

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        barrier = threading.Barrier(args.launches)
        latencies: list[float] = []
        lock = threading.Lock()

        def one(i: int) -> str:
            request = UpRequest(
                model="Qwen/Qwen2.5-7B-Instruct",
                accelerators="L4:1",
                owner_id=f"U{i % 7}",
                channel_id="C_BENCH",
                max_model_len=8192,
                name=None if args.derived_names else f"bench-{i:03d}",
            )
            barrier.wait()
            start = time.perf_counter()
            view = service.up(request=request)
            with lock:
                latencies.append(time.perf_counter() - start)
            return view.name

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        with ThreadPoolExecutor(max_workers=args.launches, thread_name_prefix=SUBMITTER) as pool:
            names = list(pool.map(one, range(args.launches)))
        submitted = time.perf_counter() - t0
        workers.join()
        all_done = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        with database.session() as session:
            first_requested = min(e.requested_at for e in store.list_endpoints(session=session))
            reached = _last_reached(session, first_requested)
        stop.set()
        sampler.join()

        with database.session() as session:
            rows = store.list_endpoints(session=session)
            states = {e.name: e.state for e in rows}
        clusters = {c.name for c in cloud.list_clusters("epb-")}
        ready = [n for n in names if states.get(n) is EndpointState.READY]
        lost = [n for n in names if n not in states]
        one_cluster_each = len(clusters) == len(rows)

        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
        print(
            f"launches: {args.launches}  worker threads: {args.workers}  fake provisioning: {args.provision_seconds}s"
        )
        print(
            f"submission: all {args.launches} `up` calls returned in {submitted:.2f}s "
            f"(per call p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
            f"mean {statistics.mean(latencies) * 1000:.1f} ms)"
        )
        print(
            f"peak in flight: {workers.peak_running} launch steps running at once on the pool, "
            f"{flows.follower.peak_followed} launches followed in the cloud at once "
            f"({flows.follower.rounds} poll rounds), {peak_provisioning} clusters provisioning at once"
        )
        print(
            f"threads: peak {peak_threads} (threading.active_count() without the {args.launches} submitting "
            f"threads; {threads_before} before the burst; worker pool {args.workers} + teardown lane)"
        )
        steps = ", ".join(f"{state.value} {at:.2f}s" for state, at in reached.items())
        last_ready = reached.get(EndpointState.READY, float("nan"))
        print(f"the last launch reached (after the first `up` was recorded): {steps}")
        print(
            f"all READY {last_ready:.2f}s after the first `up` was recorded; all settled after {all_done:.2f}s; "
            f"{notifier.posts} thread posts; {workers.failures} worker failures"
        )
        where_engines = "included" if args.engines_in_process else "not: they run in their own process"
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"cpu: {cpu:.1f}s of process CPU time ({cpu / args.launches * 1000:.1f} ms per launch, the fake "
            f"cloud included, the fake engines {where_engines}) on {os.cpu_count()} cores; load average {load:.1f}"
        )
        print(
            f"result: {len(ready)}/{args.launches} READY, {len(lost)} records lost, "
            f"{len(notifier.ready)} keys posted, one cluster per endpoint: {one_cluster_each}"
        )
        cloud.close()
        workers.shutdown()
        database.dispose()
    ok = (
        len(ready) == args.launches and not lost and one_cluster_each and len(notifier.ready) == args.launches
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
