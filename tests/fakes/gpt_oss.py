"""gpt-oss checkpoint tensors (names, dtypes, shapes) from config.json, as OpenAI's safetensors ship them.

Used to give the fake Hub and local-snapshot tests realistic numbers for an MXFP4 checkpoint:
`hub_parameters` counts them the way the Hub's `model_info().safetensors.parameters` does (two
parameters per `*_blocks` byte: gpt-oss-120b's card shows 120B), `write_safetensors_headers` writes
real safetensors headers (whose element counts are bytes for U8 tensors).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

Tensor = tuple[str, list[int]]  # (safetensors dtype, shape)


def gpt_oss_tensors(config: dict[str, Any]) -> dict[str, Tensor]:
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads, kv_heads, head_dim = (
        config["num_attention_heads"],
        config["num_key_value_heads"],
        config["head_dim"],
    )
    experts, vocab = config["num_local_experts"], config["vocab_size"]
    blocks = hidden // 32  # MXFP4: 32 values per block, 16 bytes of e2m1 pairs + 1 scale byte
    tensors: dict[str, Tensor] = {
        "model.embed_tokens.weight": ("BF16", [vocab, hidden]),
        "lm_head.weight": ("BF16", [vocab, hidden]),
        "model.norm.weight": ("BF16", [hidden]),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        attn = {
            "q_proj": (heads * head_dim, hidden), "k_proj": (kv_heads * head_dim, hidden),
            "v_proj": (kv_heads * head_dim, hidden), "o_proj": (hidden, heads * head_dim),
        }  # fmt: skip
        for name, (rows, cols) in attn.items():
            tensors[f"{p}self_attn.{name}.weight"] = ("BF16", [rows, cols])
            tensors[f"{p}self_attn.{name}.bias"] = ("BF16", [rows])
        tensors[f"{p}self_attn.sinks"] = ("BF16", [heads])
        tensors[f"{p}mlp.router.weight"] = ("BF16", [experts, hidden])
        tensors[f"{p}mlp.router.bias"] = ("BF16", [experts])
        for name, rows in (("gate_up_proj", 2 * inter), ("down_proj", hidden)):
            tensors[f"{p}mlp.experts.{name}_blocks"] = ("U8", [experts, rows, blocks, 16])
            tensors[f"{p}mlp.experts.{name}_scales"] = ("U8", [experts, rows, blocks])
            tensors[f"{p}mlp.experts.{name}_bias"] = ("BF16", [experts, rows])
        tensors[f"{p}input_layernorm.weight"] = ("BF16", [hidden])
        tensors[f"{p}post_attention_layernorm.weight"] = ("BF16", [hidden])
    return tensors


def hub_parameters(config: dict[str, Any]) -> dict[str, int]:
    """Per-dtype counts as the Hub's model_info reports them: `*_blocks` bytes count twice."""
    counts: dict[str, int] = {}
    for name, (dtype, shape) in gpt_oss_tensors(config).items():
        elements = math.prod(shape) * (2 if name.endswith("_blocks") else 1)
        counts[dtype] = counts.get(dtype, 0) + elements
    return counts


def write_safetensors_headers(config: dict[str, Any], directory: Path, *, shards: int = 3) -> None:
    """A snapshot directory with config.json and header-only *.safetensors files (no tensor data)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    sizes = {"BF16": 2, "U8": 1}
    names = sorted(gpt_oss_tensors(config).items())
    for shard in range(shards):
        header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name, (dtype, shape) in names[shard::shards]:
            size = math.prod(shape) * sizes[dtype]
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
        body = json.dumps(header).encode()
        path = directory / f"model-{shard:05d}-of-{shards:05d}.safetensors"
        path.write_bytes(struct.pack("<Q", len(body)) + body)
