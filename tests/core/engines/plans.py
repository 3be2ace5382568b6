"""Representative plans for the engine tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.fit.plan import MemoryBreakdown, Plan

_MEMORY = MemoryBreakdown(weights=15.0, kv_cache=4.0, overhead=5.0, total=24.0, usable=72.9)


def make_plan(**changes: Any) -> Plan:
    base = Plan(
        model_id="meta-llama/Llama-3.1-8B-Instruct",
        engine="vllm",
        accelerators="H100:1",
        gpu_name="H100",
        gpu_count=1,
        fits=True,
        tensor_parallel=1,
        pipeline_parallel=1,
        data_parallel=1,
        expert_parallel=1,
        nodes=1,
        max_context_tokens=32768,
        memory_per_gpu_gib=_MEMORY,
        price_per_hour=4.0,
        dtype="bfloat16",
        quantization=None,
        kv_cache_dtype=None,
        memory_fraction=0.92,
    )
    return dataclasses.replace(base, **changes)
