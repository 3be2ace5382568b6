"""argv for `vllm serve` and `python3 -m sglang.launch_server`, built from a fit-check `Plan`.

The argv never holds a secret: the API key reaches vLLM as `VLLM_API_KEY` and SGLang through
`launch_script`, which writes the key into a 0600 YAML file read with `--config` (never a flag).

Multi-node plans (`plan.nodes > 1`) carry a few shell references that only `launch_script` expands on
each node: `${SKYPILOT_NODE_RANK}`, `${ENDPOINT_HEAD_IP}` and `$ENDPOINT_NODE_ARGS` (see
`core.engines.script`). Every other element is a plain value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.engines.names import (
    DEFAULT_SPECULATIVE_TOKENS,
    SGLANG_KV_CACHE_ALIASES,
    SGLANG_SPECULATIVE_ALGORITHMS,
)
from core.fit.plan import Plan

BIND_HOST = "0.0.0.0"
# The SGLang images (lmsysorg/sglang) ship `python3`; a bare `python` is not guaranteed there.
SGLANG_PYTHON = "python3"

# Shell references expanded per node by launch_script (never by Python).
NODE_RANK_REF = "${SKYPILOT_NODE_RANK}"
HEAD_IP_REF = "${ENDPOINT_HEAD_IP}"
NODE_ARGS_REF = "$ENDPOINT_NODE_ARGS"

# Rendezvous ports on the head node (inside the cluster's private network).
SGLANG_DIST_INIT_PORT = 5000
VLLM_MASTER_PORT = 29501
VLLM_DP_RPC_PORT = 13345


def _fraction(value: float) -> str:
    return f"{value:g}"


def _speculative_tokens(plan: Plan) -> int:
    return plan.speculative_tokens or DEFAULT_SPECULATIVE_TOKENS


def _wants_speculation(plan: Plan) -> bool:
    return bool(plan.draft_model or plan.speculative_method)


def _vllm_speculative_config(plan: Plan) -> str:
    config: dict[str, Any] = {}
    if plan.speculative_method:
        config["method"] = plan.speculative_method.lower()
    if plan.draft_model:
        config["model"] = plan.draft_model
    config["num_speculative_tokens"] = _speculative_tokens(plan)
    return json.dumps(config, separators=(",", ":"))


def sglang_speculative_algorithm(plan: Plan) -> str:
    """SGLang's algorithm name for the plan's method; guessed from the draft's name when unset."""
    if plan.speculative_method:
        method = plan.speculative_method.lower()
        return SGLANG_SPECULATIVE_ALGORITHMS.get(method, method.upper())
    draft = (plan.draft_model or "").lower()
    if "eagle3" in draft:
        return "EAGLE3"
    if "eagle" in draft:
        return "EAGLE"
    return "STANDALONE"


def _yarn(rope: dict[str, Any]) -> tuple[dict[str, Any], int]:
    scaling = {
        "rope_type": "yarn",
        "factor": rope["factor"],
        "original_max_position_embeddings": rope["original_max_position_embeddings"],
    }
    return scaling, int(rope["max_position_embeddings"])


def vllm_rope_overrides(rope: dict[str, Any]) -> str:
    """`--hf-overrides` JSON for YaRN in vLLM 0.33.

    vLLM applies the overrides to a config whose RoPE is already normalised into `rope_parameters`
    (`vllm/transformers_utils/config.py`: `config.update(hf_overrides)`, then `patch_rope_parameters`), so
    a `rope_scaling` dict would replace `rope_parameters` whole (dropping `rope_theta`), and Qwen's legacy
    `type` key would clash with `rope_type`. Hence `rope_parameters` with `rope_type` and `rope_theta`,
    and `max_position_embeddings` = original x factor so the derived maximum allows `--max-model-len`.
    """
    scaling, longest = _yarn(rope)
    if rope.get("rope_theta") is not None:
        scaling["rope_theta"] = rope["rope_theta"]
    return json.dumps({"rope_parameters": scaling, "max_position_embeddings": longest}, separators=(",", ":"))


def sglang_rope_overrides(rope: dict[str, Any]) -> str:
    """`--json-model-override-args` JSON for YaRN in SGLang 0.5.

    SGLang updates the HF config with it, key by key in order (`hf_transformers_utils.get_config`:
    `config.update(model_override_args)`). Its models take RoPE from `get_rope_config`, which prefers
    `rope_parameters` (transformers v5, must hold `rope_theta`) and falls back to `rope_scaling`; its
    `get_context_length` reads `rope_scaling` and, since that names its original length, takes
    `max_position_embeddings` as the maximum. So: `rope_scaling`, then `rope_parameters` with
    `rope_theta` when the config states it (last, so it wins wherever the two are one attribute), and
    `max_position_embeddings` = original x factor so `--context-length` passes without
    SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN.
    """
    scaling, longest = _yarn(rope)
    overrides: dict[str, Any] = {"rope_scaling": scaling}
    if rope.get("rope_theta") is not None:
        overrides["rope_parameters"] = {**scaling, "rope_theta": rope["rope_theta"]}
    overrides["max_position_embeddings"] = longest
    return json.dumps(overrides, separators=(",", ":"))


@dataclass(frozen=True)
class _Flags:
    """One engine's names for the flags both engines take (the values are the same)."""

    tensor_parallel: str
    pipeline_parallel: str
    data_parallel: str
    context_length: str
    rope_overrides: str
    memory_fraction: str
    rope_json: Callable[[dict[str, Any]], str]  # the JSON that `rope_overrides` takes
    kv_cache_aliases: Mapping[str, str]  # our kv-cache dtype name -> the engine's


# What the flag sets, vLLM's flag, SGLang's flag.
_FLAG_NAMES = (
    ("tensor_parallel", "--tensor-parallel-size", "--tp-size"),
    ("pipeline_parallel", "--pipeline-parallel-size", "--pp-size"),
    ("data_parallel", "--data-parallel-size", "--dp-size"),
    ("context_length", "--max-model-len", "--context-length"),
    ("rope_overrides", "--hf-overrides", "--json-model-override-args"),
    ("memory_fraction", "--gpu-memory-utilization", "--mem-fraction-static"),
)
_VLLM_FLAGS = _Flags(
    **{what: vllm for what, vllm, _ in _FLAG_NAMES}, rope_json=vllm_rope_overrides, kv_cache_aliases={}
)
_SGLANG_FLAGS = _Flags(
    **{what: sglang for what, _, sglang in _FLAG_NAMES},
    rope_json=sglang_rope_overrides,
    kv_cache_aliases=SGLANG_KV_CACHE_ALIASES,
)


def _parallel_args(plan: Plan, flags: _Flags) -> list[str]:
    """Tensor, pipeline and data parallel sizes (the last two only when above one)."""
    argv = [flags.tensor_parallel, str(plan.tensor_parallel)]
    if plan.pipeline_parallel > 1:
        argv += [flags.pipeline_parallel, str(plan.pipeline_parallel)]
    if plan.data_parallel > 1:
        argv += [flags.data_parallel, str(plan.data_parallel)]
    return argv


def _model_args(plan: Plan, flags: _Flags) -> list[str]:
    """Context length, dtype, RoPE overrides, quantization, KV-cache dtype and memory fraction."""
    argv = [flags.context_length, str(plan.max_context_tokens), "--dtype", plan.dtype]
    if plan.rope_scaling:
        argv += [flags.rope_overrides, flags.rope_json(plan.rope_scaling)]
    if plan.quantization:
        argv += ["--quantization", plan.quantization]
    if plan.kv_cache_dtype and plan.kv_cache_dtype != "auto":
        argv += ["--kv-cache-dtype", flags.kv_cache_aliases.get(plan.kv_cache_dtype, plan.kv_cache_dtype)]
    argv += [flags.memory_fraction, _fraction(plan.memory_fraction)]
    return argv


def _vllm(plan: Plan, *, served_model_name: str, port: int) -> list[str]:
    argv = ["vllm", "serve", plan.model_id, "--host", BIND_HOST, "--port", str(port)]
    argv += ["--served-model-name", served_model_name]
    if plan.revision:
        argv += ["--revision", plan.revision]
    argv += _parallel_args(plan, _VLLM_FLAGS)
    if plan.expert_parallel > 1:
        # vLLM has no EP size: EP spans TP x DP once enabled.
        argv.append("--enable-expert-parallel")
    if plan.nodes > 1:
        argv += _vllm_multinode(plan)
    argv += _model_args(plan, _VLLM_FLAGS)
    if _wants_speculation(plan):
        argv += ["--speculative-config", _vllm_speculative_config(plan)]
    if plan.trust_remote_code:
        argv.append("--trust-remote-code")
    return argv


def _vllm_multinode(plan: Plan) -> list[str]:
    if plan.data_parallel > 1:
        # Data-parallel replicas spread over the nodes; each node runs its share of ranks, the
        # head node serves the API and the others run headless from their start rank.
        local = max(1, plan.data_parallel // plan.nodes)
        return [
            "--data-parallel-size-local", str(local),
            "--data-parallel-address", HEAD_IP_REF,
            "--data-parallel-rpc-port", str(VLLM_DP_RPC_PORT),
            NODE_ARGS_REF,
        ]  # fmt: skip
    # One model instance spans the nodes (multiprocessing backend, no Ray).
    return [
        "--nnodes", str(plan.nodes),
        "--node-rank", NODE_RANK_REF,
        "--master-addr", HEAD_IP_REF,
        "--master-port", str(VLLM_MASTER_PORT),
        NODE_ARGS_REF,
    ]  # fmt: skip


def _sglang(plan: Plan, *, served_model_name: str, port: int) -> list[str]:
    argv = [SGLANG_PYTHON, "-m", "sglang.launch_server", "--model-path", plan.model_id]
    argv += ["--host", BIND_HOST, "--port", str(port), "--served-model-name", served_model_name]
    if plan.revision:
        argv += ["--revision", plan.revision]
    argv += _parallel_args(plan, _SGLANG_FLAGS)
    if plan.expert_parallel > 1:
        argv += ["--ep-size", str(plan.expert_parallel)]
    if plan.nodes > 1:
        argv += [
            "--nnodes", str(plan.nodes),
            "--node-rank", NODE_RANK_REF,
            "--dist-init-addr", f"{HEAD_IP_REF}:{SGLANG_DIST_INIT_PORT}",
        ]  # fmt: skip
    argv += _model_args(plan, _SGLANG_FLAGS)
    argv.append("--enable-metrics")  # without it SGLang has no /metrics and the watchdog is blind
    if _wants_speculation(plan):
        algorithm = sglang_speculative_algorithm(plan)
        tokens = _speculative_tokens(plan)
        argv += ["--speculative-algorithm", algorithm]
        if plan.draft_model:
            argv += ["--speculative-draft-model-path", plan.draft_model]
        if algorithm == "NGRAM":
            argv += ["--speculative-num-draft-tokens", str(tokens)]
        else:
            # A chain of `tokens` drafted tokens: top-1 per step, plus the verified one.
            argv += [
                "--speculative-num-steps", str(tokens),
                "--speculative-eagle-topk", "1",
                "--speculative-num-draft-tokens", str(tokens + 1),
            ]  # fmt: skip
    if plan.trust_remote_code:
        argv.append("--trust-remote-code")
    return argv


def build_engine_command(plan: Plan, *, served_model_name: str | None = None, port: int = 8000) -> list[str]:
    """The engine's argv for `plan` (no secret in it); `served_model_name` defaults to the model id."""
    name = served_model_name or plan.model_id
    if plan.engine == "vllm":
        return _vllm(plan, served_model_name=name, port=port)
    if plan.engine == "sglang":
        return _sglang(plan, served_model_name=name, port=port)
    raise ValueError(f"unknown engine {plan.engine!r}; expected 'vllm' or 'sglang'")
