"""Exact argv for representative plans."""

from __future__ import annotations

import json

import pytest

from core.engines import build_engine_command
from tests.core.engines.plans import make_plan


def test_vllm_single_gpu() -> None:
    assert build_engine_command(make_plan()) == [
        "vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct",
        "--host", "0.0.0.0", "--port", "8000",
        "--served-model-name", "meta-llama/Llama-3.1-8B-Instruct",
        "--tensor-parallel-size", "1",
        "--max-model-len", "32768", "--dtype", "bfloat16",
        "--gpu-memory-utilization", "0.92",
    ]  # fmt: skip


def test_vllm_tp_dp_ep_quantized_with_alias_and_port() -> None:
    plan = make_plan(
        model_id="Qwen/Qwen3-30B-A3B-FP8",
        accelerators="H100:8",
        gpu_count=8,
        tensor_parallel=4,
        data_parallel=2,
        expert_parallel=8,
        quantization="fp8",
        kv_cache_dtype="fp8",
        memory_fraction=0.9,
        max_context_tokens=40960,
        trust_remote_code=True,
    )
    assert build_engine_command(plan, served_model_name="qwen-moe", port=9000) == [
        "vllm", "serve", "Qwen/Qwen3-30B-A3B-FP8",
        "--host", "0.0.0.0", "--port", "9000",
        "--served-model-name", "qwen-moe",
        "--tensor-parallel-size", "4", "--data-parallel-size", "2", "--enable-expert-parallel",
        "--max-model-len", "40960", "--dtype", "bfloat16",
        "--quantization", "fp8", "--kv-cache-dtype", "fp8",
        "--gpu-memory-utilization", "0.9",
        "--trust-remote-code",
    ]  # fmt: skip


def test_vllm_uses_long_flag_names_only() -> None:
    argv = build_engine_command(
        make_plan(tensor_parallel=2, pipeline_parallel=2, data_parallel=2, gpu_count=8)
    )
    flags = [a for a in argv if a.startswith("-")]
    assert all(flag.startswith("--") for flag in flags)
    assert not {"--tp", "--pp", "--dp", "-tp", "-pp", "-dp"} & set(flags)
    assert "--pipeline-parallel-size" in argv and "--data-parallel-size" in argv


def test_vllm_speculative_config_is_json() -> None:
    plan = make_plan(
        draft_model="yuhuili/EAGLE3-LLaMA3.1-Instruct-8B", speculative_tokens=4, speculative_method="eagle3"
    )
    argv = build_engine_command(plan)
    config = json.loads(argv[argv.index("--speculative-config") + 1])
    assert config == {
        "method": "eagle3",
        "model": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B",
        "num_speculative_tokens": 4,
    }


def test_vllm_ngram_has_no_model_and_default_token_count() -> None:
    argv = build_engine_command(make_plan(speculative_method="ngram"))
    assert json.loads(argv[argv.index("--speculative-config") + 1]) == {
        "method": "ngram",
        "num_speculative_tokens": 3,
    }


def test_vllm_leaves_out_what_the_plan_does_not_ask_for() -> None:
    argv = build_engine_command(make_plan(kv_cache_dtype="auto"))
    for flag in ("--quantization", "--kv-cache-dtype", "--speculative-config", "--trust-remote-code",
                 "--enable-expert-parallel", "--pipeline-parallel-size", "--data-parallel-size", "--api-key"):  # fmt: skip
        assert flag not in argv


def test_vllm_pipeline_across_nodes() -> None:
    plan = make_plan(accelerators="H100:16", gpu_count=16, tensor_parallel=8, pipeline_parallel=2, nodes=2)
    assert build_engine_command(plan) == [
        "vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct",
        "--host", "0.0.0.0", "--port", "8000",
        "--served-model-name", "meta-llama/Llama-3.1-8B-Instruct",
        "--tensor-parallel-size", "8", "--pipeline-parallel-size", "2",
        "--nnodes", "2", "--node-rank", "${SKYPILOT_NODE_RANK}",
        "--master-addr", "${ENDPOINT_HEAD_IP}", "--master-port", "29501", "$ENDPOINT_NODE_ARGS",
        "--max-model-len", "32768", "--dtype", "bfloat16",
        "--gpu-memory-utilization", "0.92",
    ]  # fmt: skip


def test_vllm_data_parallel_across_nodes() -> None:
    plan = make_plan(gpu_count=16, tensor_parallel=4, data_parallel=4, expert_parallel=16, nodes=2)
    argv = build_engine_command(plan)
    start = argv.index("--data-parallel-size-local")
    assert argv[start : start + 7] == [
        "--data-parallel-size-local", "2",
        "--data-parallel-address", "${ENDPOINT_HEAD_IP}",
        "--data-parallel-rpc-port", "13345", "$ENDPOINT_NODE_ARGS",
    ]  # fmt: skip
    assert "--nnodes" not in argv


def test_sglang_single_gpu() -> None:
    assert build_engine_command(make_plan(engine="sglang", memory_fraction=0.84)) == [
        "python3", "-m", "sglang.launch_server",
        "--model-path", "meta-llama/Llama-3.1-8B-Instruct",
        "--host", "0.0.0.0", "--port", "8000",
        "--served-model-name", "meta-llama/Llama-3.1-8B-Instruct",
        "--tp-size", "1",
        "--context-length", "32768", "--dtype", "bfloat16",
        "--mem-fraction-static", "0.84",
        "--enable-metrics",
    ]  # fmt: skip


def test_sglang_parallel_quantized_speculative_multinode() -> None:
    plan = make_plan(
        engine="sglang",
        model_id="deepseek-ai/DeepSeek-V3",
        accelerators="H100:16",
        gpu_count=16,
        tensor_parallel=16,
        expert_parallel=16,
        nodes=2,
        quantization="fp8",
        kv_cache_dtype="fp8",
        memory_fraction=0.8,
        max_context_tokens=65536,
        speculative_method="mtp",
        speculative_tokens=2,
        trust_remote_code=True,
    )
    assert build_engine_command(plan, served_model_name="dsv3", port=30000) == [
        "python3", "-m", "sglang.launch_server",
        "--model-path", "deepseek-ai/DeepSeek-V3",
        "--host", "0.0.0.0", "--port", "30000",
        "--served-model-name", "dsv3",
        "--tp-size", "16", "--ep-size", "16",
        "--nnodes", "2", "--node-rank", "${SKYPILOT_NODE_RANK}", "--dist-init-addr", "${ENDPOINT_HEAD_IP}:5000",
        "--context-length", "65536", "--dtype", "bfloat16",
        "--quantization", "fp8", "--kv-cache-dtype", "fp8_e4m3",
        "--mem-fraction-static", "0.8",
        "--enable-metrics",
        "--speculative-algorithm", "NEXTN",
        "--speculative-num-steps", "2", "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", "3",
        "--trust-remote-code",
    ]  # fmt: skip


def test_sglang_pp_dp_and_draft_model() -> None:
    plan = make_plan(
        engine="sglang", tensor_parallel=2, pipeline_parallel=2, data_parallel=2, gpu_count=8,
        draft_model="lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B",
    )  # fmt: skip
    argv = build_engine_command(plan)
    assert argv[argv.index("--tp-size") : argv.index("--tp-size") + 6] == [
        "--tp-size", "2", "--pp-size", "2", "--dp-size", "2",
    ]  # fmt: skip
    spec = argv[argv.index("--speculative-algorithm") :]
    assert spec == [
        "--speculative-algorithm", "EAGLE3",
        "--speculative-draft-model-path", "lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B",
        "--speculative-num-steps", "3", "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", "4",
    ]  # fmt: skip


def test_sglang_ngram() -> None:
    argv = build_engine_command(make_plan(engine="sglang", speculative_method="ngram", speculative_tokens=5))
    assert argv[argv.index("--speculative-algorithm") :] == [
        "--speculative-algorithm", "NGRAM", "--speculative-num-draft-tokens", "5",
    ]  # fmt: skip


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        build_engine_command(make_plan(engine="tgi"))  # type: ignore[arg-type]


# --- YaRN ------------------------------------------------------------------------------------------

_YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768,
         "max_position_embeddings": 131072, "rope_theta": 1000000.0}  # fmt: skip


def test_vllm_yarn_overrides_rope_parameters_with_theta_and_lengthens_positions() -> None:
    # vLLM 0.33 applies --hf-overrides to a config whose RoPE is already normalised into
    # rope_parameters: the override must be rope_parameters itself (rope_type, not Qwen's legacy
    # `type`; rope_theta kept), and max_position_embeddings = 32768 x 4 so --max-model-len 131072 passes.
    argv = build_engine_command(make_plan(model_id="Qwen/Qwen2.5-7B-Instruct", rope_scaling=_YARN,
                                          max_context_tokens=131072))  # fmt: skip
    assert argv[argv.index("--max-model-len") + 1] == "131072"
    overrides = json.loads(argv[argv.index("--hf-overrides") + 1])
    assert overrides == {
        "rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768,
                            "rope_theta": 1000000.0},
        "max_position_embeddings": 131072,
    }  # fmt: skip
    assert "rope_scaling" not in overrides and "type" not in overrides["rope_parameters"]
    assert "--json-model-override-args" not in argv


def test_sglang_yarn_overrides_rope_scaling_and_context_length() -> None:
    rope = {**_YARN, "factor": 2.0, "max_position_embeddings": 65536}
    argv = build_engine_command(make_plan(engine="sglang", rope_scaling=rope, max_context_tokens=65536))
    assert argv[argv.index("--context-length") + 1] == "65536"
    text = argv[argv.index("--json-model-override-args") + 1]
    overrides = json.loads(text)
    yarn = {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 32768}
    assert overrides == {
        "rope_scaling": yarn,  # what get_context_length and transformers v4 models read
        "rope_parameters": {**yarn, "rope_theta": 1000000.0},  # what get_rope_config prefers (v5)
        "max_position_embeddings": 65536,  # SGLang's derived context length: no env override needed
    }
    assert list(overrides) == [
        "rope_scaling",
        "rope_parameters",
        "max_position_embeddings",
    ]  # applied in order
    assert "--hf-overrides" not in argv
    # Without a stated rope_theta, no rope_parameters (get_rope_config would look for rope_theta in it).
    no_theta = {k: v for k, v in rope.items() if k != "rope_theta"}
    argv = build_engine_command(make_plan(engine="sglang", rope_scaling=no_theta, max_context_tokens=65536))
    assert "rope_parameters" not in json.loads(argv[argv.index("--json-model-override-args") + 1])


def test_no_rope_flags_without_rope_scaling() -> None:
    for engine in ("vllm", "sglang"):
        argv = build_engine_command(make_plan(engine=engine))
        assert "--hf-overrides" not in argv and "--json-model-override-args" not in argv
