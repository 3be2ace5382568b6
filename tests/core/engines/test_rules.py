"""Option combinations the engines refuse, as sentences."""

from __future__ import annotations

import pytest

from core.engines import engine_rejections
from core.fit.plan import FitOptions


def _reasons(engine: str = "vllm", served: str | None = None, **options) -> list[str]:
    return engine_rejections(
        engine=engine, options=FitOptions(engine=engine, **options), served_model_name=served
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_ordinary_options_pass(engine: str) -> None:
    assert _reasons(engine) == []
    assert _reasons(engine, quantization="fp8", dtype="bfloat16", kv_cache_dtype="fp8", memory_fraction=0.9,
                    max_model_len=32768, draft_model="org/eagle3", speculative_tokens=3, speculative_method="eagle3",
                    served="my-model") == []  # fmt: skip
    assert _reasons(engine, quantization="AWQ") == []  # case-insensitive


@pytest.mark.parametrize("method", ["bitsandbytes", "gguf"])
def test_vllm_033_has_no_bitsandbytes_or_gguf(method: str) -> None:
    (reason,) = _reasons("vllm", quantization=method)
    assert method in reason and "sglang" in reason.lower()
    assert "`engine=sglang`" in reason  # how `/endpoint up` spells it; `--engine` is refused there
    assert _reasons("sglang", quantization=method) == []


def test_unknown_names_are_listed_with_what_is_accepted() -> None:
    (quant,) = _reasons("vllm", quantization="int3")
    assert "int3" in quant and "awq" in quant
    (dtype,) = _reasons("sglang", dtype="fp64")
    assert "fp64" in dtype and "bfloat16" in dtype
    (kv,) = _reasons("vllm", kv_cache_dtype="fp4")
    assert "fp4" in kv and "fp8_e5m2" in kv
    (sg_quant,) = _reasons("sglang", quantization="fp8_per_tensor")
    assert "SGLang" in sg_quant


def test_kv_dtype_spellings_differ_by_engine() -> None:
    assert _reasons("sglang", kv_cache_dtype="fp8_inc") != []
    assert _reasons("vllm", kv_cache_dtype="fp8_inc") == []
    assert _reasons("sglang", kv_cache_dtype="fp8") == []  # translated to fp8_e4m3


def test_speculative_tokens_need_a_draft_or_method() -> None:
    (reason,) = _reasons("vllm", speculative_tokens=3)
    assert "draft model" in reason
    assert _reasons("vllm", speculative_tokens=3, speculative_method="ngram") == []
    assert _reasons("vllm", speculative_tokens=0, speculative_method="ngram") != []


def test_methods_that_need_a_draft_model() -> None:
    assert any("needs a draft model" in r for r in _reasons("vllm", speculative_method="eagle3"))
    assert any("needs a draft model" in r for r in _reasons("sglang", speculative_method="eagle"))
    assert _reasons("sglang", speculative_method="mtp") == []
    assert any(
        "does not use a draft" in r for r in _reasons("vllm", speculative_method="ngram", draft_model="x/y")
    )


def test_unknown_speculative_methods() -> None:
    assert any("suffix" in r for r in _reasons("sglang", speculative_method="suffix"))
    assert _reasons("vllm", speculative_method="suffix") == []
    assert any("medusa2" in r for r in _reasons("vllm", speculative_method="medusa2", draft_model="x"))


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.2])
def test_memory_fraction_must_be_a_fraction(fraction: float) -> None:
    assert any("between 0 and 1" in r for r in _reasons("vllm", memory_fraction=fraction))


def test_served_model_names() -> None:
    (reason,) = _reasons("sglang", served="llama:8b")
    assert ":" in reason and "-" in reason
    assert _reasons("vllm", served="llama:8b") == []
    assert _reasons("vllm", served="   ") != []
    assert _reasons("vllm", served="two words") != []
    assert _reasons("vllm", served="bad\x00name") != []


def test_unknown_engine() -> None:
    (reason,) = engine_rejections(engine="tgi", options=FitOptions())
    assert "vllm" in reason and "sglang" in reason


def test_context_length_must_be_positive() -> None:
    assert _reasons("vllm", max_model_len=0) != []


def _on(gpu: str, engine: str = "vllm", **options) -> list[str]:
    from core.gpus import get_gpu

    return engine_rejections(engine=engine, options=FitOptions(engine=engine, **options), gpu=get_gpu(gpu))  # type: ignore[arg-type]


def test_hardware_limits() -> None:
    assert any("float16" in r for r in _on("T4", dtype="bfloat16"))
    assert _on("T4", dtype="float16") == [] and _on("L4", dtype="bfloat16") == []
    assert any("compute capability 7.0" in r for r in _on("V100", quantization="fp8"))
    assert _on("T4", quantization="fp8") == []  # vLLM: weight-only FP8 via Marlin from 7.5
    assert any("SGLang" in r for r in _on("T4", "sglang", quantization="fp8"))
    assert _on("A100", "sglang", quantization="fp8") == []
    assert any(
        "8.9" in r for r in _on("A100", "sglang", quantization="w8a8_fp8")
    )  # SGLang: min capability 89
    assert _on("L4", "sglang", quantization="w8a8_fp8") == []
    assert any("MI300" in r for r in _on("MI250X", quantization="fp8"))
    assert _on("MI300X", quantization="fp8") == []
    assert _on("H100", quantization="mxfp4", dtype="bfloat16") == []


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_draft_pinned_to_a_revision_is_refused_before_launch(engine: str) -> None:
    # vLLM and SGLang would take `org/name@rev` as the repo id and fail after the GPUs are paid for.
    options = FitOptions(engine=engine, draft_model="Qwen/Qwen2.5-0.5B-Instruct@main")
    reasons = engine_rejections(engine=engine, options=options)
    assert any("`draft=Qwen/Qwen2.5-0.5B-Instruct`" in r for r in reasons)
    assert (
        engine_rejections(
            engine=engine, options=FitOptions(engine=engine, draft_model="Qwen/Qwen2.5-0.5B-Instruct")
        )
        == []
    )
