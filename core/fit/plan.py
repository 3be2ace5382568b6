"""What the fit check produces: a `Plan`, with its memory breakdown, reasons and suggestions.

Read by core.engines, core.endpoints and bot/. Field names here are what `--json` prints and what the
store keeps (`Plan.to_dict()` / `Plan.from_dict()` round-trip through JSON); the reasons, held as
`Reason`s (core.fit.reasons), are written as `reasons` (the sentences) and `reason_kinds` beside them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from core.fit.reasons import Reason, ReasonKind

Engine = Literal["vllm", "sglang"]


@dataclass(frozen=True)
class FitOptions:
    """What the user asked for besides model and GPUs. None means "engine default / work it out"."""

    engine: Engine = "vllm"
    max_model_len: int | None = None
    quantization: str | None = None  # online quantization asked for (fp8, ...); None = checkpoint's own
    dtype: str | None = None  # auto/bfloat16/float16/float32
    kv_cache_dtype: str | None = None  # auto/fp8/fp8_e4m3/fp8_e5m2
    memory_fraction: float | None = None  # vLLM --gpu-memory-utilization / SGLang --mem-fraction-static
    tensor_parallel: int | None = None  # pinned TP (--tensor-parallel-size / tp=N); None: the planner picks
    draft_model: str | None = None  # speculative decoding draft model id
    speculative_tokens: int | None = None
    speculative_method: str | None = None  # eagle3, draft_model, ngram, mtp, ...
    rope_scaling: str | None = None  # "yarn": stretch the context as the vendor documents (core.fit.rope)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Per-GPU memory in GiB."""

    weights: float
    kv_cache: float  # KV needed for at least one max-length sequence (at max_context_tokens)
    overhead: float  # activation peak + CUDA graphs + non-torch (NCCL, context)
    total: float  # weights + kv_cache + overhead
    usable: float  # memory the engine may use: GPU memory x memory fraction


@dataclass(frozen=True)
class Suggestion:
    """A change that would fit, with its price."""

    summary: str  # "Use A100-80GB:2 (TP 2)"; "Limit context to 40k tokens"
    accelerators: str  # NAME:COUNT the suggestion runs on
    price_per_hour: float
    changes: dict[str, Any] = field(
        default_factory=dict
    )  # e.g. {"accelerators": "L4:2"} or {"max_model_len": 40960}


@dataclass(frozen=True)
class Plan:
    """The fit check's verdict for one model on one accelerator request."""

    model_id: str
    engine: Engine
    accelerators: str  # NAME:COUNT as normalised by the catalogue
    gpu_name: str
    gpu_count: int
    fits: bool
    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    expert_parallel: int  # EP size (1 = off). vLLM: TP x DP when enabled; SGLang: --ep-size
    nodes: int
    max_context_tokens: int
    memory_per_gpu_gib: MemoryBreakdown
    price_per_hour: float  # for all GPUs
    dtype: str  # what the engine gets for --dtype
    quantization: str | None  # what the engine gets for --quantization (None: not passed)
    kv_cache_dtype: str | None
    memory_fraction: float
    draft_model: str | None = None
    speculative_tokens: int | None = None
    speculative_method: str | None = None
    trust_remote_code: bool = False
    revision: str | None = None  # Hub commit the fit check read; the engine loads exactly that one
    refusals: list[Reason] = field(default_factory=list)  # why it does not fit (empty when it fits)
    warnings: list[str] = field(default_factory=list)  # it fits, but the user should know
    suggestions: list[Suggestion] = field(default_factory=list)
    engine_command: list[str] = field(default_factory=list)  # argv, filled by core.engines
    # What the engine will log at start-up (per GPU). vLLM: "Available KV cache memory", "GPU KV cache
    # size: N tokens" (max_concurrency x max_context_tokens, as vLLM counts hybrid/sliding layers) and
    # "Maximum concurrency for N tokens per request". SGLang: the KV pool inside --mem-fraction-static
    # (which holds weights + KV) and its max_total_num_tokens. 0 when nothing fits.
    kv_cache_capacity_gib: float = 0.0
    kv_cache_tokens: int = 0
    max_concurrency: float = 0.0
    # YaRN the engine applies (rope_type, factor, original_max_position_embeddings, max_position_embeddings,
    # rope_theta), None: the model's own RoPE.
    rope_scaling: dict[str, Any] | None = None

    @property
    def reasons(self) -> list[str]:
        """The sentences: what every surface shows."""
        return [reason.text for reason in self.refusals]

    @property
    def reason_kinds(self) -> list[str]:
        """The kind of each reason, in the same order."""
        return [str(reason.kind) for reason in self.refusals]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; `reasons` stays a list of sentences, `reason_kinds` follows it."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "refusals":
                out["reasons"] = self.reasons
                out["reason_kinds"] = self.reason_kinds
            else:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        data = dict(data)
        data["memory_per_gpu_gib"] = MemoryBreakdown(**data["memory_per_gpu_gib"])
        data["suggestions"] = [Suggestion(**s) for s in data.get("suggestions", [])]
        texts = data.pop("reasons", [])
        kinds = data.pop("reason_kinds", None) or [ReasonKind.UNKNOWN] * len(texts)
        data["refusals"] = [Reason(ReasonKind(kind), text) for kind, text in zip(kinds, texts, strict=True)]
        return cls(**data)
