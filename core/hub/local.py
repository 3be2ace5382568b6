"""Model inputs from a local directory: config.json plus per-dtype counts from *.safetensors headers.

A safetensors file starts with an 8-byte little-endian header length, then that many bytes of JSON
mapping tensor names to `{"dtype", "shape", "data_offsets"}` (and an optional `__metadata__`). Reading
that header is enough to count stored elements per dtype, so no torch and no weight bytes are needed.
"""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Iterable
from pathlib import Path

from core.errors import InvalidRequest, ModelNotFound
from core.hub.source import ModelSource

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own ceiling on header size


def read_local_model(path: Path, *, model_id: str) -> ModelSource:
    """Read a local model directory. Raises ModelNotFound / InvalidRequest with what to fix."""
    directory = path.expanduser()
    if not directory.is_dir():
        raise ModelNotFound(
            f"No such local model directory: {model_id}. Give a directory that contains config.json, "
            "or a Hub id like `org/name`."
        )
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ModelNotFound(
            f"{model_id} has no config.json, so the bot cannot tell the model's size. Point at the "
            "directory holding config.json and the *.safetensors files (a Hugging Face snapshot)."
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InvalidRequest(f"{model_id}/config.json could not be read as JSON ({error}).") from None
    if not isinstance(config, dict):
        raise InvalidRequest(f"{model_id}/config.json is not a JSON object.")
    counts = count_dtype_params(weight_files(directory))
    return ModelSource(
        model_id=model_id,
        config=config,
        origin="local",
        dtype_params=counts or None,
        fetched_at=time.time(),
    )


def weight_files(directory: Path) -> list[Path]:
    """The *.safetensors files that make one copy of the weights.

    Some repos ship both sharded `model-*.safetensors` and a `consolidated.safetensors` (the same
    weights in another layout); counting both would double the size, so consolidated files only count
    when they are all there is.
    """
    files = sorted(directory.glob("*.safetensors"))
    sharded = [f for f in files if not f.name.startswith("consolidated")]
    return sharded or files


def count_dtype_params(files: Iterable[Path]) -> dict[str, int]:
    """Stored elements per safetensors dtype (`BF16`, `F8_E4M3`, `I32`, ...) over all files."""
    counts: dict[str, int] = {}
    for file in files:
        for dtype, elements in _header_counts(file).items():
            counts[dtype] = counts.get(dtype, 0) + elements
    return counts


def _header_counts(file: Path) -> dict[str, int]:
    problem = f"{file.name} is not a valid safetensors file"
    try:
        with file.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) != 8:
                raise InvalidRequest(f"{problem} (shorter than its header). Re-download it.")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES or length > file.stat().st_size - 8:
                raise InvalidRequest(f"{problem} (header length {length} is impossible). Re-download it.")
            header = json.loads(handle.read(length).decode("utf-8"))
    except OSError as error:
        raise InvalidRequest(f"{file.name} could not be read ({error.strerror}).") from None
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(f"{problem} (its header is not JSON). Re-download it.") from None
    if not isinstance(header, dict):
        raise InvalidRequest(f"{problem} (its header is not a JSON object). Re-download it.")
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = str(tensor["dtype"])
            elements = math.prod(int(dim) for dim in tensor["shape"])
        except (TypeError, KeyError, ValueError):
            raise InvalidRequest(f"{problem} (tensor {name!r} has no dtype/shape). Re-download it.") from None
        counts[dtype] = counts.get(dtype, 0) + elements
    return counts
