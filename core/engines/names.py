"""What each engine accepts: speculative methods, minimum compute capabilities (and, from core.vocabulary,
dtypes, quantization methods and KV-cache dtypes).

The tables are read from the released engines' source (vLLM 0.33 `vllm/config/cache.py`,
`vllm/model_executor/layers/quantization/`; SGLang 0.5.23 `python/sglang/srt/server_args.py`; see
/work/shared/reference/engines.md). They are what `engine_rejections` checks user options against, and
how the user's spelling becomes each engine's spelling.
"""

from __future__ import annotations

from typing import Final

# The option vocabulary (engines, dtypes, quantizations, KV-cache dtypes) is defined once, in
# core.vocabulary; re-exported here for the engine rules and command builders.
from core.vocabulary import DTYPES as DTYPES
from core.vocabulary import ENGINES as ENGINES
from core.vocabulary import SGLANG_KV_CACHE_ALIASES as SGLANG_KV_CACHE_ALIASES
from core.vocabulary import SGLANG_KV_CACHE_DTYPES as SGLANG_KV_CACHE_DTYPES
from core.vocabulary import SGLANG_QUANTIZATION as SGLANG_QUANTIZATION
from core.vocabulary import VLLM_KV_CACHE_DTYPES as VLLM_KV_CACHE_DTYPES
from core.vocabulary import VLLM_QUANTIZATION as VLLM_QUANTIZATION
from core.vocabulary import VLLM_REMOVED_QUANTIZATION as VLLM_REMOVED_QUANTIZATION

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
