"""Per-GPU memory of one model under one parallel layout, as vLLM and SGLang budget it (GiB).

Not a rule of thumb: each term follows what the engines do at start-up (see
/work/shared/reference/memory.md). vLLM: `total x gpu_memory_utilization` must hold weights + peak
activation + non-torch memory + the KV cache of one max-length request, or it refuses to start.
SGLang: `total x mem_fraction_static` holds weights + the KV pool; activations and CUDA graphs live
in the reserve outside that fraction, so its `overhead` here is 0.

Calibration (vLLM V1). The peak activation vLLM profiles is flat in max_model_len and scales with
`max_num_seqs x vocab` (its sampler dummy run works on fp32 logits) plus a small forward term driven by
max_num_batched_tokens; both defaults are sized by GPU (`vllm_batch_defaults`). llm-d's vLLM measurements
on H100 (Llama-3.1-8B 4.76 GiB, Qwen3-0.6B 5.56, Qwen3-32B 5.64, gpt-oss 7.38) fit 9.6 fp32 copies within
0.02 GiB; vllm#23278's gpt-oss log (-2.14 GiB of KV at 0.9 with 65.97 GiB of weights) implies 7.3.
Newer releases profile fewer sampler copies but also subtract their CUDA-graph estimate (vllm#50722 on
H100: 5.66 GiB activation + 1.34 GiB graphs), and memory.md's figures (Llama-3.1-8B on one L4 leaving
~4.9 GiB) imply less: where the sources disagree the larger figure is kept, so the bot errs on "no".
Verdicts this gives: Qwen3-32B on one H100 fits 16000 tokens at 0.9 and not 32000 (at 0.9 or 0.92);
gpt-oss-120b on one H100 at 0.9 has no room for cache blocks. tests/core/fit/published_table.py cites each.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.engines.memory import (
    VLLM_DEFAULT_MEMORY_FRACTION,
    sglang_memory_fraction,
)
from core.facts import ModelFacts
from core.fit.plan import Engine
from core.gpus import GpuSpec

GIB = float(1 << 30)

# Sampler dummy run: logits and their copies (softmax, sort, ...) in fp32 for max_num_seqs requests
# (9.6 reproduces llm-d's H100 activation peaks; see the module docstring).
_SAMPLER_COPIES = 9.6
# Forward-pass buffers that survive to the peak, per scheduled token (fraction of the MLP width).
_FORWARD_SHARE = 0.116
NON_TORCH_ONE_GPU_GIB = 0.13  # CUDA context, cuBLAS workspaces
NON_TORCH_MULTI_GPU_GIB = 0.55  # + NCCL buffers
EP_ALL2ALL_GIB = 0.5  # expert-parallel dispatch/combine buffers


@dataclass(frozen=True)
class EngineProfile:
    """The engine defaults that move memory, for one GPU type."""

    engine: Engine
    memory_fraction: float
    max_num_batched_tokens: int  # vLLM; SGLang's chunked_prefill_size
    max_num_seqs: int


def vllm_batch_defaults(gpu: GpuSpec) -> tuple[int, int]:
    """vLLM's API-server defaults (max_num_batched_tokens, max_num_seqs) by device memory.

    From vLLM's scheduling defaults: >= 160 GiB 16384/1024 (B200-class); >= 70 GiB 8192/1024;
    >= 40 GiB 4096/512; else 2048/256. A100s always get the small tier ("a100" in the device name).
    """
    if gpu.name.upper().startswith("A100"):
        return 2048, 256
    if gpu.memory_gib >= 160:
        return 16384, 1024
    if gpu.memory_gib >= 70:
        return 8192, 1024
    if gpu.memory_gib >= 40:
        return 4096, 512
    return 2048, 256


def sglang_chunked_prefill(gpu: GpuSpec) -> int:
    """SGLang's default chunked_prefill_size by GPU memory (2048 under 35 GiB ... 16384 from 160 GiB)."""
    memory = gpu.memory_gib
    return 2048 if memory < 35 else 4096 if memory < 60 else 8192 if memory < 160 else 16384


def engine_profile(
    engine: Engine, gpu: GpuSpec, *, fraction: float | None, tp: int = 1, pp: int = 1
) -> EngineProfile:
    if engine == "sglang":
        chunk = sglang_chunked_prefill(gpu)
        frac = (
            fraction
            if fraction is not None
            else sglang_memory_fraction(gpu_memory_gib=gpu.memory_gib, tp=tp, pp=pp)
        )
        return EngineProfile("sglang", frac, chunk, 1024 if gpu.memory_gib >= 70 else 256)
    tokens, seqs = vllm_batch_defaults(gpu)
    return EngineProfile(
        "vllm", fraction if fraction is not None else VLLM_DEFAULT_MEMORY_FRACTION, tokens, seqs
    )


@dataclass(frozen=True)
class WeightSplit:
    """Bytes of the model as the engine will hold them, split by how they are sharded."""

    dense_bytes: float  # attention, norms, embeddings, dense/shared MLPs: split by TP x PP
    expert_bytes: float  # routed experts: split by TP x PP, or by EP x PP with expert parallelism


@dataclass(frozen=True)
class KVShape:
    """KV-cache bytes of one token on one GPU, and the fixed part of sliding-window layers."""

    full_bytes_per_token: float  # layers whose KV grows with the context
    sliding_bytes_per_token: float  # layers that keep only window + batch tokens
    window_tokens: int  # window + max_num_batched_tokens (0: no sliding layers)

    def bytes_for(self, tokens: int) -> float:
        held = min(tokens, self.window_tokens) if self.window_tokens else 0
        return self.full_bytes_per_token * tokens + self.sliding_bytes_per_token * held

    def request_bytes(self, tokens: int) -> float:
        """What one request of `tokens` takes in the engine's pool: whole blocks of VLLM_BLOCK_TOKENS."""
        return self.bytes_for(-(-tokens // VLLM_BLOCK_TOKENS) * VLLM_BLOCK_TOKENS)

    def max_tokens(self, budget_bytes: float, *, cap: int) -> int:
        """The longest context whose KV fits in budget_bytes (at most cap)."""
        if budget_bytes <= 0:
            return 0
        if self.bytes_for(cap) <= budget_bytes:
            return cap
        fixed = self.sliding_bytes_per_token * self.window_tokens
        if self.full_bytes_per_token > 0 and budget_bytes > fixed:
            tokens = int((budget_bytes - fixed) / self.full_bytes_per_token)
            if tokens >= self.window_tokens:
                return min(cap, tokens)
        per_token = self.full_bytes_per_token + self.sliding_bytes_per_token
        return min(cap, int(budget_bytes / per_token)) if per_token else cap


VLLM_BLOCK_TOKENS = 16  # vLLM's default --block-size on CUDA


@dataclass(frozen=True)
class KVCapacity:
    """The KV pool of one GPU as the engine reports it at start-up."""

    gib: float  # vLLM "Available KV cache memory"; SGLang: the pool inside --mem-fraction-static
    tokens: int  # vLLM "GPU KV cache size: N tokens"; SGLang max_total_num_tokens
    concurrency: float  # vLLM "Maximum concurrency for CONTEXT tokens per request: Nx"


def kv_capacity(kv: KVShape, budget_bytes: float, *, context: int, engine: Engine) -> KVCapacity:
    """The pool `budget_bytes` gives, counted as the engine counts it.

    vLLM (kv_cache_utils: GPU KV cache size = max_concurrency x max_model_len, where one request takes
    whole blocks in every KV group and sliding-window groups stop at window + batch): concurrency is the
    pool over one request's blocks. SGLang's pool is a token count: pool / bytes per token.
    """
    if budget_bytes <= 0 or context <= 0:
        return KVCapacity(0.0, 0, 0.0)
    gib = budget_bytes / GIB
    if engine == "sglang":
        per_token = kv.full_bytes_per_token + kv.sliding_bytes_per_token
        tokens = int(budget_bytes / per_token) if per_token else 0
        return KVCapacity(gib, tokens, tokens / context)
    per_request = kv.request_bytes(context)
    concurrency = budget_bytes / per_request if per_request else 0.0
    return KVCapacity(gib, int(concurrency * context), concurrency)


def kv_dtype_bytes(kv_cache_dtype: str | None, *, weight_dtype_bytes: int) -> int:
    if kv_cache_dtype and kv_cache_dtype.lower().startswith("fp8"):
        return 1
    return weight_dtype_bytes


# SGLang's hybrid sliding-window pool holds this many sliding-layer tokens per full-layer token
# (--swa-full-tokens-ratio default), rather than only the window as vLLM's hybrid allocator does.
SGLANG_SWA_FULL_TOKENS_RATIO = 0.8


def kv_shape(
    facts: ModelFacts, *, tp: int, pp: int, kv_bytes: int, batched_tokens: int, engine: Engine = "vllm"
) -> KVShape:
    """Per-GPU KV bytes per token for one pipeline stage (the largest stage)."""

    def per_stage(layers: int) -> int:
        return -(-layers // pp) if layers else 0

    if facts.mla is not None:
        # One latent head of kv_lora_rank + rope dims per layer, held whole by every TP rank.
        per_layer = (facts.mla.kv_lora_rank + facts.mla.qk_rope_head_dim) * kv_bytes
        return KVShape(per_stage(facts.num_full_attention_layers) * per_layer, 0.0, 0)
    heads_per_rank = max(1, facts.num_kv_heads // tp)  # vLLM replicates KV heads past TP = kv heads
    per_layer = 2 * heads_per_rank * facts.head_dim * kv_bytes
    full = per_stage(facts.num_full_attention_layers) * per_layer
    sliding = per_stage(facts.num_sliding_layers) * per_layer
    if engine == "sglang" and sliding:
        return KVShape(full + SGLANG_SWA_FULL_TOKENS_RATIO * sliding, 0.0, 0)
    window = (facts.sliding_window or 0) + batched_tokens if sliding else 0
    return KVShape(float(full), float(sliding), window)


def activation_gib(facts: ModelFacts, profile: EngineProfile, *, tp: int) -> float:
    """vLLM's profiled peak activation (sampler dummy run + forward buffers)."""
    sampler = _SAMPLER_COPIES * profile.max_num_seqs * facts.vocab_size * 4
    if facts.moe is not None:
        width = facts.moe.experts_per_token * 2 * (facts.moe.moe_intermediate_size or facts.hidden_size)
    else:
        width = 2 * (facts.intermediate_size or 4 * facts.hidden_size)
    forward = _FORWARD_SHARE * profile.max_num_batched_tokens * width * 2 / tp
    return (sampler + forward) / GIB


def non_torch_gib(*, gpus_in_group: int, expert_parallel: bool) -> float:
    base = NON_TORCH_ONE_GPU_GIB if gpus_in_group <= 1 else NON_TORCH_MULTI_GPU_GIB
    return base + (EP_ALL2ALL_GIB if expert_parallel else 0.0)
