"""Hand-built EndpointViews and Plans for the pure Block Kit and notifier tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView, UsageView
from core.fit.plan import MemoryBreakdown, Plan, Suggestion

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def plan(**overrides: Any) -> Plan:
    values: dict[str, Any] = {
        "model_id": "Qwen/Qwen2.5-7B-Instruct",
        "engine": "vllm",
        "accelerators": "L4:1",
        "gpu_name": "L4",
        "gpu_count": 1,
        "fits": True,
        "tensor_parallel": 1,
        "pipeline_parallel": 1,
        "data_parallel": 1,
        "expert_parallel": 1,
        "nodes": 1,
        "max_context_tokens": 32768,
        "memory_per_gpu_gib": MemoryBreakdown(
            weights=14.2, kv_cache=1.8, overhead=2.1, total=18.1, usable=20.5
        ),
        "price_per_hour": 0.71,
        "dtype": "bfloat16",
        "quantization": None,
        "kv_cache_dtype": None,
        "memory_fraction": 0.92,
    }
    values.update(overrides)
    return Plan(**values)


def view(**overrides: Any) -> EndpointView:
    values: dict[str, Any] = {
        "id": 1,
        "name": "qwen",
        "cluster_name": "epb-qwen-a1b2",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "accelerators": "L4:1",
        "engine": "vllm",
        "state": EndpointState.READY,
        "owner_id": "U1OWNER",
        "channel_id": "C1GENERAL",
        "message_ts": "1767600000.000001",
        "url": "http://10.0.0.2:8000",
        "plan": plan(),
        "requested_at": NOW - timedelta(hours=1),
        "provisioned_at": NOW - timedelta(minutes=55),
        "ready_at": NOW - timedelta(minutes=50),
        "stopped_at": None,
        "last_activity_at": None,
        "idle_timeout_s": 2700,
        "expires_at": NOW + timedelta(hours=7),
        "max_cost": None,
        "price_per_hour": 0.71,
        "price_is_estimate": True,
        "cost_so_far": 0.65,
        "failure_reason": None,
        "stop_reason": None,
        "usage": UsageView(requests=12, prompt_tokens=3400, generation_tokens=5100),
    }
    values.update(overrides)
    return EndpointView(**values)


def tp4_plan() -> Plan:
    return plan(accelerators="A100-80GB:4", gpu_name="A100-80GB", gpu_count=4, tensor_parallel=4)


def suggestions() -> list[Suggestion]:
    return [
        Suggestion(summary="Use L4:4 (TP 4)", accelerators="L4:4", price_per_hour=2.84),
        Suggestion(summary="Use A100-80GB:2 (TP 2)", accelerators="A100-80GB:2", price_per_hour=7.4),
    ]


__all__ = ["NOW", "plan", "replace", "suggestions", "tp4_plan", "view"]
