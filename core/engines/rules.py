"""Option combinations an engine would refuse, as sentences the fit check adds to its reasons.

`engine_rejections` looks only at what the user asked for (`FitOptions`, the served name); memory and
parallelism are the fit check's business. Each sentence says what is wrong and what to do instead.
"""

from __future__ import annotations

from core.engines.names import (
    BF16_MIN_CAPABILITY,
    DTYPES,
    ENGINES,
    FP8_METHODS,
    MIN_ENGINE_CAPABILITY,
    SGLANG_ALGORITHM_NEEDS_DRAFT,
    SGLANG_KV_CACHE_ALIASES,
    SGLANG_KV_CACHE_DTYPES,
    SGLANG_MIN_CAPABILITY,
    SGLANG_QUANTIZATION,
    SGLANG_SPECULATIVE_ALGORITHMS,
    VLLM_KV_CACHE_DTYPES,
    VLLM_MIN_CAPABILITY,
    VLLM_QUANTIZATION,
    VLLM_REMOVED_QUANTIZATION,
    VLLM_SPECULATIVE_METHODS,
)
from core.fit.plan import FitOptions
from core.gpus import GpuSpec

_LABEL = {"vllm": "vLLM", "sglang": "SGLang"}


def _choices(names: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(names))


def _quantization(engine: str, quantization: str) -> list[str]:
    method = quantization.lower()
    if engine == "vllm":
        if method in VLLM_REMOVED_QUANTIZATION:
            return [
                f"vLLM 0.33 no longer supports `{quantization}` quantization; use an AWQ, GPTQ or FP8 "
                "checkpoint of the model, or run it on SGLang (`engine=sglang`)."
            ]
        if method not in VLLM_QUANTIZATION:
            return [
                f"vLLM does not know the quantization `{quantization}`; it accepts {_choices(VLLM_QUANTIZATION)}."
            ]
    elif method not in SGLANG_QUANTIZATION:
        return [
            f"SGLang does not know the quantization `{quantization}`; it accepts {_choices(SGLANG_QUANTIZATION)}."
        ]
    return []


def _kv_cache(engine: str, kv_cache_dtype: str) -> list[str]:
    name = kv_cache_dtype.lower()
    accepted = (
        VLLM_KV_CACHE_DTYPES if engine == "vllm" else SGLANG_KV_CACHE_DTYPES | set(SGLANG_KV_CACHE_ALIASES)
    )
    if name not in accepted:
        return [
            f"{_LABEL[engine]} does not know the KV-cache dtype `{kv_cache_dtype}`; it accepts {_choices(accepted)}."
        ]
    return []


def _speculative(engine: str, options: FitOptions) -> list[str]:
    reasons: list[str] = []
    method = options.speculative_method.lower() if options.speculative_method else None
    if options.speculative_tokens is not None:
        if options.speculative_tokens < 1:
            reasons.append("The number of speculative tokens must be at least 1.")
        if not options.draft_model and not method:
            reasons.append(
                "Speculative tokens were given without a draft model or method; add a draft model "
                "(e.g. an EAGLE-3 head) or a method such as `ngram`, or drop the token count."
            )
    if options.draft_model and "@" in options.draft_model:
        # The draft reaches the engine as a bare model id (vLLM's speculative `model`, SGLang's
        # --speculative-draft-model-path), where `org/name@rev` is not a repo id.
        reasons.append(
            f"A draft model cannot be pinned to a revision (`{options.draft_model}`); "
            f"write `draft={options.draft_model.partition('@')[0]}`."
        )
    if method is None:
        return reasons
    if engine == "vllm":
        if method not in VLLM_SPECULATIVE_METHODS:
            return [*reasons, f"vLLM has no speculative method `{options.speculative_method}`; it accepts {_choices(set(VLLM_SPECULATIVE_METHODS))}."]  # fmt: skip
        needs_draft = VLLM_SPECULATIVE_METHODS[method]
    else:
        algorithm = SGLANG_SPECULATIVE_ALGORITHMS.get(method)
        if algorithm is None:
            return [*reasons, f"SGLang has no speculative method `{options.speculative_method}`; it accepts {_choices(set(SGLANG_SPECULATIVE_ALGORITHMS))}."]  # fmt: skip
        needs_draft = SGLANG_ALGORITHM_NEEDS_DRAFT[algorithm]
    if needs_draft and not options.draft_model:
        reasons.append(
            f"Speculative method `{method}` needs a draft model; name one, or use `ngram` or `mtp`."
        )
    if not needs_draft and options.draft_model and method in ("ngram", "suffix"):
        reasons.append(f"Speculative method `{method}` does not use a draft model; drop the draft model or use `draft_model`.")  # fmt: skip
    return reasons


def _served_name(engine: str, served_model_name: str) -> list[str]:
    if not served_model_name.strip():
        return ["The served model name is empty; leave it out to use the model id."]
    if any(not ch.isprintable() or ch.isspace() for ch in served_model_name):
        return [f"The served model name `{served_model_name!r}` contains spaces or control characters; use letters, digits, `-`, `_`, `.` or `/`."]  # fmt: skip
    if engine == "sglang" and ":" in served_model_name:
        return [
            f"SGLang does not accept `:` in a served model name (`{served_model_name}`); use `-` instead."
        ]
    return []


def hardware_rejections(
    *, engine: str, options: FitOptions, gpu: GpuSpec, quantization: bool = True
) -> list[str]:
    """What the engine refuses on `gpu`: too old a GPU, `--dtype bfloat16` before Ampere and, unless
    `quantization=False`, `--quantization` below its minimum compute capability or FP8 on pre-MI300 AMD.

    The fit check passes `quantization=False`: it judges the quantization the weights really run as
    (the checkpoint's own included) itself, and one refusal should be said once.
    """
    if engine not in ENGINES:
        return []
    reasons: list[str] = []
    method = options.quantization.lower() if options.quantization and quantization else None
    if gpu.vendor == "amd":
        if method in FP8_METHODS and not gpu.fp8_native:
            reasons.append(
                f"{gpu.name} ({gpu.arch}) has no FP8 support; FP8 needs an MI300-class GPU or newer."
            )
        return reasons
    capability = gpu.compute_capability or 0.0
    if capability < MIN_ENGINE_CAPABILITY:
        return [
            f"{_LABEL[engine]} needs compute capability {MIN_ENGINE_CAPABILITY} or newer; {gpu.name} has {capability}."
        ]
    if options.dtype and options.dtype.lower() == "bfloat16" and capability < BF16_MIN_CAPABILITY:
        # vLLM: "Bfloat16 is only supported on GPUs with compute capability of at least 8.0" (an
        # explicit --dtype bfloat16 is refused; only `auto` falls back to float16 by itself).
        reasons.append(
            f"{gpu.name} (compute capability {capability}) cannot run bfloat16; use dtype=float16 "
            "(or leave dtype out) or an Ampere-or-newer GPU such as L4 or A100."
        )
    minimum = (VLLM_MIN_CAPABILITY if engine == "vllm" else SGLANG_MIN_CAPABILITY).get(method or "")
    if minimum is not None and capability < minimum:
        reasons.append(
            f"{_LABEL[engine]} cannot run `{options.quantization}` quantization on {gpu.name} "
            f"(compute capability {capability}, needs {minimum}); pick a newer GPU or another checkpoint."
        )
    return reasons


def engine_rejections(
    *, engine: str, options: FitOptions, served_model_name: str | None = None, gpu: GpuSpec | None = None
) -> list[str]:
    """Sentences for everything in `options` the engine would refuse at start-up (empty: all fine).

    With `gpu`, hardware limits are checked too (bfloat16 before Ampere, FP8 and other quantization
    methods below their minimum compute capability, FP8 on pre-MI300 AMD parts).
    """
    if engine not in ENGINES:
        return [f"Unknown engine `{engine}`; use `vllm` or `sglang`."]
    reasons: list[str] = []
    if options.quantization:
        reasons += _quantization(engine, options.quantization)
    if options.dtype and options.dtype.lower() not in DTYPES:
        reasons.append(
            f"`{options.dtype}` is not a dtype {_LABEL[engine]} accepts; use one of {_choices(DTYPES)}."
        )
    if options.kv_cache_dtype:
        reasons += _kv_cache(engine, options.kv_cache_dtype)
    if options.memory_fraction is not None and not 0 < options.memory_fraction < 1:
        reasons.append(
            f"The memory fraction must be between 0 and 1 (got {options.memory_fraction:g}); "
            f"{_LABEL[engine]} commonly uses 0.8-0.92."
        )
    if options.max_model_len is not None and options.max_model_len < 1:
        reasons.append("The context length must be a positive number of tokens, like `32k`.")
    reasons += _speculative(engine, options)
    if served_model_name is not None:
        reasons += _served_name(engine, served_model_name)
    if gpu is not None:
        reasons += hardware_rejections(engine=engine, options=options, gpu=gpu)
    return reasons
