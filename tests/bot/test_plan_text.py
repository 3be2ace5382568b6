"""`bot.plan_text`: a plan's context and KV capacity in words, from the plan's dict alone."""

from __future__ import annotations

from bot import plan_text as pt


def test_context_in_k_tokens_with_yarn_and_the_model_default():
    assert pt.context({"max_context_tokens": 32768}, {}) == "32k tokens"
    assert pt.context({"max_context_tokens": 5000}, {}) == "5,000 tokens"
    assert pt.context({}, {"max_model_len": 8192}) == "8k tokens"  # a stored plan without the figure
    assert pt.context({}, {}) == "model default"
    yarn = {"max_context_tokens": 131072, "rope_scaling": {"factor": 4.0}}
    assert pt.context(yarn, {}) == "128k tokens (YaRN x4)"


def test_capacity_line_says_nothing_without_a_prediction():
    assert pt.capacity_line({"max_context_tokens": 32768}) is None
    line = pt.capacity_line(
        {"kv_cache_tokens": 491520, "max_context_tokens": 16384, "kv_cache_capacity_gib": 60.0, "engine": "vllm"}
    )
    assert line == "KV cache 60.0 GiB per GPU (491,520 tokens): room for ~30 requests of 16k at once"
