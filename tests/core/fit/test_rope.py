"""YaRN beyond the native context, as the vendors document it (Qwen2.5, QwQ, Qwen3)."""

from __future__ import annotations

import pytest

from core.fit.check import check_fit
from core.fit.plan import FitOptions, Plan
from core.fit.rope import apply_rope_scaling
from tests.core.fit.conftest import accel, facts_of

QWEN25_7B = "Qwen/Qwen2.5-7B-Instruct"


def fit(repo_id: str, accelerators: str, **options) -> Plan:
    return check_fit(facts_of(repo_id), accel(accelerators), FitOptions(**options))


@pytest.mark.parametrize(
    ("repo_id", "asked", "factor"),
    [
        (QWEN25_7B, 131072, 4.0),
        (QWEN25_7B, 65536, 2.0),
        ("Qwen/Qwen3-32B", 131072, 4.0),  # 40,960 in config.json, but the factor multiplies 32,768
        ("Qwen/Qwen3-32B", 100000, 100000 / 32768),
        ("Qwen/QwQ-32B", 131072, 4.0),
        ("Qwen/Qwen3-30B-A3B", 131072, 4.0),
    ],
)
def test_factor_is_the_asked_context_over_the_documented_original(repo_id, asked, factor):
    decision = apply_rope_scaling(facts_of(repo_id), FitOptions(max_model_len=asked, rope_scaling="yarn"))
    assert not decision.reasons
    assert decision.params is not None
    assert decision.params["factor"] == factor
    assert decision.params["original_max_position_embeddings"] == 32768
    assert decision.params["max_position_embeddings"] == asked == decision.facts.max_position_embeddings
    assert decision.params["factor"] * 32768 == asked


def test_kv_is_sized_for_the_stretched_context():
    # Qwen2.5-7B: 28 layers x 4 KV heads x 128 x 2 x 2 bytes = 56 KiB per token: 7 GiB at 128k.
    plan = fit(QWEN25_7B, "A100-80GB:1", max_model_len=131072, rope_scaling="yarn")
    assert plan.fits and plan.max_context_tokens == 131072
    assert plan.memory_per_gpu_gib.kv_cache == pytest.approx(28 * 4 * 128 * 2 * 2 * 131072 / 2**30, abs=0.01)
    assert plan.rope_scaling is not None and plan.rope_scaling["rope_theta"] == 1_000_000.0
    assert "--hf-overrides" in plan.engine_command
    assert any("YaRN" in w for w in plan.warnings)


def test_without_a_context_yarn_serves_the_documented_reach():
    plan = fit("Qwen/Qwen3-8B", "H100:1", rope_scaling="yarn")
    assert plan.fits and plan.max_context_tokens == 131072 and plan.rope_scaling["factor"] == 4.0


def test_a_native_context_is_served_without_yarn():
    plan = fit(QWEN25_7B, "L4:1", max_model_len=16384, rope_scaling="yarn")
    assert plan.fits and plan.rope_scaling is None
    assert "--hf-overrides" not in plan.engine_command
    assert any("without YaRN" in w for w in plan.warnings)


def test_beyond_the_documented_reach_is_refused():
    plan = fit(QWEN25_7B, "H200:1", max_model_len=262144, rope_scaling="yarn")
    assert not plan.fits
    assert any("documented up to 131,072" in r and "128k or less" in r for r in plan.reasons)


@pytest.mark.parametrize(
    "repo_id",
    [
        "meta-llama/Llama-3.1-8B-Instruct",  # its own llama3 scaling; no YaRN documented
        "Qwen/Qwen3-0.6B",  # Qwen3 cards document YaRN for 4B and larger only
        "Qwen/Qwen3-30B-A3B-Instruct-2507",  # 262,144 native; no YaRN documented
        "mistralai/Mistral-7B-Instruct-v0.2",
    ],
)
def test_models_without_documented_yarn_are_refused_with_a_sentence(repo_id):
    plan = fit(repo_id, "H200:1", rope_scaling="yarn")
    assert not plan.fits
    assert any("no documented YaRN length" in r and "will not guess" in r for r in plan.reasons)
    assert plan.rope_scaling is None and "--hf-overrides" not in plan.engine_command


def test_a_config_that_applies_yarn_itself_needs_nothing_more():
    # DeepSeek-V3's config: YaRN factor 40 on 4,096 -> 163,840 already.
    decision = apply_rope_scaling(facts_of("deepseek-ai/DeepSeek-V3"), FitOptions(rope_scaling="yarn"))
    assert decision.params is None and not decision.reasons
    assert any("applies YaRN already" in w for w in decision.warnings)


def test_unknown_rope_scaling_is_a_reason():
    plan = fit(QWEN25_7B, "L4:1", rope_scaling="ntk")
    assert not plan.fits and any("Unknown RoPE scaling `ntk`" in r for r in plan.reasons)


def test_yarn_is_offered_only_when_it_fits():
    # 128k of Qwen2.5-7B on an L4: YaRN would need 7 GiB of KV beside 14.2 GiB of weights: no room.
    plan = fit(QWEN25_7B, "L4:1", max_model_len=131072)
    assert not plan.fits
    assert any("rope=yarn" in r for r in plan.reasons)
    assert not any(s.changes == {"rope_scaling": "yarn"} for s in plan.suggestions)
    assert any("max_model_len" in s.changes for s in plan.suggestions)
