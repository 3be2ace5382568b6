"""The model options `endpoint-bot fit` and `endpoint-bot up` share, read from their parsed flags.

`FitOptions` and `UpRequest` name these fields alike, so both commands build them from one mapping.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.units import parse_tokens


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """Context, quantization, dtypes, layout, memory fraction, draft model and RoPE scaling, as given."""
    return {
        "max_model_len": parse_tokens(args.max_model_len) if args.max_model_len else None,
        "quantization": args.quantization,
        "dtype": args.dtype,
        "kv_cache_dtype": args.kv_cache_dtype,
        "tensor_parallel": args.tensor_parallel_size,
        "memory_fraction": args.memory_fraction,
        "draft_model": args.draft_model,
        "rope_scaling": args.rope,
    }
