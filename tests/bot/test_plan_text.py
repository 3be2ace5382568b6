"""`bot.plan_text`: a plan's context and KV capacity in words (what `endpoint-bot fit` prints without
importing the endpoint layer)."""

from __future__ import annotations

from dataclasses import replace

from bot import plan_text as pt
from tests.bot.slack.views_fixtures import plan


def test_context_in_k_tokens_with_yarn_and_the_model_default():
    assert pt.context(replace(plan(), max_context_tokens=32768)) == "32k tokens"
    assert pt.context(replace(plan(), max_context_tokens=5000)) == "5,000 tokens"
    assert pt.context(replace(plan(), max_context_tokens=0), 8192) == "8k tokens"  # a plan without the figure
    assert pt.context(None) == "model default"
    yarn = replace(plan(), max_context_tokens=131072, rope_scaling={"factor": 4.0})
    assert pt.context(yarn) == "128k tokens (YaRN x4)"


def test_capacity_line_says_nothing_without_a_prediction():
    assert pt.capacity_line(replace(plan(), max_context_tokens=32768, kv_cache_tokens=0)) is None
    line = pt.capacity_line(
        replace(plan(), kv_cache_tokens=491520, max_context_tokens=16384, kv_cache_capacity_gib=60.0,
                max_concurrency=30.0, data_parallel=1, engine="vllm")
    )  # fmt: skip
    assert line == "KV cache 60.0 GiB per GPU (491,520 tokens): room for ~30 requests of 16k at once"
