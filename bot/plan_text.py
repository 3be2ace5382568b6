"""Words about a fit plan that need nothing of the endpoint layer: its context and its KV capacity.

`bot.text` (cards, the shell), `bot.slack.blocks` and `endpoint-bot fit` print these; the CLI's fit
reads this module rather than `bot.text`, so it never imports `core.endpoints` (or SQLAlchemy).
Plans are read as dicts (`Plan.to_dict()` or the stored plan), so a plan recorded before a field
existed still renders.
"""

from __future__ import annotations

from typing import Any


def context(plan: dict[str, Any], options: dict[str, Any]) -> str:
    """The context a plan serves as people read it: `32k tokens`, `32k tokens (YaRN x4)`, `model default`."""
    tokens = plan.get("max_context_tokens") or options.get("max_model_len")
    if not tokens:
        return "model default"
    text = f"{tokens // 1024}k tokens" if tokens % 1024 == 0 else f"{tokens:,} tokens"
    rope = plan.get("rope_scaling")
    return f"{text} (YaRN x{rope['factor']:g})" if isinstance(rope, dict) and rope.get("factor") else text


def _requests(count: float) -> str:
    return f"~{count:,.0f}" if count >= 10 else f"~{count:.1f}".replace(".0", "")


def capacity_line(plan: dict[str, Any]) -> str | None:
    """What the KV cache holds, as the engine will log it (None for plans recorded before it was predicted).

    `room for ~26 requests of 16k at once` (vLLM's "Maximum concurrency"); SGLang's figure is the KV pool
    inside --mem-fraction-static, which also holds the weights.
    """
    tokens = plan.get("kv_cache_tokens") or 0
    context_tokens = plan.get("max_context_tokens") or 0
    if tokens <= 0 or context_tokens <= 0:
        return None
    replicas = max(1, int(plan.get("data_parallel") or 1))
    concurrency = float(plan.get("max_concurrency") or tokens / context_tokens) * replicas
    gib = float(plan.get("kv_cache_capacity_gib") or 0.0)
    ctx = context({"max_context_tokens": context_tokens}, {}).removesuffix(" tokens")
    room = f"room for {_requests(concurrency)} requests of {ctx} at once"
    if replicas > 1:
        room += f" over {replicas} replicas"
    if plan.get("engine") == "sglang":
        fraction = plan.get("memory_fraction")
        return (
            f"KV pool {gib:.1f} GiB per GPU ({tokens:,} tokens; SGLang's --mem-fraction-static {fraction:g} "
            f"holds the weights and this pool): {room}"
        )
    return f"KV cache {gib:.1f} GiB per GPU ({tokens:,} tokens): {room}"
