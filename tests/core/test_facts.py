"""facts_from_config: dimensions, MoE/MLA/sliding/hybrid fields and weight bytes from real configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.facts import facts_from_config, mxfp4_u8_values, normalise_quantization
from core.hub.local import count_dtype_params, weight_files
from tests.fakes.gpt_oss import hub_parameters, write_safetensors_headers

CONFIGS = Path(__file__).resolve().parents[1] / "fixtures" / "configs"
HUB_MODELS = Path(__file__).resolve().parents[1] / "fakes" / "hub_models.json"
GIB = 1 << 30


def facts(repo_id: str, **kwargs):
    config = json.loads((CONFIGS / f"{repo_id.replace('/', '--', 1)}.json").read_text())
    return facts_from_config(config, model_id=repo_id, **kwargs)


def hub_entry(repo_id: str) -> dict:
    return next(m for m in json.loads(HUB_MODELS.read_text())["models"] if m["model_id"] == repo_id)


@pytest.mark.parametrize(
    ("repo_id", "billions"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 8.03),
        ("meta-llama/Llama-3.1-70B-Instruct", 70.6),
        ("meta-llama/Llama-3.1-405B-Instruct", 405.9),
        ("Qwen/Qwen2.5-7B-Instruct", 7.62),
        ("Qwen/Qwen3-32B", 32.8),
        ("Qwen/Qwen3-30B-A3B", 30.5),
        ("Qwen/Qwen3-235B-A22B", 235.1),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7),
        ("mistralai/Mixtral-8x22B-Instruct-v0.1", 140.6),
        ("deepseek-ai/DeepSeek-V3", 671.0),
        ("moonshotai/Kimi-K2-Instruct", 1026.0),
        ("zai-org/GLM-4.5", 355.0),
        ("openai/gpt-oss-20b", 20.9),
        ("openai/gpt-oss-120b", 116.8),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 109.0),
        ("google/gemma-3-27b-it", 27.4),
        ("microsoft/phi-4", 14.7),
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", 80.0),
        # Model cards' stated sizes (second review round).
        ("meta-llama/Llama-3.2-1B-Instruct", 1.24),
        ("meta-llama/Llama-3.2-3B-Instruct", 3.21),
        ("mistralai/Mistral-Nemo-Instruct-2407", 12.2),
        ("mistralai/Mistral-Large-Instruct-2411", 123.0),
        ("Qwen/Qwen2.5-14B-Instruct", 14.7),
        ("Qwen/Qwen2.5-32B-Instruct", 32.5),
        ("Qwen/Qwen3-8B", 8.2),
        ("Qwen/Qwen3-14B", 14.8),
        ("deepseek-ai/DeepSeek-V2-Lite-Chat", 15.7),
        ("microsoft/Phi-4-mini-instruct", 3.84),
        ("google/gemma-2-27b-it", 27.2),
        ("CohereForAI/c4ai-command-r-v01", 35.0),
        ("tiiuae/falcon-7b-instruct", 7.22),
        ("01-ai/Yi-34B-Chat", 34.4),
        ("MiniMaxAI/MiniMax-M2", 229.0),
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", 400.0),
    ],
)
def test_parameter_count_estimated_from_config_matches_published_size(repo_id, billions):
    f = facts(repo_id)
    assert f.param_source == "config"
    assert f.param_count / 1e9 == pytest.approx(billions, rel=0.015)


def test_bf16_weights_match_vllm_measured_loads():
    # memory.md: Llama-3.1-8B loads as 14.99 GiB, Qwen3-32B as 61.03 GiB.
    assert facts("meta-llama/Llama-3.1-8B-Instruct").weight_bytes / GIB == pytest.approx(14.99, abs=0.1)
    assert facts("Qwen/Qwen3-32B").weight_bytes / GIB == pytest.approx(61.03, abs=0.1)


def test_fp8_checkpoint_keeps_embeddings_16bit():
    # memory.md: Llama-3.3-70B-FP8 loads as 67.72 GiB at TP1 (not 65.7: embeddings and lm_head stay BF16).
    f = facts("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic")
    assert f.quantization.method == "compressed-tensors" and f.quantization.bits == 8
    assert f.weight_bytes / GIB == pytest.approx(67.72, abs=0.3)


@pytest.mark.parametrize(("repo_id", "gib"), [("openai/gpt-oss-20b", 13.47), ("openai/gpt-oss-120b", 64.38)])
def test_mxfp4_only_experts_are_4bit(repo_id, gib):
    f = facts(repo_id)
    assert f.quantization.method == "mxfp4"
    assert f.weight_bytes / GIB == pytest.approx(gib, abs=0.3)


@pytest.mark.parametrize(
    ("repo_id", "card_billions", "billions", "gib"),
    [
        # The Hub's model_info counts two parameters per MXFP4 `*_blocks` byte: the cards say 21.5B
        # and 120B. The models have 20.9B and 116.8B (OpenAI's model card), and vLLM loads them in
        # 13.47 and 64.38 GiB on one H100 (llm-d's vLLM memory measurements, memory.md).
        ("openai/gpt-oss-20b", 21.5, 20.9, 13.47),
        ("openai/gpt-oss-120b", 120.4, 116.8, 64.38),
    ],
)
def test_gpt_oss_hub_counts_are_read_as_the_hub_counts_them(repo_id, card_billions, billions, gib):
    entry = hub_entry(repo_id)
    counts = entry["safetensors_parameters"]
    assert counts == hub_parameters(entry["config"])  # the fake Hub serves what the real one reports
    assert sum(counts.values()) / 1e9 == pytest.approx(card_billions, abs=0.05)
    f = facts_from_config(entry["config"], model_id=repo_id, dtype_params=counts)
    assert f.param_source == "safetensors"
    assert f.param_count / 1e9 == pytest.approx(billions, abs=0.1)
    assert f.weight_bytes / GIB == pytest.approx(gib, abs=0.3)


@pytest.mark.parametrize("repo_id", ["openai/gpt-oss-20b", "openai/gpt-oss-120b"])
def test_gpt_oss_header_counts_and_hub_counts_give_the_same_facts(repo_id, tmp_path):
    # Safetensors headers count U8 elements, i.e. bytes: 17 per 32 values, against the Hub's 33.
    entry = hub_entry(repo_id)
    write_safetensors_headers(entry["config"], tmp_path)
    header_counts = count_dtype_params(weight_files(tmp_path))
    assert header_counts["U8"] * 33 == entry["safetensors_parameters"]["U8"] * 17
    from_headers = facts_from_config(entry["config"], model_id=repo_id, dtype_params=header_counts)
    from_hub = facts_from_config(
        entry["config"], model_id=repo_id, dtype_params=entry["safetensors_parameters"]
    )
    assert from_headers.param_count == from_hub.param_count
    assert from_headers.weight_bytes == pytest.approx(from_hub.weight_bytes, rel=1e-6)


def test_mxfp4_u8_convention_is_told_apart_by_the_expert_size():
    experts = 114_661_785_600  # gpt-oss-120b: 36 layers x 128 experts x 3 x 2880 x 2880
    assert mxfp4_u8_values(experts * 33 // 32, experts) == (experts, experts * 17 // 32)  # Hub count
    assert mxfp4_u8_values(experts * 17 // 32, experts) == (experts, experts * 17 // 32)  # header bytes
    # No expert dimensions: read as bytes, the safetensors format's own unit.
    assert mxfp4_u8_values(17, 0) == (32, 17)


def test_deepseek_v3_is_fp8_whatever_torch_dtype_says():
    f = facts("deepseek-ai/DeepSeek-V3")
    assert f.torch_dtype == "bfloat16"
    assert f.quantization.method == "fp8" and f.quantization.weight_block_size == (128, 128)
    assert 600 < f.weight_bytes / GIB < 660  # ~1 byte/param, not 2
    assert f.mla.kv_lora_rank == 512 and f.mla.qk_rope_head_dim == 64
    assert f.moe.num_experts == 256 and f.moe.num_shared_experts == 1 and f.moe.experts_per_token == 8
    assert f.moe.num_moe_layers == 58  # first_k_dense_replace = 3
    assert f.max_position_embeddings == 163840  # yarn: 4096 x 40
    assert f.num_mtp_layers == 1


def test_deepseek_safetensors_counts_leave_out_the_mtp_layer():
    entry = hub_entry("deepseek-ai/DeepSeek-V3")
    f = facts_from_config(
        entry["config"], model_id="deepseek-ai/DeepSeek-V3", dtype_params=entry["safetensors_parameters"]
    )
    stored = 3918786560 * 2 + 680571043840 + 41555600 * 4
    assert f.mtp_bytes > 5 * GIB
    assert f.weight_bytes == stored - f.mtp_bytes
    assert f.param_count / 1e9 == pytest.approx(671, rel=0.01)


def test_awq_counts_unpack_int32():
    # Qwen2.5-72B-AWQ: int4 packed 8 per I32 + F16 scales/embeddings.
    f = facts_from_config(
        json.loads((CONFIGS / "Qwen--Qwen2.5-72B-Instruct-AWQ.json").read_text()),
        model_id="Qwen/Qwen2.5-72B-Instruct-AWQ",
        dtype_params={"I32": 8_800_000_000, "F16": 2_600_000_000},
    )
    assert f.quantization.method == "awq" and f.quantization.bits == 4 and f.quantization.group_size == 128
    assert f.param_count == 8_800_000_000 * 8 + 2_600_000_000
    assert f.weight_bytes == 8_800_000_000 * 4 + 2_600_000_000 * 2


def test_unquantized_float32_checkpoint_loads_as_16bit():
    f = facts_from_config(
        {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
         "vocab_size": 100, "torch_dtype": "float32"},
        model_id="tiny", dtype_params={"F32": 1000},
    )  # fmt: skip
    assert f.weight_bytes == 2000  # vLLM's auto dtype casts fp32 checkpoints to 16-bit


@pytest.mark.parametrize(
    ("repo_id", "experts", "top_k", "shared", "moe_layers"),
    [
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 8, 2, 0, 32),
        ("Qwen/Qwen3-30B-A3B", 128, 8, 0, 48),
        ("openai/gpt-oss-120b", 128, 4, 0, 36),
        ("zai-org/GLM-4.5", 160, 8, 1, 89),
        ("moonshotai/Kimi-K2-Instruct", 384, 8, 1, 60),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 16, 1, 1, 48),
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", 512, 10, 1, 48),
        ("ai21labs/AI21-Jamba-Mini-1.5", 16, 2, 0, 16),
    ],
)
def test_moe_fields_of_every_family(repo_id, experts, top_k, shared, moe_layers):
    moe = facts(repo_id).moe
    assert (moe.num_experts, moe.experts_per_token, moe.num_shared_experts, moe.num_moe_layers) == (
        experts, top_k, shared, moe_layers,
    )  # fmt: skip
    assert moe.expert_params > 0


def test_dense_models_have_no_moe():
    assert facts("meta-llama/Llama-3.1-8B-Instruct").moe is None


def test_head_dim_from_config_not_hidden_over_heads():
    f = facts("Qwen/Qwen3-32B")
    assert f.head_dim == 128 and f.hidden_size // f.num_attention_heads == 80
    assert facts("google/gemma-2-9b-it").head_dim == 256
    assert facts("Qwen/Qwen2.5-7B-Instruct").head_dim == 128  # 3584 / 28, no head_dim key


@pytest.mark.parametrize(
    ("repo_id", "window", "sliding", "kv_free"),
    [
        ("openai/gpt-oss-20b", 128, 12, 0),  # layer_types alternate sliding/full
        ("google/gemma-2-9b-it", 4096, 21, 0),  # every other layer
        ("google/gemma-3-27b-it", 1024, 52, 0),  # 5 of every 6 (sliding_window_pattern 6)
        ("mistralai/Mistral-7B-v0.1", 4096, 32, 0),  # every layer
        ("Qwen/Qwen2.5-7B-Instruct", None, 0, 0),  # use_sliding_window: false
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", None, 0, 36),  # 1 full-attention layer in 4
        ("ai21labs/AI21-Jamba-Mini-1.5", None, 0, 28),  # 1 attention layer in 8
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 8192, 36, 0),  # chunked attention, NoPE every 4th
    ],
)
def test_sliding_and_hybrid_layers(repo_id, window, sliding, kv_free):
    f = facts(repo_id)
    assert (f.sliding_window, f.num_sliding_layers, f.num_kv_free_layers) == (window, sliding, kv_free)


@pytest.mark.parametrize(
    ("repo_id", "context"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 131072),  # llama3 rope: max_position_embeddings already extended
        ("google/gemma-3-27b-it", 131072),  # linear factor 8 is not applied again (vLLM special-cases gemma3)
        ("openai/gpt-oss-120b", 131072),  # yarn: original 4096 x 32
        ("Qwen/Qwen3-30B-A3B-Instruct-2507", 262144),
        ("Qwen/Qwen2.5-VL-7B-Instruct", 128000),  # mrope does not scale
    ],
)
def test_max_context_as_the_engine_derives_it(repo_id, context):
    assert facts(repo_id).max_position_embeddings == context


def test_yarn_rope_scaling_extends_a_short_model():
    config = {**json.loads((CONFIGS / "Qwen--Qwen2.5-7B-Instruct.json").read_text())}
    config["rope_scaling"] = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    assert facts_from_config(config, model_id="x").max_position_embeddings == 131072


@pytest.mark.parametrize(
    "repo_id", ["google/gemma-3-27b-it", "Qwen/Qwen3-VL-8B-Instruct", "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
                "meta-llama/Llama-4-Scout-17B-16E-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"],
)  # fmt: skip
def test_multimodal_wrappers_read_text_config(repo_id):
    f = facts(repo_id)
    assert f.is_multimodal
    assert f.num_layers > 0 and f.hidden_size > 0 and f.num_kv_heads > 0
    assert f.model_type not in {"gemma3", "mistral3", "llama4", "qwen3_vl"}  # the text model's type


def test_mistral3_text_config_dimensions():
    f = facts("mistralai/Mistral-Small-3.1-24B-Instruct-2503")
    assert (f.num_layers, f.hidden_size, f.num_kv_heads, f.head_dim, f.max_position_embeddings) == (
        40, 5120, 8, 128, 131072,
    )  # fmt: skip
    assert f.param_count / 1e9 == pytest.approx(24.0, rel=0.03)


def test_trust_remote_code_only_for_custom_code():
    assert facts("custom/remote-code-model").needs_trust_remote_code
    assert not facts("meta-llama/Llama-3.1-8B-Instruct").needs_trust_remote_code
    # Kimi-K2 ships its own config class (AutoConfig in auto_map).
    assert facts("moonshotai/Kimi-K2-Instruct").needs_trust_remote_code


def test_tied_embeddings_counted_once():
    tied = facts("Qwen/Qwen3-0.6B")
    assert tied.tie_word_embeddings and tied.embedding_params == 151936 * 1024
    assert tied.param_count / 1e9 == pytest.approx(0.6, rel=0.02)


def test_gated_and_revision_pass_through():
    f = facts("meta-llama/Llama-3.1-8B-Instruct", gated=True, revision="abc123")
    assert f.gated and f.revision == "abc123"


def test_config_without_dimensions_is_refused_with_what_is_missing():
    with pytest.raises(ValueError, match="num_hidden_layers"):
        facts_from_config(
            {"model_type": "bert", "hidden_size": 768, "num_attention_heads": 12}, model_id="bert"
        )


@pytest.mark.parametrize(
    ("qc", "method", "bits"),
    [
        ({"quant_method": "fp8", "weight_block_size": [128, 128]}, "fp8", 8),
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, "awq", 4),
        ({"quant_method": "gptq", "bits": 8, "group_size": 128}, "gptq", 8),
        ({"quant_method": "mxfp4"}, "mxfp4", 4),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "bitsandbytes", 4),
        ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "nvfp4", 4),
        ({"quant_method": "modelopt", "quant_algo": "FP8"}, "modelopt", 8),
        ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 4, "type": "int"}}}},
         "compressed-tensors", 4),
        ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 4, "type": "float"}}}},
         "nvfp4", 4),
        ({"quant_method": "fbgemm_fp8"}, "fp8", 8),
    ],
)  # fmt: skip
def test_quantization_methods_normalised(qc, method, bits):
    q = normalise_quantization(qc)
    assert (q.method, q.bits) == (method, bits)


def test_model_max_length_beyond_the_derived_maximum_is_kept_apart():
    # Command-R: max_position_embeddings 8192 (the engines' default) but model_max_length 131072, which
    # vLLM's _get_and_verify_max_len and SGLang's get_context_length accept when asked for.
    f = facts("CohereForAI/c4ai-command-r-v01")
    assert f.max_position_embeddings == 8192
    assert f.model_max_length == 131072 and f.max_context_allowed == 131072
    assert f.num_kv_heads == 64  # MHA: 1.25 MiB of KV per token in fp16
    plain = facts("meta-llama/Llama-3.1-8B-Instruct")
    assert plain.model_max_length is None and plain.max_context_allowed == plain.max_position_embeddings


def test_falcon_multi_query_has_one_kv_head_and_the_default_context():
    f = facts("tiiuae/falcon-7b-instruct")
    assert (f.num_attention_heads, f.num_kv_heads, f.max_position_embeddings) == (71, 1, 2048)


def test_deepseek_v2_lite_yarn_context_and_mla():
    f = facts("deepseek-ai/DeepSeek-V2-Lite-Chat")
    assert f.max_position_embeddings == 163840  # 4096 x yarn factor 40
    assert f.mla is not None and f.mla.kv_lora_rank == 512
    assert f.moe is not None and f.moe.num_moe_layers == 26  # first_k_dense_replace = 1


def test_compressed_tensors_records_whether_weights_are_float_or_int():
    q = facts("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic").quantization
    assert (q.method, q.bits, q.weight_type) == ("compressed-tensors", 8, "float")
    int8 = normalise_quantization(
        {"quant_method": "compressed-tensors",
         "config_groups": {"g": {"weights": {"num_bits": 8, "type": "int", "strategy": "channel"}}}}
    )  # fmt: skip
    assert int8 is not None and int8.weight_type == "int"


@pytest.mark.parametrize(
    ("repo_id", "original", "longest"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", 32768, 131072),  # Qwen2.5 card: 131,072 with YaRN factor 4
        ("Qwen/Qwen2.5-72B-Instruct-AWQ", 32768, 131072),
        ("Qwen/QwQ-32B", 32768, 131072),  # 40,960 in config; YaRN on 32,768 per the card
        ("Qwen/Qwen3-8B", 32768, 131072),  # Qwen3 docs: original 32,768 although config says 40,960
        ("Qwen/Qwen3-235B-A22B-FP8", 32768, 131072),
        ("Qwen/Qwen3-0.6B", None, None),  # documented for 4B and larger only
        ("Qwen/Qwen3-30B-A3B-Instruct-2507", None, None),  # 262,144 native, no YaRN documented
        ("meta-llama/Llama-3.1-8B-Instruct", None, None),
        ("deepseek-ai/DeepSeek-V3", None, None),  # its config applies YaRN itself
    ],
)
def test_documented_yarn(repo_id, original, longest):
    f = facts(repo_id)
    assert (f.yarn_original_context, f.yarn_max_context) == (original, longest)


def test_rope_facts_come_from_either_spelling():
    assert facts("Qwen/Qwen3-8B").rope_theta == 1_000_000
    assert facts("deepseek-ai/DeepSeek-V3").rope_scaling_type == "yarn"
    assert facts("meta-llama/Llama-3.1-8B-Instruct").rope_scaling_type == "llama3"
    config = {"model_type": "qwen3", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
              "max_position_embeddings": 40960, "rope_parameters": {"rope_type": "default", "rope_theta": 5e6}}  # fmt: skip
    f = facts_from_config(config, model_id="x/tiny")
    assert f.rope_theta == 5e6 and f.rope_scaling_type is None
