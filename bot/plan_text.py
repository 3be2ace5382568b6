"""Words about a fit plan that need nothing of the endpoint layer: its context and its KV capacity.

`bot.text` (cards, the shell), `bot.slack.blocks` and `endpoint-bot fit` print these; the CLI's fit
reads this module rather than `bot.text`, so it never imports `core.endpoints` (or SQLAlchemy).
"""

from __future__ import annotations

from core.fit.plan import Plan


def tokens_text(tokens: int) -> str:
    """`32k tokens` for whole thousands of 1024, `8,000 tokens` otherwise."""
    return f"{tokens // 1024}k tokens" if tokens % 1024 == 0 else f"{tokens:,} tokens"


def context(plan: Plan | None, max_model_len: int | None = None) -> str:
    """The context a plan serves as people read it: `32k tokens`, `32k tokens (YaRN x4)`, `model default`
    (`max_model_len`, the asked context, stands in for a plan recorded without the figure)."""
    tokens = (plan.max_context_tokens if plan else 0) or max_model_len
    if not tokens:
        return "model default"
    text = tokens_text(tokens)
    rope = plan.rope_scaling if plan else None
    return f"{text} (YaRN x{rope['factor']:g})" if isinstance(rope, dict) and rope.get("factor") else text


def _requests(count: float) -> str:
    return f"~{count:,.0f}" if count >= 10 else f"~{count:.1f}".replace(".0", "")


def capacity_line(plan: Plan | None) -> str | None:
    """What the KV cache holds, as the engine will log it (None for plans recorded before it was predicted).

    `room for ~26 requests of 16k at once` (vLLM's "Maximum concurrency"); SGLang's figure is the KV pool
    inside --mem-fraction-static, which also holds the weights.
    """
    if plan is None or plan.kv_cache_tokens <= 0 or plan.max_context_tokens <= 0:
        return None
    tokens, context_tokens = plan.kv_cache_tokens, plan.max_context_tokens
    replicas = max(1, int(plan.data_parallel or 1))
    concurrency = float(plan.max_concurrency or tokens / context_tokens) * replicas
    gib = float(plan.kv_cache_capacity_gib or 0.0)
    ctx = tokens_text(context_tokens).removesuffix(" tokens")
    room = f"room for {_requests(concurrency)} requests of {ctx} at once"
    if replicas > 1:
        room += f" over {replicas} replicas"
    if plan.engine == "sglang":
        return (
            f"KV pool {gib:.1f} GiB per GPU ({tokens:,} tokens; SGLang's --mem-fraction-static "
            f"{plan.memory_fraction:g} holds the weights and this pool): {room}"
        )
    return f"KV cache {gib:.1f} GiB per GPU ({tokens:,} tokens): {room}"
