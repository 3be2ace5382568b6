"""The words a user types, defined once: engines, dtypes, quantizations, KV-cache dtypes, RoPE scaling,
model references and endpoint names.

The chat parser (bot/commands.py), the CLI, the service's validation (core/endpoints/service.py), the
engines' rules (core/engines/rules.py) and the Hub loader (core/hub/refs.py) all read these, so a value
one of them accepts is never refused by another as "not a ...". This module imports nothing of the
project but its errors: the model-reference checks built on its patterns live in core/hub/refs.py
(`check_model`, `parse_model_ref`), which imports it, never the other way round. Engine tables come from the released
engines' source (vLLM 0.33 `vllm/config/cache.py`, `vllm/model_executor/layers/quantization/`; SGLang
0.5.23 `python/sglang/srt/server_args.py`; see /work/shared/reference/engines.md).
"""

from __future__ import annotations

import re
from typing import Final

from core.errors import InvalidRequest

# --- engines and their options -------------------------------------------------------------------

ENGINES: Final = ("vllm", "sglang")

# `--dtype`: both engines take the same names.
DTYPES: Final = frozenset({"auto", "half", "float16", "bfloat16", "float", "float32"})
# Short spellings people type, mapped to the names the engines print.
DTYPE_SPELLINGS: Final = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float": "float32",
}

VLLM_QUANTIZATION: Final = frozenset(
    {
        "awq", "awq_marlin", "gptq", "gptq_marlin", "gptq_marlin_24", "fp8", "fp8_per_tensor",
        "fp8_per_block", "int8_per_channel_weight_only", "fbgemm_fp8", "ptpc_fp8", "compressed-tensors",
        "torchao", "mxfp4", "modelopt", "modelopt_fp4", "experts_int8", "moe_wna16", "quark", "auto-round",
    }
)  # fmt: skip
# Removed in vLLM 0.33 (engines.md): said separately because people still ask for them.
VLLM_REMOVED_QUANTIZATION: Final = frozenset({"bitsandbytes", "gguf"})
SGLANG_QUANTIZATION: Final = frozenset(
    {
        "awq", "awq_marlin", "gptq", "gptq_marlin", "marlin", "fp8", "mxfp8", "bitsandbytes", "gguf",
        "modelopt", "modelopt_fp8", "modelopt_fp4", "w8a8_int8", "w8a8_fp8", "moe_wna16", "w4afp8", "mxfp4",
        "auto-round", "compressed-tensors", "quark",
    }
)  # fmt: skip
QUANTIZATIONS: Final = {"vllm": VLLM_QUANTIZATION, "sglang": SGLANG_QUANTIZATION}

# `--kv-cache-dtype`.
VLLM_KV_CACHE_DTYPES: Final = frozenset(
    {"auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla"}
)
SGLANG_KV_CACHE_DTYPES: Final = frozenset(
    {"auto", "fp8_e4m3", "fp8_e5m2", "mxfp8", "bf16", "bfloat16", "nvfp4", "fp4_e2m1"}
)
# SGLang has no plain "fp8" KV dtype; vLLM's "fp8" means E4M3, so that is what SGLang gets.
SGLANG_KV_CACHE_ALIASES: Final = {"fp8": "fp8_e4m3"}
# What a user may write for each engine (SGLang's aliases included).
KV_CACHE_DTYPES: Final = {
    "vllm": VLLM_KV_CACHE_DTYPES,
    "sglang": SGLANG_KV_CACHE_DTYPES | frozenset(SGLANG_KV_CACHE_ALIASES),
}

# RoPE scaling a user may ask for beyond the model's native context (`rope=yarn`, `--rope yarn`).
ROPE_SCALINGS: Final = ("yarn",)


def all_quantizations() -> tuple[str, ...]:
    """Every `--quantization` either engine takes (which engine takes which is checked later)."""
    return tuple(sorted(VLLM_QUANTIZATION | SGLANG_QUANTIZATION))


def all_kv_cache_dtypes() -> tuple[str, ...]:
    """Every KV-cache dtype either engine takes."""
    return tuple(sorted(KV_CACHE_DTYPES["vllm"] | KV_CACHE_DTYPES["sglang"]))


# --- model references ----------------------------------------------------------------------------
# The Hub's own rules: one or two segments of letters, digits, `-`, `_`, `.`; no `--` or `..`;
# segments neither start nor end with `-` or `.`; at most 96 characters in all. A revision (`@main`,
# `@v1.0`, `@<commit>`) may follow. Local directories are written as paths.
REPO_SEGMENT: Final = r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?"
REPO_ID_RE: Final = re.compile(rf"(?:{REPO_SEGMENT}/)?{REPO_SEGMENT}")
REVISION_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")
COMMIT_SHA_RE: Final = re.compile(r"[0-9a-f]{40}")
MAX_REPO_ID_LENGTH: Final = 96
MAX_REVISION_LENGTH: Final = 128
LOCAL_MODEL_PREFIXES: Final = ("/", "./", "../", "~")
MODEL_FORMS: Final = (
    "write a Hub model as `org/name` (e.g. `Qwen/Qwen2.5-7B-Instruct`), optionally pinned as "
    "`org/name@revision`, or a local directory as `./dir` or `/abs/dir`"
)


def is_local_model(model: str) -> bool:
    """A local model directory rather than a Hub repo id."""
    return model.strip().startswith(LOCAL_MODEL_PREFIXES)


# --- endpoint names ------------------------------------------------------------------------------
# Names become part of a cluster name: lowercase letters, digits and single dashes, not at either end.
# A name may start with a digit (names derived from `org/7b-model`); the cluster name gets a letter.
NAME_MAX_LEN: Final = 40
ENDPOINT_NAME_RE: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def check_endpoint_name(name: str) -> str:
    """`name` if it is a usable endpoint name, else InvalidRequest saying what is wrong with it."""
    if not name or len(name) > NAME_MAX_LEN or not ENDPOINT_NAME_RE.fullmatch(name):
        raise InvalidRequest(
            f"`{name[:60]}` is not a usable endpoint name: use lowercase letters, digits and single dashes "
            f"(not at the start or end), at most {NAME_MAX_LEN} characters, e.g. `qwen-7b-test`."
        )
    return name
