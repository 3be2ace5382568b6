"""Fit-check speed: Hub requests of a cold check and latency of a warm one, against the fake Hub.

Run: `.venv/bin/python -m benchmarks.fit_bench [--model ID] [--gpu NAME:COUNT] [--calls N]`.
It starts tests/fakes/fake_hub.py on loopback (no network), points huggingface_hub at it with a
throw-away HF_HOME and facts cache, then prints:
- Hub requests of one cold `load_model_facts` (target: at most 3);
- the median (and p99) of N warm fit checks, each `load_model_facts` + `parse_accelerators` +
  `check_fit` (target: median under 5 ms);
- for reference, a check answered from the disk cache after a restart, and `load_model_facts` alone.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARM_TARGET_MS = 5.0
COLD_TARGET_REQUESTS = 3


def _isolate_hub_environment(sandbox: Path) -> None:
    """Before huggingface_hub is imported: no real token, no real cache, no telemetry."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "HF_HUB_CACHE"):
        os.environ.pop(name, None)
    os.environ["HF_HOME"] = str(sandbox / "hf-home")
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-7B-Instruct")
    parser.add_argument("--gpu", default="L4:1")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)

    sandbox = Path(tempfile.mkdtemp(prefix="fit-bench-"))
    _isolate_hub_environment(sandbox)
    sys.path.insert(0, str(ROOT))
    from tests.fakes.fake_hub import FakeHub

    hub = FakeHub.start()
    os.environ["HF_ENDPOINT"] = hub.url
    try:
        from core.fit.check import check_fit
        from core.fit.plan import FitOptions
        from core.gpus import parse_accelerators
        from core.hub import clear_memory_cache, load_model_facts
        from core.settings import Settings

        settings = Settings(_env_file=None, facts_cache_dir=sandbox / "facts", hf_token=None)  # type: ignore[call-arg]
        options = FitOptions()

        def fit_check() -> object:
            facts = load_model_facts(args.model, settings=settings)
            return check_fit(facts, parse_accelerators(args.gpu), options)

        # huggingface_hub is imported on the first cold check only; time that apart from the check.
        started = time.perf_counter()
        import httpx  # noqa: F401
        from huggingface_hub import HfApi, hf_hub_download  # noqa: F401  (huggingface_hub imports lazily)

        import_seconds = time.perf_counter() - started

        # Cold: empty memory and disk caches.
        started = time.perf_counter()
        load_model_facts(args.model, settings=settings)
        cold_seconds = time.perf_counter() - started
        cold_requests = [f"{r.method} {r.path}" for r in hub.model_requests()]

        # Restarted bot: memory empty, disk cache warm.
        hub.clear_log()
        disk = []
        for _ in range(20):
            clear_memory_cache()
            started = time.perf_counter()
            fit_check()
            disk.append(time.perf_counter() - started)
        disk_requests = len(hub.model_requests())
        hub.clear_log()

        plan = fit_check()  # warm up imports and the memo
        warm = []
        for _ in range(args.calls):
            started = time.perf_counter()
            fit_check()
            warm.append(time.perf_counter() - started)
        facts_only = []
        for _ in range(args.calls):
            started = time.perf_counter()
            load_model_facts(args.model, settings=settings)
            facts_only.append(time.perf_counter() - started)
        warm_requests = len(hub.model_requests())
    finally:
        hub.stop()
        shutil.rmtree(sandbox, ignore_errors=True)

    warm_median = statistics.median(warm)
    p99 = sorted(warm)[int(len(warm) * 0.99) - 1]
    print(f"fit check of {args.model} on {args.gpu} (fake Hub on loopback)")
    print(f"  verdict: fits={plan.fits} TP={plan.tensor_parallel} context={plan.max_context_tokens}")  # type: ignore[attr-defined]
    print(
        f"  cold: {len(cold_requests)} Hub requests (target <= {COLD_TARGET_REQUESTS}), {_ms(cold_seconds)} "
        f"(+ {_ms(import_seconds)} importing huggingface_hub, once per process)"
    )
    for line in cold_requests:
        print(f"        {line}")
    print(
        f"  after a restart (disk cache): median {_ms(statistics.median(disk))} over {len(disk)} checks, "
        f"{disk_requests} Hub requests"
    )
    print(
        f"  warm: median {_ms(warm_median)} (target < {WARM_TARGET_MS} ms), p99 {_ms(p99)} over {args.calls} "
        f"checks, {warm_requests} Hub requests"
    )
    print(f"  load_model_facts alone, warm: median {_ms(statistics.median(facts_only))}")
    ok = (
        len(cold_requests) <= COLD_TARGET_REQUESTS
        and warm_median * 1000 < WARM_TARGET_MS
        and warm_requests == 0
    )
    ok = ok and disk_requests == 0
    print("  targets: " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
