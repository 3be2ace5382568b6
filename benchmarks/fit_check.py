"""Warm latency of `check_fit` (target: under 5 ms per check, suggestions included) and of
`cheapest_shapes`, over real model configs from tests/fixtures/configs.

Run: .venv/bin/python -m benchmarks.fit_check
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from core.facts import facts_from_config
from core.fit.check import check_fit
from core.fit.plan import FitOptions
from core.fit.shapes import cheapest_shapes
from core.gpus import parse_accelerators

CONFIGS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "configs"

CASES = [  # (model, accelerators, max_model_len): fitting and failing ones, dense, MoE, MLA, multi-node
    ("meta-llama/Llama-3.1-8B-Instruct", "L4:1", 131072),
    ("meta-llama/Llama-3.1-8B-Instruct", "L4:1", 4096),
    ("meta-llama/Llama-3.1-70B-Instruct", "H100:1", None),
    ("meta-llama/Llama-3.1-70B-Instruct", "A100-80GB:2", None),
    ("meta-llama/Llama-3.1-405B-Instruct", "H100:16", None),
    ("deepseek-ai/DeepSeek-V3", "H100:8", None),
    ("deepseek-ai/DeepSeek-V3", "H200:8", None),
    ("Qwen/Qwen3-30B-A3B-Instruct-2507", "H100:1", 262144),
    ("Qwen/Qwen3-235B-A22B-FP8", "L40S:8", None),
    ("openai/gpt-oss-120b", "H100:1", None),
    ("openai/gpt-oss-20b", "T4:1", None),
    ("moonshotai/Kimi-K2-Instruct", "H100:8", None),
]


def _facts(repo_id: str):
    config = json.loads((CONFIGS / f"{repo_id.replace('/', '--', 1)}.json").read_text())
    return facts_from_config(config, model_id=repo_id)


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main(repeats: int = 50) -> None:
    worst = 0.0
    print(f"{'model':42} {'accel':12} {'len':>7} {'fits':>5} {'median ms':>10} {'p95 ms':>8}")
    for repo_id, accelerators, length in CASES:
        facts, accel = _facts(repo_id), parse_accelerators(accelerators)
        options = FitOptions(max_model_len=length)
        plan = check_fit(facts, accel, options)
        samples = sorted(_time(lambda f=facts, a=accel, o=options: check_fit(f, a, o), repeats))
        p95 = samples[int(len(samples) * 0.95) - 1]
        worst = max(worst, p95)
        print(
            f"{repo_id:42} {accelerators:12} {length or '-':>7} {plan.fits!s:>5} {statistics.median(samples):>10.2f} {p95:>8.2f}"
        )
    print(f"check_fit worst p95: {worst:.2f} ms (target < 5 ms)")
    for repo_id in ("Qwen/Qwen2.5-72B-Instruct", "deepseek-ai/DeepSeek-V3"):
        facts = _facts(repo_id)
        samples = _time(lambda f=facts: cheapest_shapes(f, FitOptions()), 20)
        print(f"cheapest_shapes {repo_id}: median {statistics.median(samples):.2f} ms")


if __name__ == "__main__":
    main()
