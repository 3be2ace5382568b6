"""`bot.cli.options.model_options`: the flags `fit` and `up` share, read the same way for both."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from bot.cli import build_parser
from bot.cli.options import model_options
from core.errors import InvalidRequest
from core.fit.plan import FitOptions

FLAGS = ["Qwen/Qwen2.5-7B-Instruct", "L4:1", "--max-model-len", "32k", "--quantization", "fp8", "--dtype",
         "bfloat16", "--kv-cache-dtype", "fp8", "--tensor-parallel-size", "2", "--memory-fraction", "0.85",
         "--draft-model", "Qwen/Qwen2.5-0.5B-Instruct", "--rope", "yarn"]  # fmt: skip
EXPECTED = {
    "max_model_len": 32768,
    "quantization": "fp8",
    "dtype": "bfloat16",
    "kv_cache_dtype": "fp8",
    "tensor_parallel": 2,
    "memory_fraction": 0.85,
    "draft_model": "Qwen/Qwen2.5-0.5B-Instruct",
    "rope_scaling": "yarn",
}


@pytest.mark.parametrize("command", ["fit", "up"])
def test_fit_and_up_read_the_shared_flags_alike(command):
    args = build_parser().parse_args([command, *FLAGS])
    assert model_options(args) == EXPECTED


def test_every_key_is_a_fit_option_and_an_up_request_field():
    from core.endpoints.service import UpRequest

    assert set(EXPECTED) <= {f.name for f in fields(FitOptions)}
    assert set(EXPECTED) <= {f.name for f in fields(UpRequest)}


def test_nothing_given_is_none_and_a_bad_length_is_refused():
    args = build_parser().parse_args(["fit", "Qwen/Qwen2.5-7B-Instruct"])
    assert set(model_options(args).values()) == {None}
    with pytest.raises(InvalidRequest):
        model_options(argparse.Namespace(**{**vars(args), "max_model_len": "lots"}))
