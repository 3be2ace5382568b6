"""How cheap the fake engines are: start N engines in one FakeEngineFarm, scrape each /metrics once.

Prints start-up time, resident memory, threads, and the time of one full scrape round (sequential and
with a thread pool), so the watchdog benchmark's 1,000 engines are known not to be the bottleneck.

    .venv/bin/python -m benchmarks.fake_engine_bench --engines 1000
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.fakes.fake_engine import FakeEngineFarm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", type=int, default=1000)
    parser.add_argument("--engine", choices=("vllm", "sglang"), default="vllm")
    parser.add_argument("--workers", type=int, default=64)
    args = parser.parse_args()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with FakeEngineFarm(args.engines, engine=args.engine, model="bench/model", api_key="epk-bench") as farm:
        startup = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for engine in farm.engines:
            engine.add_traffic(requests=3, prompt_tokens=30, generation_tokens=12)
        with httpx.Client(timeout=5) as client:
            t0 = time.perf_counter()
            sizes = [len(client.get(f"{e.url}/metrics").content) for e in farm.engines]
            sequential = time.perf_counter() - t0
        with httpx.Client(timeout=5, limits=httpx.Limits(max_connections=args.workers)) as client:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                codes = list(pool.map(lambda e: client.get(f"{e.url}/metrics").status_code, farm.engines))
            pooled = time.perf_counter() - t0
        threads = threading.active_count()
    assert all(code == 200 for code in codes)
    print(f"engines: {args.engines} ({args.engine}), one event-loop thread; threads in process: {threads}")
    print(f"start-up: {startup:.2f} s ({startup / args.engines * 1000:.2f} ms per engine)")
    print(
        f"memory: +{(rss_after - rss_before) / 1024:.1f} MiB RSS ({(rss_after - rss_before) / args.engines:.1f} KiB per engine)"
    )
    print(f"/metrics size: {sum(sizes) / len(sizes) / 1024:.1f} KiB per engine")
    print(
        f"scrape round, sequential: {sequential:.2f} s ({sequential / args.engines * 1000:.2f} ms per scrape)"
    )
    print(f"scrape round, {args.workers} workers: {pooled:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
