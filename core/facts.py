"""Model facts: everything the fit check needs to know about a model, independent of where it came from.

`ModelFacts` is built from a config.json dict (plus, when known, per-dtype parameter counts from the
checkpoint's safetensors metadata) by `facts_from_config`. Fetching those inputs from the Hub or a
local directory is `core.hub`'s job; this module does no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class QuantizationInfo:
    """A pre-quantized checkpoint, from config.json's `quantization_config`."""

    method: str  # normalised: fp8, awq, gptq, compressed-tensors, mxfp4, bitsandbytes, nvfp4/modelopt, ...
    bits: int | None = None  # weight bits (4 for awq/gptq int4, 8 for fp8)
    weight_block_size: tuple[int, int] | None = None  # fp8 block quantization, e.g. (128, 128)
    min_compute_capability: float | None = None  # filled by the fit check from engine facts, if useful
    group_size: int | None = None  # awq/gptq/int4 group size: TP must keep whole groups per rank
    weight_type: str | None = None  # compressed-tensors: "float" (FP8/FP4) or "int" (INT8/INT4) weights


@dataclass(frozen=True)
class MoEInfo:
    """Mixture-of-experts fields, normalised across families (Mixtral, Qwen, DeepSeek, gpt-oss, ...)."""

    num_experts: int  # routed experts
    experts_per_token: int
    num_shared_experts: int = 0
    moe_intermediate_size: int | None = None
    num_moe_layers: int | None = None  # layers that hold experts (None: every layer)
    shared_expert_intermediate_size: int | None = None  # total width of the shared expert(s)
    expert_params: int = 0  # logical parameters inside routed experts (EP shards these)


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
    embedding_params: int = 0  # embed_tokens + lm_head (once when tied): kept 16-bit by most quantizers
    tie_word_embeddings: bool = False
    num_mtp_layers: int = 0  # multi-token-prediction layers shipped in the checkpoint, not loaded by default
    mtp_bytes: int = 0  # bytes of those layers (already excluded from weight_bytes)
    # config.json `model_max_length` when it is longer than max_position_embeddings (Command-R: 8192 vs
    # 131072): both engines default to the shorter one but accept an explicit context up to this one.
    model_max_length: int | None = None
    rope_theta: float | None = None  # config.json rope_theta (or rope_parameters.rope_theta), when stated
    rope_scaling_type: str | None = None  # the config's own rope scaling (yarn, llama3, longrope, ...)
    # YaRN rope scaling the vendor documents beyond the native context (Qwen2.5, Qwen3, QwQ): the
    # original length the factor multiplies, and the longest context documented. None: not documented.
    yarn_original_context: int | None = None
    yarn_max_context: int | None = None

    @property
    def max_context_allowed(self) -> int:
        """The longest context the engines accept when it is asked for explicitly."""
        return max(self.max_position_embeddings, self.model_max_length or 0)

    @property
    def num_full_attention_layers(self) -> int:
        """Layers whose KV cache grows with the context."""
        return self.num_layers - self.num_sliding_layers - self.num_kv_free_layers

    @property
    def is_moe(self) -> bool:
        return self.moe is not None


# --- Building facts from config.json ------------------------------------------------------------

# Bytes per stored element, by safetensors dtype name.
DTYPE_BYTES: dict[str, float] = {
    "F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1, "BOOL": 1, "F4": 0.5, "F6_E2M3": 0.75,
    "F6_E3M2": 0.75,
}  # fmt: skip

# Nested sub-configs that hold the language model of a multimodal wrapper.
_TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config", "thinker_config")

# Architectures vLLM and SGLang implement themselves: `auto_map` in such a config does not mean the
# engine must run the repo's code.
BUILTIN_ARCHITECTURES = frozenset(
    {
        "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM", "Qwen2ForCausalLM",
        "Qwen2MoeForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "Qwen3NextForCausalLM",
        "Qwen2VLForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration",
        "Qwen3VLForConditionalGeneration", "Qwen3VLMoeForConditionalGeneration", "GemmaForCausalLM",
        "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration", "Phi3ForCausalLM",
        "PhiMoEForCausalLM", "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM", "GptOssForCausalLM",
        "Llama4ForConditionalGeneration", "Llama4ForCausalLM", "LlavaForConditionalGeneration",
        "LlavaNextForConditionalGeneration", "Mistral3ForConditionalGeneration", "Glm4MoeForCausalLM",
        "Glm4ForCausalLM", "GlmForCausalLM", "JambaForCausalLM", "FalconForCausalLM",
        "Starcoder2ForCausalLM", "GPTBigCodeForCausalLM", "CohereForCausalLM", "Cohere2ForCausalLM",
        "GraniteForCausalLM", "GraniteMoeForCausalLM", "GraniteMoeHybridForCausalLM", "OlmoForCausalLM",
        "Olmo2ForCausalLM", "OlmoeForCausalLM", "ExaoneForCausalLM", "InternLM2ForCausalLM",
        "NemotronHForCausalLM", "MiniCPMForCausalLM", "Ernie4_5_MoeForCausalLM", "SeedOssForCausalLM",
        "PixtralForConditionalGeneration", "MllamaForConditionalGeneration",
    }
)  # fmt: skip


_UNGATED_MLP = frozenset(
    {"gpt2", "gpt_neox", "gpt_bigcode", "falcon", "phi", "opt", "bloom", "starcoder2", "gptj"}
)


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    """The first key present with a non-None value (config families spell the same thing differently)."""
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return default


def text_config_of(config: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The language model's config and whether the model is a multimodal wrapper.

    Wrapper-level keys the text config lacks (quantization_config, torch_dtype, auto_map, ...) are kept.
    """
    for key in _TEXT_CONFIG_KEYS:
        inner = config.get(key)
        if isinstance(inner, dict) and (inner.get("num_hidden_layers") or inner.get("hidden_size")):
            if key == "thinker_config":  # Qwen-Omni nests text_config inside thinker_config
                inner = inner.get("text_config", inner)
            merged = {k: v for k, v in config.items() if k not in _TEXT_CONFIG_KEYS}
            merged.pop("model_type", None)
            merged.update(inner)
            return merged, True
    multimodal = isinstance(config.get("vision_config"), dict) or isinstance(config.get("audio_config"), dict)
    return dict(config), multimodal


def normalise_quantization(qc: dict[str, Any] | None) -> QuantizationInfo | None:
    """config.json `quantization_config` -> QuantizationInfo with a normalised method name."""
    if not isinstance(qc, dict) or not qc:
        return None
    method = str(_first(qc, "quant_method", "quantization_method", default="")).lower().replace("-", "_")
    algo = str(qc.get("quant_algo") or "").upper()  # ModelOpt (hf_quant_config.json style)
    block = qc.get("weight_block_size")
    block_size = (
        (int(block[0]), int(block[1])) if isinstance(block, list | tuple) and len(block) == 2 else None
    )
    bits = qc.get("bits") or qc.get("w_bit") or qc.get("weight_bits")
    if method in {"fp8", "fbgemm_fp8", "ptpc_fp8"}:
        return QuantizationInfo("fp8", 8, block_size)
    group = qc.get("group_size") or qc.get("q_group_size")
    group = int(group) if isinstance(group, int) and group > 0 else None
    if method in {"awq", "awq_marlin"}:
        return QuantizationInfo("awq", int(bits or 4), group_size=group)
    if method in {"gptq", "gptq_marlin"}:
        return QuantizationInfo("gptq", int(bits or 4), group_size=group)
    if method == "mxfp4":
        return QuantizationInfo("mxfp4", 4)
    if method == "bitsandbytes":
        return QuantizationInfo("bitsandbytes", 8 if qc.get("load_in_8bit") else 4)
    if method in {"modelopt", "modelopt_fp4", "nvfp4"} or algo:
        if "FP4" in algo or method in {"modelopt_fp4", "nvfp4"}:
            return QuantizationInfo("nvfp4", 4)
        return QuantizationInfo("modelopt", 8)
    if method == "compressed_tensors":
        bits_seen, block_seen, nvfp4 = [], None, False
        types_seen: set[str] = set()
        for group in (qc.get("config_groups") or {}).values():
            weights = (group or {}).get("weights") or {}
            if weights.get("num_bits"):
                bits_seen.append(int(weights["num_bits"]))
            if weights.get("type") in {"float", "int"}:
                types_seen.add(str(weights["type"]))
            if weights.get("block_structure"):
                bs = weights["block_structure"]
                block_seen = (int(bs[0]), int(bs[1])) if len(bs) == 2 else None
            if weights.get("num_bits") == 4 and weights.get("type") == "float":
                nvfp4 = True
        if nvfp4:
            return QuantizationInfo("nvfp4", 4)
        weight_type = types_seen.pop() if len(types_seen) == 1 else None
        return QuantizationInfo(
            "compressed-tensors", min(bits_seen) if bits_seen else 8, block_seen, weight_type=weight_type
        )
    if method == "quark":
        return QuantizationInfo("quark", 8)
    return QuantizationInfo(method or "unknown", int(bits) if bits else None, block_size)


def _moe_info(t: dict[str, Any], num_layers: int) -> MoEInfo | None:
    """Expert fields of every family, normalised. None for dense models."""
    experts = _first(t, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
    if isinstance(experts, list):  # ERNIE may give a per-modality list
        experts = experts[0]
    if not experts or int(experts) <= 1:
        return None
    experts = int(experts)
    top_k = int(_first(t, "num_experts_per_tok", "experts_per_token", "moe_k", "moe_top_k", default=2))
    shared = int(_first(t, "n_shared_experts", "num_shared_experts", "moe_num_shared_experts", default=0))
    moe_inter = _first(t, "moe_intermediate_size", "expert_intermediate_size")
    if moe_inter is None:
        moe_inter = t.get("intermediate_size")  # Mixtral, gpt-oss, Llama-4: experts use intermediate_size
    shared_inter = t.get("shared_expert_intermediate_size")
    if t.get("model_type") in {"llama4", "llama4_text"}:
        shared, shared_inter = 1, t.get("intermediate_size")
    if shared and not shared_inter and moe_inter:
        shared_inter = shared * int(moe_inter)
    if shared_inter and not shared:
        shared = 1
    # Which layers are MoE.
    dense_first = int(_first(t, "first_k_dense_replace", default=0))
    step = int(
        _first(t, "interleave_moe_layer_step", "decoder_sparse_step", "moe_layer_freq", default=1) or 1
    )
    mlp_only = set(t.get("mlp_only_layers") or [])
    if t.get("expert_layer_period"):  # Jamba: layer i is MoE when i % period == offset
        period, offset = int(t["expert_layer_period"]), int(t.get("expert_layer_offset", 1))
        moe_layers = len([i for i in range(num_layers) if i % period == offset])
    else:
        moe_layers = len(
            [i for i in range(dense_first, num_layers) if (i + 1) % step == 0 and i not in mlp_only]
        )
    return MoEInfo(
        num_experts=experts,
        experts_per_token=top_k,
        num_shared_experts=shared,
        moe_intermediate_size=int(moe_inter) if moe_inter else None,
        num_moe_layers=moe_layers,
        shared_expert_intermediate_size=int(shared_inter) if shared_inter else None,
    )


def _layer_kinds(t: dict[str, Any], num_layers: int) -> tuple[int | None, int, int]:
    """(sliding window, layers holding only the window, layers holding no growing KV)."""
    window = t.get("sliding_window")
    if t.get("use_sliding_window") is False:  # Qwen2/2.5/3 ship a window they do not use
        window = None
    layer_types = t.get("layer_types")
    kv_free_names = {"linear_attention", "mamba", "mamba2", "conv", "recurrent", "ssm"}
    if isinstance(layer_types, list) and layer_types:
        sliding = sum(1 for kind in layer_types if kind in {"sliding_attention", "chunked_attention"})
        kv_free = sum(1 for kind in layer_types if kind in kv_free_names)
        return (int(window) if window else None) if sliding else None, sliding, kv_free
    # Qwen3-Next: one full-attention layer every `full_attention_interval`, the rest linear attention.
    if t.get("full_attention_interval"):
        full = num_layers // int(t["full_attention_interval"])
        return None, 0, num_layers - full
    # Jamba: one attention layer per `attn_layer_period`.
    if t.get("attn_layer_period"):
        period, offset = int(t["attn_layer_period"]), int(t.get("attn_layer_offset", 0))
        attn = len([i for i in range(num_layers) if i % period == offset])
        return None, 0, num_layers - attn
    # Nemotron-H: "M-M*-..." (M mamba, * attention, - MLP only).
    if isinstance(t.get("hybrid_override_pattern"), str):
        pattern = t["hybrid_override_pattern"]
        return None, 0, num_layers - pattern.count("*")
    if isinstance(t.get("layers_block_type"), list):
        kinds = t["layers_block_type"]
        return None, 0, sum(1 for kind in kinds if kind != "attention")
    # Llama-4: chunked local attention on every layer but each `no_rope_layer_interval`-th.
    if t.get("attention_chunk_size"):
        no_rope = t.get("no_rope_layers")
        if isinstance(no_rope, list) and len(no_rope) == num_layers:
            chunked = sum(1 for flag in no_rope if flag)
        else:
            chunked = num_layers - num_layers // int(t.get("no_rope_layer_interval", 4))
        return int(t["attention_chunk_size"]), chunked, 0
    if not window:
        return None, 0, 0
    # Gemma-2 alternates local/global; Gemma-3 has `sliding_window_pattern` (N-1 local of N).
    pattern = t.get("sliding_window_pattern")
    if pattern:
        pattern = int(pattern)
        sliding = len([i for i in range(num_layers) if (i + 1) % pattern != 0])
        return int(window), sliding, 0
    if t.get("model_type") in {"gemma2", "cohere2"}:
        return int(window), num_layers // 2, 0
    return int(window), num_layers, 0  # Mistral-7B-v0.1, Phi-3: every layer slides


def derived_max_context(t: dict[str, Any]) -> int:
    """The model's maximum context as vLLM derives it (max_position_embeddings and friends, rope scaling)."""
    keys = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length",
            "max_seq_length", "seq_len", "model_max_length")  # fmt: skip
    found = [int(t[k]) for k in keys if isinstance(t.get(k), int | float) and t[k] > 0]
    derived = min(found) if found else 2048
    scaling = t.get("rope_scaling") or t.get("rope_parameters")
    if isinstance(scaling, dict) and "gemma3" not in str(t.get("model_type", "")):
        kind = scaling.get("rope_type") or scaling.get("type")
        factor = scaling.get("factor")
        # llama3/longrope/su already state the extended length in max_position_embeddings.
        if kind not in {None, "default", "su", "longrope", "llama3", "mrope"} and factor:
            if kind == "yarn" and scaling.get("original_max_position_embeddings"):
                derived = int(scaling["original_max_position_embeddings"])
            derived = int(derived * float(factor))
    return derived


# YaRN the vendors document for models whose config has no rope scaling of its own: model_type ->
# (smallest model it is documented for, original length, longest documented context).
# Qwen2/Qwen2.5 model cards (7B and larger; 0.5B-3B stop at 32,768), QwQ-32B's card, Qwen3 model cards
# (4B and larger, dense and MoE): "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
# "original_max_position_embeddings": 32768}, i.e. 131,072 tokens. Qwen3's config says 40,960 positions,
# but the factor multiplies 32,768 (Qwen3 docs); the 2507 updates (262,144 native) document no YaRN.
_DOCUMENTED_YARN: dict[str, tuple[float, int, int]] = {
    "qwen2": (7e9, 32768, 131072),
    "qwen3": (3.5e9, 32768, 131072),
    "qwen3_moe": (0.0, 32768, 131072),
}


def _rope_facts(t: dict[str, Any]) -> tuple[float | None, str | None]:
    """(rope_theta, the config's own rope scaling type) from rope_theta / rope_scaling / rope_parameters."""
    scaling = t.get("rope_scaling") or t.get("rope_parameters")
    theta = t.get("rope_theta")
    kind = None
    if isinstance(scaling, dict):
        theta = theta if theta is not None else scaling.get("rope_theta")
        kind = scaling.get("rope_type") or scaling.get("type")
        kind = None if kind in (None, "default") else str(kind)
    return (float(theta) if isinstance(theta, int | float) else None), kind


def documented_yarn(
    t: dict[str, Any], *, native: int, params: int, config_scaling: str | None
) -> tuple[int | None, int | None]:
    """(original length, longest context) of the YaRN scaling the vendor documents; (None, None) if none."""
    if config_scaling is not None:
        return None, None  # the config scales RoPE already; its derived maximum is the documented one
    known = _DOCUMENTED_YARN.get(str(t.get("model_type")))
    if known is None:
        return None, None
    min_params, original, longest = known
    if params < min_params or not original <= native <= 40960:
        return None, None
    return original, longest


def _attention_params(t: dict[str, Any], hidden: int, heads: int, kv_heads: int, head_dim: int) -> int:
    if t.get("kv_lora_rank"):  # MLA
        rope = int(t.get("qk_rope_head_dim", 64))
        nope = int(t.get("qk_nope_head_dim", 128))
        v_dim = int(t.get("v_head_dim", 128))
        kv_lora = int(t["kv_lora_rank"])
        q_lora = t.get("q_lora_rank")
        q = (
            hidden * int(q_lora) + int(q_lora) * heads * (nope + rope)
            if q_lora
            else hidden * heads * (nope + rope)
        )
        kv = hidden * (kv_lora + rope) + kv_lora * heads * (nope + v_dim)
        return q + kv + heads * v_dim * hidden
    return hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2


def _vision_params(config: dict[str, Any]) -> int:
    """A rough size for a vision tower (transformer blocks only) when no checkpoint counts exist."""
    v = config.get("vision_config")
    if not isinstance(v, dict):
        return 0
    hidden = int(_first(v, "hidden_size", "embed_dim", "width", default=0) or 0)
    inter = int(_first(v, "intermediate_size", default=4 * hidden) or 4 * hidden)
    layers = int(_first(v, "num_hidden_layers", "depth", "layers", default=0) or 0)
    return layers * (4 * hidden * hidden + 2 * hidden * inter)


def estimate_params(t: dict[str, Any], *, num_layers: int, hidden: int, heads: int, kv_heads: int,
                    head_dim: int, vocab: int, moe: MoEInfo | None, tied: bool) -> tuple[int, int, int]:  # fmt: skip
    """(total, expert, embedding) logical parameters from the config's dimensions."""
    attn = _attention_params(t, hidden, heads, kv_heads, head_dim)
    inter = int(
        _first(t, "intermediate_size_mlp", "intermediate_size", "ffn_hidden_size", default=4 * hidden)
    )
    # Gated MLPs (gate, up, down) in every modern family; two matrices in the GPT-2/NeoX/Falcon lineage.
    dense_mlp = (2 if t.get("model_type") in _UNGATED_MLP else 3) * hidden * inter
    expert = 0
    if moe:
        moe_layers = moe.num_moe_layers if moe.num_moe_layers is not None else num_layers
        moe_inter = moe.moe_intermediate_size or inter
        expert = moe_layers * moe.num_experts * 3 * hidden * moe_inter
        shared = moe_layers * 3 * hidden * (moe.shared_expert_intermediate_size or 0)
        router = moe_layers * hidden * moe.num_experts
        mlp = expert + shared + router + (num_layers - moe_layers) * dense_mlp
    else:
        mlp = num_layers * dense_mlp
    embedding = vocab * hidden * (1 if tied else 2)
    norms = num_layers * 2 * hidden
    return num_layers * attn + mlp + embedding + norms, expert, embedding


def _mtp_params(t: dict[str, Any], total: int, embedding: int, num_layers: int) -> tuple[int, int]:
    """(MTP layers in the checkpoint, their parameters): DeepSeek-V3/R1, GLM-4.5 ship extra layers."""
    mtp = int(_first(t, "num_nextn_predict_layers", default=0) or 0)
    if not mtp:
        return 0, 0
    per_layer = (total - embedding) // max(1, num_layers)
    return mtp, mtp * per_layer


# MXFP4 stores each block of 32 values as 16 bytes of e2m1 pairs (`*_blocks`, U8) plus one E8M0 scale
# byte (`*_scales`, U8): 17 bytes per 32 values. Safetensors headers count those bytes. The Hub's
# `safetensors.parameters` counts two parameters per `*_blocks` byte (that is how gpt-oss-120b's card
# shows 120B), so there the same tensors weigh 33 per 32 values.
_MXFP4_HEADER_U8_PER_VALUE = 17 / 32
_MXFP4_HUB_U8_PER_VALUE = 33 / 32


def mxfp4_u8_values(u8_count: int, expert_params: int) -> tuple[int, int]:
    """(logical values, stored bytes) behind an MXFP4 checkpoint's U8 count, whichever source counted it.

    The two conventions differ by almost 2x, so the config's own expert size tells them apart: a U8
    count near 17/32 of the experts' values is bytes (safetensors headers, a local snapshot), one near
    33/32 is the Hub's count. Without expert dimensions, bytes are assumed (the header convention).
    """
    midpoint = (_MXFP4_HEADER_U8_PER_VALUE + _MXFP4_HUB_U8_PER_VALUE) / 2
    if expert_params and u8_count > midpoint * expert_params:
        values = round(u8_count / _MXFP4_HUB_U8_PER_VALUE)
    else:
        values = round(u8_count / _MXFP4_HEADER_U8_PER_VALUE)
    return values, round(values * _MXFP4_HEADER_U8_PER_VALUE)


def _logical_params(
    dtype_params: dict[str, int], q: QuantizationInfo | None, *, expert_params: int = 0
) -> int:
    """Stored element counts -> logical parameters (packed int4 / fp4 elements hold several values)."""
    total = 0
    for dtype, count in dtype_params.items():
        dtype = dtype.upper()
        if q and dtype in {"I32", "U32"} and q.method in {"awq", "gptq", "compressed-tensors"} and q.bits:
            total += count * (32 // q.bits)
        elif q and dtype == "U8" and q.method == "mxfp4":
            total += mxfp4_u8_values(count, expert_params)[0]
        elif q and dtype == "U8" and q.method in {"nvfp4", "bitsandbytes"}:
            total += count * 2
        elif q and q.method == "nvfp4" and dtype.startswith("F8"):
            continue  # per-16 block scales, not parameters
        else:
            total += count
    return total


def _stored_bytes(dtype_params: dict[str, int], q: QuantizationInfo | None, *, expert_params: int = 0) -> int:
    """Bytes on disk: each dtype's count times its size (an MXFP4 U8 count read in either convention)."""
    total = 0.0
    for dtype, count in dtype_params.items():
        if q and q.method == "mxfp4" and dtype.upper() == "U8":
            total += mxfp4_u8_values(count, expert_params)[1]
        else:
            total += count * DTYPE_BYTES.get(dtype.upper(), 2)
    return int(total)


def _quantized_bytes(q: QuantizationInfo, *, total: int, expert: int, embedding: int) -> int:
    """Bytes of a pre-quantized checkpoint estimated from logical counts (no safetensors metadata)."""
    bits = q.bits or 8
    if q.method == "mxfp4":
        return int(expert * 4.25 / 8 + (total - expert) * 2)  # only experts are quantized
    if bits >= 8:
        per_param = 1.0 + (0.0 if q.weight_block_size else 0.002)
    elif q.method == "nvfp4":
        per_param = 0.5625  # e2m1 + one fp8 scale per 16 values
    else:
        per_param = bits / 8 + 2 / 128 + 0.5 / 128  # int4 + fp16 scale and packed zero per group of 128
    return int((total - embedding) * per_param + embedding * 2)


def _mxfp4_padding(t: dict[str, Any]) -> float:
    """vLLM pads MXFP4 expert weights' hidden dimension to a multiple of 256 when it loads them.

    Calibrated on measured loads: gpt-oss-20b 13.47 GiB, gpt-oss-120b 64.38 GiB (hidden 2880 -> 3072).
    """
    hidden = int(t.get("hidden_size", 0) or 0)
    if not hidden:
        return 1.0
    return (-(-hidden // 256) * 256) / hidden


@dataclass(frozen=True)
class _Dimensions:
    """The transformer's shape as config.json states it (under whichever of the usual key names)."""

    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int


def _dimensions(t: dict[str, Any], model_id: str) -> _Dimensions:
    num_layers = int(_first(t, "num_hidden_layers", "n_layer", "num_layers", "n_layers", default=0) or 0)
    hidden = int(_first(t, "hidden_size", "n_embd", "d_model", "dim", default=0) or 0)
    heads = int(_first(t, "num_attention_heads", "n_head", "num_heads", "n_heads", default=0) or 0)
    if not (num_layers and hidden and heads):
        missing = [n for n, v in (("num_hidden_layers", num_layers), ("hidden_size", hidden),
                                  ("num_attention_heads", heads)) if not v]  # fmt: skip
        raise ValueError(f"config.json of {model_id} has no {', '.join(missing)}: is it a language model?")
    kv_heads = int(_first(t, "num_key_value_heads", "num_kv_heads", "n_head_kv", default=heads))
    if t.get("multi_query"):
        kv_heads = 1
    head_dim = int(_first(t, "head_dim", "attention_head_dim", default=hidden // heads) or hidden // heads)
    vocab = int(_first(t, "vocab_size", "padded_vocab_size", "n_vocab", default=32000))
    return _Dimensions(num_layers, hidden, heads, kv_heads, head_dim, vocab)


@dataclass(frozen=True)
class _Identity:
    """What the model is: its type and architecture, its dtype, whether its embeddings are tied."""

    model_type: str
    architecture: str | None
    torch_dtype: str
    tie_word_embeddings: bool


def _identity(config: dict[str, Any], t: dict[str, Any]) -> _Identity:
    model_type = str(t.get("model_type") or config.get("model_type") or "unknown")
    tied_default = model_type.startswith("gemma")
    tied = bool(
        _first(t, "tie_word_embeddings", default=_first(config, "tie_word_embeddings", default=tied_default))
    )
    archs = config.get("architectures") or t.get("architectures") or []
    torch_dtype = str(
        _first(t, "torch_dtype", "dtype", default=_first(config, "torch_dtype", "dtype", default="bfloat16"))
    )
    return _Identity(model_type, archs[0] if archs else None, torch_dtype.replace("torch.", ""), tied)


@dataclass(frozen=True)
class _Context:
    """How long a context the model serves, and which layers keep only a window of it."""

    max_position_embeddings: int  # the derived maximum context
    model_max_length: int | None  # an explicit context may reach this (beyond the maximum)
    sliding_window: int | None
    num_sliding_layers: int
    num_kv_free_layers: int


def _context_of(t: dict[str, Any], num_layers: int) -> _Context:
    window, sliding, kv_free = _layer_kinds(t, num_layers)
    max_context = derived_max_context(t)
    # vLLM (`_get_and_verify_max_len`) and SGLang (`get_context_length`) both let an explicit context
    # reach `model_max_length` when the config states one beyond the derived maximum.
    long_max = t.get("model_max_length")
    model_max_length = (
        int(long_max) if isinstance(long_max, int) and max_context < long_max <= 16 * 1024 * 1024 else None
    )
    if window and window >= max_context:
        window, sliding = None, 0  # a window as long as the context is no window at all
    return _Context(max_context, model_max_length, window, sliding if window else 0, kv_free)


@dataclass(frozen=True)
class _Estimate:
    """Parameter counts estimated from the config's dimensions."""

    total: int
    expert: int
    embedding: int
    mtp_layers: int
    mtp: int  # parameters of the MTP layers (in the checkpoint, loaded only for MTP drafting)


@dataclass(frozen=True)
class _Weights:
    """What the engine loads: parameters, bytes, and the bytes of MTP layers it skips by default."""

    param_source: str  # "safetensors" (the Hub's per-dtype counts) or "config" (estimated)
    param_count: int
    weight_bytes: int
    mtp_bytes: int


def _weights_from_counts(
    counts: dict[str, int], quant: QuantizationInfo | None, t: dict[str, Any], est: _Estimate
) -> _Weights:
    logical = _logical_params(counts, quant, expert_params=est.expert)
    stored = _stored_bytes(counts, quant, expert_params=est.expert)
    weight_bytes = stored if quant else logical * 2  # unquantized: auto dtype loads 16-bit
    if quant and quant.method == "mxfp4":
        u8_bytes = mxfp4_u8_values(counts.get("U8", 0), est.expert)[1]
        weight_bytes += int(u8_bytes * (_mxfp4_padding(t) - 1.0))
    # MTP layers are in the checkpoint counts but the engine skips them unless asked for MTP.
    mtp_fraction = est.mtp / logical if est.mtp and logical > est.total * 0.99 else 0.0
    mtp_bytes = int(weight_bytes * mtp_fraction)
    return _Weights(
        "safetensors", int(logical - int(logical * mtp_fraction)), int(weight_bytes - mtp_bytes), mtp_bytes
    )


def _weights_from_config(quant: QuantizationInfo | None, t: dict[str, Any], est: _Estimate) -> _Weights:
    if quant:
        weight_bytes = _quantized_bytes(quant, total=est.total, expert=est.expert, embedding=est.embedding)
        if quant.method == "mxfp4":
            weight_bytes += int(est.expert * 4.25 / 8 * (_mxfp4_padding(t) - 1.0))
    else:
        weight_bytes = est.total * 2
    mtp_bytes = int(weight_bytes * est.mtp / max(1, est.total))
    return _Weights("config", int(est.total), int(weight_bytes), mtp_bytes)


def _estimate(
    config: dict[str, Any],
    t: dict[str, Any],
    dims: _Dimensions,
    moe: MoEInfo | None,
    *,
    tied: bool,
    multimodal: bool,
) -> _Estimate:
    total, expert, embedding = estimate_params(
        t, num_layers=dims.num_layers, hidden=dims.hidden_size, heads=dims.num_attention_heads,
        kv_heads=dims.num_kv_heads, head_dim=dims.head_dim, vocab=dims.vocab_size, moe=moe, tied=tied,
    )  # fmt: skip
    total += _vision_params(config) if multimodal else 0
    mtp_layers, mtp = _mtp_params(t, total, embedding, dims.num_layers)
    return _Estimate(total, expert, embedding, mtp_layers, mtp)


def _needs_remote_code(config: dict[str, Any], t: dict[str, Any], architecture: str | None) -> bool:
    """The engine has no implementation of the architecture, or the config class itself comes from the
    repo (AutoConfig in auto_map: Kimi-K2, DeepSeek-V3 repos)."""
    auto_map = config.get("auto_map") or t.get("auto_map")
    return bool(auto_map) and (architecture not in BUILTIN_ARCHITECTURES or "AutoConfig" in auto_map)


def facts_from_config(
    config: dict[str, Any],
    *,
    model_id: str,
    dtype_params: dict[str, int] | None = None,
    gated: bool = False,
    revision: str | None = None,
) -> ModelFacts:
    """Build `ModelFacts` from a config.json dict and, when known, safetensors per-dtype element counts.

    Raises ValueError when the config lacks the dimensions a language model must have.
    """
    t, multimodal = text_config_of(config)
    dims = _dimensions(t, model_id)
    who = _identity(config, t)
    quant = normalise_quantization(
        _first(config, "quantization_config", "compression_config") or t.get("quantization_config")
    )
    moe = _moe_info(t, dims.num_layers)
    mla = (
        MLAInfo(kv_lora_rank=int(t["kv_lora_rank"]), qk_rope_head_dim=int(t.get("qk_rope_head_dim", 64)))
        if t.get("kv_lora_rank")
        else None
    )
    ctx = _context_of(t, dims.num_layers)
    est = _estimate(config, t, dims, moe, tied=who.tie_word_embeddings, multimodal=multimodal)
    counts = {k.upper(): int(v) for k, v in (dtype_params or {}).items() if v}
    weights = _weights_from_counts(counts, quant, t, est) if counts else _weights_from_config(quant, t, est)
    if moe:
        moe = MoEInfo(**{**moe.__dict__, "expert_params": est.expert})
    rope_theta, rope_scaling_type = _rope_facts(t)
    yarn_original, yarn_max = documented_yarn(
        t, native=ctx.max_position_embeddings, params=weights.param_count, config_scaling=rope_scaling_type
    )
    return ModelFacts(
        model_id=model_id,
        **asdict(dims),
        **asdict(who),
        **asdict(ctx),
        **asdict(weights),
        intermediate_size=int(t["intermediate_size"]) if t.get("intermediate_size") else None,
        dtype_params=counts,
        quantization=quant,
        moe=moe,
        mla=mla,
        is_multimodal=multimodal,
        needs_trust_remote_code=_needs_remote_code(config, t, who.architecture),
        gated=gated,
        revision=revision,
        embedding_params=est.embedding,
        num_mtp_layers=est.mtp_layers,
        rope_theta=rope_theta,
        rope_scaling_type=rope_scaling_type,
        yarn_original_context=yarn_original,
        yarn_max_context=yarn_max,
    )
