"""Engine memory terms: batch defaults by GPU, activation calibration, SGLang fraction, KV shapes."""

from __future__ import annotations

import pytest

from core.engines import sglang_memory_fraction
from core.fit.memory import activation_gib, engine_profile, kv_shape, vllm_batch_defaults
from core.gpus import get_gpu
from tests.core.fit.conftest import facts_of


@pytest.mark.parametrize(
    ("gpu", "defaults"),
    [("L4", (2048, 256)), ("A100-80GB", (2048, 256)), ("L40S", (4096, 512)), ("H100", (8192, 1024)),
     ("H200", (8192, 1024)), ("B200", (16384, 1024)), ("MI300X", (16384, 1024))],
)  # fmt: skip
def test_vllm_batch_defaults_by_device_memory(gpu, defaults):
    assert vllm_batch_defaults(get_gpu(gpu)) == defaults


def test_activation_tracks_sampler_rows_times_vocab():
    # Calibrated on vLLM's profiled peaks: bigger vocabularies and more sequences cost more.
    llama = facts_of("meta-llama/Llama-3.1-8B-Instruct")
    oss = facts_of("openai/gpt-oss-20b")
    h100 = engine_profile("vllm", get_gpu("H100"), fraction=None)
    l4 = engine_profile("vllm", get_gpu("L4"), fraction=None)
    assert activation_gib(oss, h100, tp=1) > activation_gib(llama, h100, tp=1) * 1.4
    assert activation_gib(llama, l4, tp=1) == pytest.approx(activation_gib(llama, h100, tp=1) / 4, rel=0.1)
    assert 2.0 < activation_gib(llama, h100, tp=1) < 5.0


def test_sglang_fraction_is_the_engines_own_rule():
    h100 = get_gpu("H100")
    profile = engine_profile("sglang", h100, fraction=None, tp=2)
    assert profile.memory_fraction == sglang_memory_fraction(gpu_memory_gib=h100.memory_gib, tp=2)
    assert engine_profile("sglang", h100, fraction=0.7).memory_fraction == 0.7


def test_llama_8b_kv_is_128_kib_per_token():
    shape = kv_shape(
        facts_of("meta-llama/Llama-3.1-8B-Instruct"), tp=1, pp=1, kv_bytes=2, batched_tokens=2048
    )
    assert shape.full_bytes_per_token == 128 * 1024
    assert (
        kv_shape(
            facts_of("meta-llama/Llama-3.1-8B-Instruct"), tp=2, pp=1, kv_bytes=2, batched_tokens=2048
        ).full_bytes_per_token
        == 64 * 1024
    )


def test_deepseek_mla_kv_is_70272_bytes_per_token_at_any_tp():
    f = facts_of("deepseek-ai/DeepSeek-V3")
    for tp in (1, 8):
        assert kv_shape(f, tp=tp, pp=1, kv_bytes=2, batched_tokens=8192).full_bytes_per_token == 70272
    assert kv_shape(f, tp=8, pp=2, kv_bytes=2, batched_tokens=8192).full_bytes_per_token == 31 * 1152


def test_hybrid_linear_attention_layers_hold_no_kv():
    f = facts_of("Qwen/Qwen3-Next-80B-A3B-Instruct")  # 12 of 48 layers are full attention
    assert (
        kv_shape(f, tp=1, pp=1, kv_bytes=2, batched_tokens=8192).full_bytes_per_token == 12 * 2 * 2 * 256 * 2
    )


def test_max_tokens_solves_the_budget():
    shape = kv_shape(facts_of("openai/gpt-oss-20b"), tp=1, pp=1, kv_bytes=2, batched_tokens=2048)
    budget = shape.bytes_for(50_000)
    assert shape.max_tokens(budget, cap=131072) == 50_000
    assert shape.max_tokens(budget * 10, cap=131072) == 131072
    assert shape.max_tokens(-1.0, cap=131072) == 0
