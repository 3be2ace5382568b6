"""How much of each GPU an engine lets itself use, and where it says it is ready.

vLLM's `--gpu-memory-utilization` defaults to 0.92 of total memory. SGLang computes
`--mem-fraction-static` itself when it is not given; the fit check still needs a figure, so
`sglang_memory_fraction` follows SGLang's reserve rule (memory.md): about
`0.5 GiB + 1.5 x max(chunked_prefill_size, 2048) MiB + tp x pp / 8 GiB` left out, at least 10 GiB on
GPUs over 60 GB, which lands near 0.84 on an H100.
"""

from __future__ import annotations

VLLM_DEFAULT_MEMORY_FRACTION = 0.92

_READINESS = {"vllm": "/health", "sglang": "/ready"}


def _check_engine(engine: str) -> str:
    if engine not in _READINESS:
        raise ValueError(f"unknown engine {engine!r}; expected 'vllm' or 'sglang'")
    return engine


def readiness_path(engine: str) -> str:
    """The route that answers 200 only once the engine can serve: vLLM `/health`, SGLang `/ready`."""
    return _READINESS[_check_engine(engine)]


def default_memory_fraction(engine: str) -> float | None:
    """The engine's own default: 0.92 for vLLM; None for SGLang (it computes one at start-up)."""
    return VLLM_DEFAULT_MEMORY_FRACTION if _check_engine(engine) == "vllm" else None


def _sglang_chunked_prefill_size(gpu_memory_gib: float) -> int:
    # SGLang picks its default chunk by GPU memory: small cards get small chunks.
    if gpu_memory_gib < 35:
        return 2048
    if gpu_memory_gib < 60:
        return 4096
    if gpu_memory_gib < 160:
        return 8192
    return 16384


def sglang_memory_fraction(*, gpu_memory_gib: float, tp: int = 1, pp: int = 1) -> float:
    """The `--mem-fraction-static` SGLang would choose on a GPU of this size (an estimate)."""
    if gpu_memory_gib <= 0:
        raise ValueError("gpu_memory_gib must be positive")
    chunk = _sglang_chunked_prefill_size(gpu_memory_gib)
    reserved = 0.5 + 1.5 * max(chunk, 2048) / 1024 + tp * pp / 8
    if gpu_memory_gib > 60:
        reserved = max(reserved, 10.0)
    return round(max(0.1, min(0.95, 1 - reserved / gpu_memory_gib)), 3)


def memory_fraction_for(engine: str, *, gpu_memory_gib: float, tp: int = 1, pp: int = 1) -> float:
    """The fraction the fit check should assume when the user gave none."""
    default = default_memory_fraction(engine)
    if default is not None:
        return default
    return sglang_memory_fraction(gpu_memory_gib=gpu_memory_gib, tp=tp, pp=pp)
