"""Speed of the pieces the fit check calls on every request: catalogue, prices, engine argv.

Run: `.venv/bin/python -m benchmarks.catalog_bench [--calls N] [--live]`.
Prints the median and p99 per call of `parse_accelerators`, `get_gpu`, `price_per_hour` (bundled),
`engine_rejections` and `build_engine_command`, the cold import time of the three modules (and that
none of them imports SkyPilot), and with `--live` the first and the cached live price look-up read
offline from a small planted SkyPilot catalogue. Target: everything warm well under 5 ms together;
exits 1 when the sum of the medians misses it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARM_TARGET_MS = 5.0


def _time(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def _cold_import_ms() -> tuple[float, bool]:
    code = (
        "import sys, time; t = time.perf_counter(); "
        "import core.gpus, core.pricing, core.engines; "
        "print((time.perf_counter() - t) * 1000, 'sky' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    ms, sky = out.stdout.split()
    return float(ms), sky == "True"


def _live(calls: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home, ".sky", "catalogs", "v8", "lambda")
        folder.mkdir(parents=True)
        info = "\"{'Gpus': [{'Name': 'H100', 'Manufacturer': 'NVIDIA', 'Count': 1.0, 'MemoryInfo': {'SizeInMiB': 81920}}], 'TotalGpuMemoryInMiB': 81920}\""
        (folder / "vms.csv").write_text(
            "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,Region,SpotPrice\n"
            f"gpu_1x_h100_pcie,H100,1.0,26.0,200.0,{info},2.49,us-east-1,\n"
        )
        code = (
            "import time; from core.pricing import price_per_hour; from core.gpus import get_gpu\n"
            "g = get_gpu('H100'); t = time.perf_counter(); p = price_per_hour(g, 1, cloud='lambda', live=True)\n"
            "first = (time.perf_counter() - t) * 1000; t = time.perf_counter()\n"
            f"for _ in range({calls}): price_per_hour(g, 1, cloud='lambda', live=True)\n"
            f"cached = (time.perf_counter() - t) * 1e6 / {calls}\n"
            "print(f'{first:.0f} {cached:.1f} {p.per_hour} {p.source!r}')"
        )
        env = {**os.environ, "HOME": home, "SKY_RUNTIME_DIR": home, "HTTPS_PROXY": "http://127.0.0.1:9"}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        first, cached, price, source = out.stdout.strip().splitlines()[-1].split(" ", 3)
        print(f"live price, first look-up (imports sky): {first} ms -> ${price}/h from {source}")
        print(f"live price, cached:                      {cached} us per call")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--live", action="store_true", help="also time a live price look-up (imports sky)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    from core.engines import build_engine_command, engine_rejections
    from core.fit.plan import FitOptions
    from core.gpus import get_gpu, parse_accelerators
    from core.pricing import price_per_hour
    from tests.core.engines.plans import make_plan

    gpu = get_gpu("A100-80GB")
    options = FitOptions(
        quantization="fp8", kv_cache_dtype="fp8", draft_model="x/eagle3", speculative_tokens=3
    )
    plan = make_plan(tensor_parallel=4, data_parallel=2, expert_parallel=8, quantization="fp8")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("parse_accelerators('a100-80gb:8')", lambda: parse_accelerators("a100-80gb:8")),
        ("get_gpu('h100')", lambda: get_gpu("h100")),
        ("price_per_hour(A100-80GB, 8)", lambda: price_per_hour(gpu, 8)),
        ("engine_rejections(vllm, ...)", lambda: engine_rejections(engine="vllm", options=options)),
        ("build_engine_command(plan)", lambda: build_engine_command(plan)),
    ]
    total_ms = 0.0
    print(f"{'call':40} {'median':>10} {'p99':>10}")
    for label, fn in cases:
        median, p99 = _time(fn, args.calls)
        total_ms += median / 1000
        print(f"{label:40} {median:8.2f}us {p99:8.2f}us")
    print(f"sum of medians: {total_ms * 1000:.1f} us (target: < {WARM_TARGET_MS} ms)")
    ms, sky = _cold_import_ms()
    print(f"cold import of core.gpus + core.pricing + core.engines: {ms:.1f} ms; imports sky: {sky}")
    if args.live:
        _live(min(args.calls, 1000))
    return 0 if total_ms < WARM_TARGET_MS and not sky else 1


if __name__ == "__main__":
    raise SystemExit(main())
