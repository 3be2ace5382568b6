"""Published deployments and published start-up failures, with where each was published.

Shared by tests/core/fit/test_published.py and benchmarks/fit_accuracy.py. A row says what the engine
really did with a model, GPUs and flags: `runs=True` where the deployment served, `runs=False` where the
engine refused or ran out of memory, and `kind` which of the engine's rules said no:

- `kv`: "To serve at least one request with the model's max seq len (N), (X GiB KV cache is needed,
  which is larger than the available KV cache memory (Y GiB)" / "max seq len ... larger than the maximum
  number of tokens that can be stored in KV cache" / "No available memory for the cache blocks";
- `weights`: CUDA out of memory while loading the weights;
- `fraction`: out of memory after start-up because the memory fraction left no headroom;
- `heads`: "Total number of attention heads (n) must be divisible by tensor parallel size (tp)";
- `block`: "... is not divisible by weight quantization block_n = 128" (FP8 block checkpoints);
- `context`: "User-specified max_model_len (N) is greater than the derived max_model_len".

`layout` rows are judged by the layout rule alone (the shape the engine was started with), the others by
the full fit check. `KV_LOGS` are vLLM start-up lines ("Available KV cache memory", "GPU KV cache size",
"Maximum concurrency") to check the KV capacity the fit check predicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.fit.assess import assess
from core.fit.check import check_fit
from core.fit.plan import FitOptions, Plan
from core.gpus import parse_accelerators
from tests.core.fit.conftest import facts_of


@dataclass(frozen=True)
class Row:
    model: str
    accel: str
    runs: bool
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None  # why the engine said no (runs=False)
    layout: tuple[int, int, int, bool] | None = None  # (tp, pp, dp, expert_parallel): judge the layout only
    fix: str = ""  # the issue-8 class the row checks


ROWS: list[Row] = [
    # --- class 1: the layout follows the context ---------------------------------------------------
    Row(
        "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int8",
        "A100-80GB:2",
        True,
        "Qwen's 72B GPTQ-Int8 checkpoint is re-quantized with intermediate_size 29696 so that vLLM tensor "
        "parallelism works (QwenLM/Qwen3-VL#231); issue 8: TP 2 serves 32k on two A100-80GB",
        {"max_model_len": 32768},
        fix="1",
    ),
    Row(
        "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int8",
        "A100-80GB:1",
        False,
        "70.4 GiB of GPTQ-Int8 weights leave no KV room for 32k on one A100-80GB (issue 8: 'no KV room at TP 1')",
        {"max_model_len": 32768},
        kind="kv",
        fix="1",
    ),
    Row(
        "tiiuae/falcon-7b-instruct",
        "L4:2",
        False,
        "vLLM: 'Total number of attention heads (71) must be divisible by tensor parallel size (2)'",
        {"tensor_parallel": 2},
        kind="heads",
        fix="1",
    ),
    Row(
        "meta-llama/Llama-3.3-70B-Instruct",
        "H100:4",
        True,
        "vLLM recipe for Llama-3.3-70B-Instruct: --tensor-parallel-size 4 on H100 at the full 128k",
        {"max_model_len": 131072, "tensor_parallel": 4},
        fix="1",
    ),
    # --- class 3: a short explicit context is the user's choice ----------------------------------
    Row(
        "Qwen/Qwen2.5-7B-Instruct",
        "L4:1",
        True,
        "SkyPilot's Qwen serving examples start vLLM with --max-model-len 1024",
        {"max_model_len": 1024},
        fix="3",
    ),
    # --- class 6: MoE under vLLM data parallelism --------------------------------------------------
    Row(
        "Qwen/Qwen3-235B-A22B-FP8",
        "H100:4",
        True,
        "vllm-project/vllm#21348: vllm serve Qwen3-235B-A22B-FP8 --tensor-parallel-size 4 on 4x H100 starts "
        "('Available KV cache memory: 8.11 GiB')",
        {"tensor_parallel": 4},
        fix="6",
    ),
    Row(
        "Qwen/Qwen3-235B-A22B-FP8",
        "H100:8",
        True,
        "memory.md / vLLM Qwen3 guide: the FP8 235B runs on eight H100s with --enable-expert-parallel",
        {},
        fix="6",
    ),
    Row(
        "Qwen/Qwen3-235B-A22B-FP8",
        "H100:8",
        False,
        "vLLM flattens MoE TP over DP (fused_moe/config.py flatten_tp_across_dp): TP 4 x DP 2 without "
        "--enable-expert-parallel splits moe_intermediate_size 1536 eight ways, 192, not a multiple of 128",
        layout=(4, 1, 2, False),
        kind="block",
        fix="6",
    ),
    Row(
        "Qwen/Qwen3-235B-A22B-FP8",
        "H100:8",
        False,
        "vLLM Qwen3 usage guide (vllm-project/vllm#17327): TP 8 fails with '... not divisible by weight "
        "quantization block_n = 128'; use TP 4 or expert parallelism",
        layout=(8, 1, 1, False),
        kind="block",
        fix="6",
    ),
    Row(
        "MiniMaxAI/MiniMax-M2",
        "H100:8",
        False,
        "MiniMax-M2 vLLM recipe: pure TP 8 breaks the FP8 block rule (1536 / 8 = 192); it runs TP 8 with EP",
        layout=(8, 1, 1, False),
        kind="block",
        fix="6",
    ),
    Row(
        "MiniMaxAI/MiniMax-M2",
        "H100:8",
        True,
        "MiniMax-M2 vLLM recipe: --tensor-parallel-size 8 --enable-expert-parallel",
        layout=(8, 1, 1, True),
        fix="6",
    ),
    # --- class 7: activation and runtime memory ----------------------------------------------------
    Row(
        "Qwen/Qwen3-32B",
        "H100:1",
        True,
        "llm-d vLLM memory measurements on H100 (gpu-memory-utilization 0.9): 16000 tokens start",
        {"max_model_len": 16000, "memory_fraction": 0.9},
        fix="7",
    ),
    Row(
        "Qwen/Qwen3-32B",
        "H100:1",
        False,
        "llm-d vLLM memory measurements on H100: 32000 tokens at 0.9 do not start (KV 7.8 GiB > ~4.5 left)",
        {"max_model_len": 32000, "memory_fraction": 0.9},
        kind="kv",
        fix="7",
    ),
    Row(
        "Qwen/Qwen3-32B",
        "H100:1",
        False,
        "issue 8: at vLLM's default 0.92 the same 32000 tokens are refused (no KV room)",
        {"max_model_len": 32000},
        kind="kv",
        fix="7",
    ),
    Row(
        "openai/gpt-oss-120b",
        "H100:1",
        False,
        "vllm-project/vllm#23278: gpt-oss-120b on one H100 at 0.9: 'Available KV cache memory: -2.14 GiB', "
        "'No available memory for the cache blocks'",
        {"memory_fraction": 0.9},
        kind="kv",
        fix="7",
    ),
    Row(
        "openai/gpt-oss-120b",
        "H100:1",
        False,
        "vllm-project/vllm#27508: --gpu-memory-utilization 0.95: 'Available KV cache memory: 1.71 GiB', too "
        "little for the 131,072-token context",
        {"memory_fraction": 0.95, "max_model_len": 131072},
        kind="kv",
        fix="7",
    ),
    Row(
        "openai/gpt-oss-120b",
        "H100:2",
        False,
        "vLLM gpt-oss recipe: --gpu-memory-utilization 0.95 at TP 2 on H100 runs out of memory",
        {"memory_fraction": 0.95, "tensor_parallel": 2},
        kind="fraction",
        fix="7",
    ),
    Row(
        "openai/gpt-oss-120b",
        "H100:2",
        True,
        "vLLM gpt-oss recipe: gpt-oss-120b with --tensor-parallel-size 2 on H100 at the default fraction",
        {"tensor_parallel": 2},
        fix="7",
    ),
    Row(
        "Qwen/Qwen3-30B-A3B-Instruct-2507",
        "H100:1",
        False,
        "memory.md: 262,144 tokens need 24 GiB of KV, one H100 has ~12 GiB left: vLLM refuses to start",
        {"max_model_len": 262144},
        kind="kv",
        fix="7",
    ),
    Row(
        "meta-llama/Llama-3.1-8B-Instruct",
        "L4:1",
        False,
        "memory.md: 131,072 tokens need 16 GiB of KV, an L4 keeps ~4.9 GiB: 'max seq len ... larger than the "
        "available KV cache memory'",
        {"max_model_len": 131072},
        kind="kv",
        fix="7",
    ),
    Row(
        "meta-llama/Llama-3.1-8B-Instruct",
        "L4:1",
        True,
        "memory.md: Llama-3.1-8B serves about 40k tokens on one L4",
        {"max_model_len": 32768},
        fix="7",
    ),
    # --- earlier rounds: deployments that ran ------------------------------------------------------
    Row(
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "H100:8",
        True,
        "vLLM blog 'Llama 4 in vLLM': 8x H100 serves Scout at 1M",
        {"max_model_len": 1_000_000},
    ),
    Row(
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        "H100:8",
        True,
        "vLLM blog 'Llama 4 in vLLM': Maverick-FP8 at ~430K on 8x H100",
        {"max_model_len": 430_000},
    ),
    Row(
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
        "A100-80GB:2",
        True,
        "DeepSeek-R1 card: vllm serve ... --tensor-parallel-size 2 --max-model-len 32768",
        {"max_model_len": 32768},
    ),
    Row(
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "H100:4",
        True,
        "DeepSeek-R1 card: the 70B distill on four 80 GB GPUs",
        {"max_model_len": 32768},
    ),
    Row(
        "Qwen/Qwen2.5-32B-Instruct",
        "A100-80GB:1",
        True,
        "Qwen2.5 speed benchmark: 32B BF16 through vLLM on one A100 80GB",
        {"max_model_len": 32768},
    ),
    Row("Qwen/QwQ-32B", "H100:2", True, "Qwen deployment guide: QwQ-32B with TP 2", {"max_model_len": 40960}),
    Row("MiniMaxAI/MiniMax-M2", "H200:4", True, "MiniMax-M2 vLLM recipe: TP 4 on 141 GB GPUs at 196k"),
    Row(
        "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
        "A100-80GB:1",
        True,
        "hugging-quants card: ~35 GiB to load; one A100 80GB serves it",
        {"max_model_len": 8192},
    ),
    Row(
        "deepseek-ai/DeepSeek-V2-Lite-Chat",
        "A100-80GB:1",
        True,
        "vLLM CI/examples run DeepSeek-V2-Lite on one GPU",
    ),
    Row("google/gemma-2-27b-it", "A100-80GB:1", True, "Gemma-2 card: a single A100/H100"),
    Row(
        "meta-llama/Llama-3.2-1B-Instruct",
        "T4:1",
        True,
        "Llama-3.2 1B at 128k on a free-tier T4",
        {"max_model_len": 131072},
    ),
    Row(
        "mistralai/Mistral-Large-Instruct-2411",
        "H100:8",
        True,
        "Mistral card: 8 GPUs at 128k",
        {"max_model_len": 131072},
    ),
    # --- earlier rounds: what the engines refused --------------------------------------------------
    Row(
        "meta-llama/Llama-3.3-70B-Instruct",
        "H100:2",
        False,
        "320 KiB/token: 20 GiB of KV per GPU at TP 2 beside 65.7 GiB of weights",
        {"max_model_len": 131072},
        kind="kv",
    ),
    Row(
        "mistralai/Mistral-Nemo-Instruct-2407",
        "A100-80GB:1",
        False,
        "config states 1,024,000 tokens; vLLM without --max-model-len fails its KV check",
        {"max_model_len": 1_024_000},
        kind="kv",
    ),
    Row(
        "mistralai/Mistral-Nemo-Instruct-2407",
        "L4:1",
        False,
        "12.2B in bf16 does not load on a 24 GB L4",
        {"max_model_len": 8192},
        kind="weights",
    ),
    Row(
        "mistralai/Mistral-7B-Instruct-v0.2",
        "T4:1",
        False,
        "Colab users: the bf16 7B does not load on a T4 (switch to AWQ)",
        {"max_model_len": 4096},
        kind="weights",
    ),
    Row(
        "meta-llama/Llama-3.2-3B-Instruct",
        "T4:1",
        False,
        "14 GiB of KV at 128k, the whole of a T4",
        {"max_model_len": 131072},
        kind="kv",
    ),
    Row(
        "Qwen/QwQ-32B",
        "H100:1",
        False,
        "10 GiB of KV at 40k beside 61 GiB of weights on one H100",
        {"max_model_len": 40960},
        kind="kv",
    ),
    Row(
        "Qwen/Qwen2.5-14B-Instruct",
        "A10G:1",
        False,
        "27.5 GiB of bf16 weights on 22.5 GiB",
        {"max_model_len": 4096},
        kind="weights",
    ),
    Row(
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        "H100:4",
        False,
        "~377 GiB of FP8 experts",
        {"max_model_len": 4096},
        kind="weights",
    ),
    Row(
        "CohereForAI/c4ai-command-r-v01",
        "A100-80GB:4",
        False,
        "vLLM: 'User-specified max_model_len (262144) is greater than the derived max_model_len'",
        {"max_model_len": 262144},
        kind="context",
    ),
    Row(
        "Qwen/Qwen3-32B",
        "H200:1",
        False,
        "vLLM: 'User-specified max_model_len (65536) is greater than the derived max_model_len (40960)' "
        "(without YaRN rope scaling)",
        {"max_model_len": 65536},
        kind="context",
    ),
]


@dataclass(frozen=True)
class KVLog:
    """One vLLM start-up, as logged: what the fit check's KV prediction is checked against."""

    model: str
    accel: str | None  # None: the GPU was not stated (only the token count is checked)
    options: dict[str, Any]
    available_gib: float  # "Available KV cache memory: X GiB"
    source: str
    tokens: int | None = None  # "GPU KV cache size: N tokens"
    concurrency: float | None = None  # "Maximum concurrency for N tokens per request: Xx"
    context: int | None = None  # the max_model_len those lines are for
    same_generation: bool = True  # False: what the log measured differs from what the pinned vLLM loads
    why_not: str = ""
    logged_weights_gib: float | None = None  # "Model loading took X GiB", when the log says


def plan_for(model: str, accel: str, options: dict[str, Any]) -> Plan:
    return check_fit(facts_of(model), parse_accelerators(accel), FitOptions(**options))


def predicted_available_gib(log: KVLog) -> float:
    """What the fit check says vLLM will log as "Available KV cache memory" (negative: no room at all)."""
    assert log.accel is not None
    plan = assess(facts_of(log.model), parse_accelerators(log.accel), FitOptions(**log.options))
    m = plan.memory_per_gpu_gib
    return m.usable - m.weights - m.overhead


def tolerance_gib(logged: float) -> float:
    """The issue's bar: within max(1 GiB, 7.5 %) of the logged available KV memory."""
    return max(1.0, 0.075 * abs(logged))


# vLLM V1 engine (0.10-0.11 releases, "gpu_worker.py ... Available KV cache memory" and
# "kv_cache_utils.py ... GPU KV cache size"), and llm-d's measurements of the same generation.
KV_LOGS: list[KVLog] = [
    KVLog(
        "Qwen/Qwen3-32B",
        "H100:1",
        {"memory_fraction": 0.9, "max_model_len": 16000},
        79.18 * 0.9 - 61.03 - 5.64 - 0.13,
        "llm-d vLLM measurements on H100: weights 61.03 GiB, activation peak 5.64, non-torch 0.13 at 0.9",
    ),
    KVLog(
        "meta-llama/Llama-3.1-8B-Instruct",
        "H100:1",
        {"memory_fraction": 0.9, "max_model_len": 131072},
        79.18 * 0.9 - 14.99 - 4.76 - 0.13,
        "llm-d vLLM measurements on H100: weights 14.99 GiB, activation peak 4.76, non-torch 0.13 at 0.9",
    ),
    KVLog(
        "openai/gpt-oss-120b",
        "H100:1",
        {"memory_fraction": 0.9, "max_model_len": 131072},
        79.18 * 0.9 - 64.38 - 7.38 - 0.13,
        "llm-d vLLM measurements on H100 (and vllm#33155: 'Model loading took 64.38 GiB'): activation 7.38",
    ),
    KVLog(
        "Qwen/Qwen3-235B-A22B-FP8",
        "H100:4",
        {"memory_fraction": 0.9, "tensor_parallel": 4, "max_model_len": 40960},
        8.11,
        "vllm-project/vllm#21348: 'Available KV cache memory: 8.11 GiB', 'GPU KV cache size: 178,880 tokens'",
        tokens=178_880,
        context=40960,
        same_generation=False,
        why_not="started with an LMCache KV connector (--kv-transfer-config), whose GPU buffers vLLM "
        "counts before the KV cache; the bot never passes one",
    ),
    KVLog(
        "openai/gpt-oss-120b",
        "H100:1",
        {"memory_fraction": 0.9},
        -2.14,
        "vllm-project/vllm#23278: 'Model loading took 65.9651 GiB', 'Available KV cache memory: -2.14 GiB'",
        same_generation=False,
        logged_weights_gib=65.97,
        why_not="vLLM 0.10.1 loaded the MXFP4 experts through Marlin in 65.97 GiB; current releases load "
        "them in 64.38 GiB (vllm#33155), which the fit check predicts",
    ),
    KVLog(
        "openai/gpt-oss-120b",
        "H100:1",
        {"memory_fraction": 0.95, "max_model_len": 131072},
        1.71,
        "vllm-project/vllm#27508: --gpu-memory-utilization 0.95 --max-num-batched-tokens 1024: "
        "'Available KV cache memory: 1.71 GiB'",
        same_generation=False,
        why_not="same pre-0.14 MXFP4 load as vllm#23278 (about 1.6 GiB more weights than the pinned vLLM)",
    ),
    KVLog(
        "Qwen/Qwen3-14B",
        None,
        {"max_model_len": 32768},
        6.51,
        "LMCache/LMCache#1739: 'Available KV cache memory: 6.51 GiB', 'GPU KV cache size: 42,656 tokens', "
        "'Maximum concurrency for 32,768 tokens per request: 1.30x'",
        tokens=42_656,
        concurrency=1.30,
        context=32768,
    ),
]
