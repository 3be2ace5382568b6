"""What each engine accepts: dtypes, quantization methods, KV-cache dtypes, speculative methods.

The tables are read from the released engines' source (vLLM 0.33 `vllm/config/cache.py`,
`vllm/model_executor/layers/quantization/`; SGLang 0.5.23 `python/sglang/srt/server_args.py`; see
/work/shared/reference/engines.md). They are what `engine_rejections` checks user options against, and
how the user's spelling becomes each engine's spelling.
"""

from __future__ import annotations

from typing import Final

ENGINES: Final = ("vllm", "sglang")

# `--dtype`: both engines take the same names.
DTYPES: Final = frozenset({"auto", "half", "float16", "bfloat16", "float", "float32"})

VLLM_QUANTIZATION: Final = frozenset(
    {
        "awq",
        "awq_marlin",
        "gptq",
        "gptq_marlin",
        "gptq_marlin_24",
        "fp8",
        "fp8_per_tensor",
        "fp8_per_block",
        "int8_per_channel_weight_only",
        "fbgemm_fp8",
        "ptpc_fp8",
        "compressed-tensors",
        "torchao",
        "mxfp4",
        "modelopt",
        "modelopt_fp4",
        "experts_int8",
        "moe_wna16",
        "quark",
        "auto-round",
    }
)
# Removed in vLLM 0.33 (engines.md): said separately because people still ask for them.
VLLM_REMOVED_QUANTIZATION: Final = frozenset({"bitsandbytes", "gguf"})

SGLANG_QUANTIZATION: Final = frozenset(
    {
        "awq",
        "awq_marlin",
        "gptq",
        "gptq_marlin",
        "marlin",
        "fp8",
        "mxfp8",
        "bitsandbytes",
        "gguf",
        "modelopt",
        "modelopt_fp8",
        "modelopt_fp4",
        "w8a8_int8",
        "w8a8_fp8",
        "moe_wna16",
        "w4afp8",
        "mxfp4",
        "auto-round",
        "compressed-tensors",
        "quark",
    }
)

# `--kv-cache-dtype`.
VLLM_KV_CACHE_DTYPES: Final = frozenset(
    {"auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla"}
)
SGLANG_KV_CACHE_DTYPES: Final = frozenset(
    {"auto", "fp8_e4m3", "fp8_e5m2", "mxfp8", "bf16", "bfloat16", "nvfp4", "fp4_e2m1"}
)
# SGLang has no plain "fp8" KV dtype; vLLM's "fp8" means E4M3, so that is what SGLang gets.
SGLANG_KV_CACHE_ALIASES: Final = {"fp8": "fp8_e4m3"}

# Speculative decoding, in vLLM's vocabulary (the user's): method -> needs a draft model?
VLLM_SPECULATIVE_METHODS: Final = {
    "draft_model": True,
    "eagle": True,
    "eagle3": True,
    "medusa": True,
    "mlp_speculator": True,
    "mtp": False,  # the model's own multi-token-prediction layers
    "ngram": False,  # prompt look-up
    "suffix": False,
}
# SGLang's `--speculative-algorithm` for each method it supports (NEXTN is its name for MTP).
SGLANG_SPECULATIVE_ALGORITHMS: Final = {
    "draft_model": "STANDALONE",
    "standalone": "STANDALONE",
    "eagle": "EAGLE",
    "eagle3": "EAGLE3",
    "mtp": "NEXTN",
    "nextn": "NEXTN",
    "ngram": "NGRAM",
}
SGLANG_ALGORITHM_NEEDS_DRAFT: Final = {
    "STANDALONE": True,
    "EAGLE": True,
    "EAGLE3": True,
    "NEXTN": False,
    "NGRAM": False,
}

# Used when a draft model or method is given without a token count.
DEFAULT_SPECULATIVE_TOKENS: Final = 3

# Lowest NVIDIA compute capability each quantization runs on (engines.md; below it the engine stops
# with "The quantization method X is not supported for the current GPU").
VLLM_MIN_CAPABILITY: Final = {"fp8": 7.5, "fp8_per_tensor": 7.5, "fp8_per_block": 7.5, "awq": 7.5,
                              "awq_marlin": 7.5, "gptq": 6.0, "gptq_marlin": 7.5, "mxfp4": 8.0}  # fmt: skip
# SGLang: W8A8Fp8Config.get_min_capability() is 89 (no weight-only fallback for that method).
SGLANG_MIN_CAPABILITY: Final = {"fp8": 8.0, "w8a8_fp8": 8.9, "mxfp4": 8.0}
# Both engines run on Volta (7.0) and newer.
MIN_ENGINE_CAPABILITY: Final = 7.0
# bfloat16 needs Ampere (8.0); older GPUs run float16.
BF16_MIN_CAPABILITY: Final = 8.0
# FP8 methods need CDNA3 (MI300 family) or newer on AMD.
FP8_METHODS: Final = frozenset(
    {"fp8", "fp8_per_tensor", "fp8_per_block", "w8a8_fp8", "fbgemm_fp8", "ptpc_fp8", "modelopt_fp8"}
)
