"""Model facts: everything the fit check needs to know about a model, independent of where it came from.

`ModelFacts` is built from a config.json dict (plus, when known, per-dtype parameter counts from the
checkpoint's safetensors metadata) by `facts_from_config`. Fetching those inputs from the Hub or a
local directory is `core.hub`'s job; this module does no I/O.

CONTRACT (shared by core.hub, core.fit, core.engines): fields may be added with defaults; existing
names and meanings stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class QuantizationInfo:
    """A pre-quantized checkpoint, from config.json's `quantization_config`."""

    method: str  # normalised: fp8, awq, gptq, compressed-tensors, mxfp4, bitsandbytes, nvfp4/modelopt, ...
    bits: int | None = None  # weight bits (4 for awq/gptq int4, 8 for fp8)
    weight_block_size: tuple[int, int] | None = None  # fp8 block quantization, e.g. (128, 128)
    min_compute_capability: float | None = None  # filled by the fit check from engine facts, if useful


@dataclass(frozen=True)
class MoEInfo:
    """Mixture-of-experts fields, normalised across families (Mixtral, Qwen, DeepSeek, gpt-oss, ...)."""

    num_experts: int  # routed experts
    experts_per_token: int
    num_shared_experts: int = 0
    moe_intermediate_size: int | None = None


@dataclass(frozen=True)
class MLAInfo:
    """Multi-head latent attention (DeepSeek V2/V3/R1, Kimi K2): one latent KV head, not split by TP."""

    kv_lora_rank: int
    qk_rope_head_dim: int


@dataclass(frozen=True)
class ModelFacts:
    """What the fit check knows about one model."""

    model_id: str  # repo id or local path as the user typed it
    model_type: str  # config.json model_type (of text_config for multimodal wrappers)
    architecture: str | None
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int  # from config when present, else hidden_size // num_attention_heads
    vocab_size: int
    max_position_embeddings: int  # the model's maximum context
    torch_dtype: str  # "bfloat16", "float16", "float32" as declared
    param_count: int  # logical parameters
    weight_bytes: int  # bytes of weights as the engine loads them (after checkpoint quantization)
    param_source: str  # "safetensors" (per-dtype counts) or "config" (estimated from dimensions)
    intermediate_size: int | None = None
    dtype_params: dict[str, int] = field(default_factory=dict)  # safetensors per-dtype stored elements
    quantization: QuantizationInfo | None = None
    moe: MoEInfo | None = None
    mla: MLAInfo | None = None
    sliding_window: int | None = None
    num_sliding_layers: int = 0  # layers whose KV only holds the window
    num_kv_free_layers: int = 0  # layers with no growing KV cache (linear attention / mamba / SSM)
    is_multimodal: bool = False
    needs_trust_remote_code: bool = False  # config has auto_map and no built-in architecture
    gated: bool = False
    revision: str | None = None  # Hub commit sha when known

    @property
    def num_full_attention_layers(self) -> int:
        """Layers whose KV cache grows with the context."""
        return self.num_layers - self.num_sliding_layers - self.num_kv_free_layers

    @property
    def is_moe(self) -> bool:
        return self.moe is not None
