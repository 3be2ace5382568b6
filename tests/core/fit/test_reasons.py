"""Every reason a plan does not fit carries a kind; code decides by the kind, people read the sentence."""

from __future__ import annotations

import json

import pytest

from core.fit.check import check_fit
from core.fit.plan import FitOptions, Plan
from core.fit.reasons import Reason, ReasonKind
from tests.core.fit.conftest import accel, facts_of

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def fit(repo_id: str, accelerators: str, **options) -> Plan:
    return check_fit(facts_of(repo_id), accel(accelerators), FitOptions(**options))


@pytest.mark.parametrize(
    ("repo_id", "accelerators", "options", "kind", "words"),
    [
        ("meta-llama/Llama-3.1-70B-Instruct", "L4:1", {"max_model_len": 4096}, ReasonKind.WEIGHTS, "weights alone"),
        (LLAMA_8B, "L4:1", {"max_model_len": 131072}, ReasonKind.KV_ROOM, "KV cache"),
        (LLAMA_8B, "H100:1", {"max_model_len": 1_000_000}, ReasonKind.CONTEXT, "at most 131,072"),
        ("openai/gpt-oss-20b", "T4:1", {}, ReasonKind.QUANTIZATION_SUPPORT, "not supported"),
        (LLAMA_8B, "L4:1", {"quantization": "awq"}, ReasonKind.QUANTIZATION, "needs a checkpoint quantized"),
        (LLAMA_8B, "V100-32GB:1", {"dtype": "bfloat16", "max_model_len": 4096}, ReasonKind.HARDWARE, "bfloat16"),
        (LLAMA_8B, "L4:2", {"tensor_parallel": 4}, ReasonKind.PINNED_LAYOUT, "Tensor parallel size 4"),
        ("tiiuae/falcon-7b-instruct", "H100:16", {"engine": "sglang"}, ReasonKind.LAYOUT, "No way to split"),
        (LLAMA_8B, "H100:2", {"memory_fraction": 0.97, "tensor_parallel": 2}, ReasonKind.FRACTION, "memory fraction"),
        (LLAMA_8B, "L4:1", {"kv_cache_dtype": "int3"}, ReasonKind.ENGINE_OPTION, "int3"),
        (LLAMA_8B, "L4:1", {"rope_scaling": "ntk"}, ReasonKind.ROPE, "Unknown RoPE scaling"),
    ],
)  # fmt: skip
def test_each_refusal_has_its_kind(repo_id, accelerators, options, kind, words):
    plan = fit(repo_id, accelerators, **options)
    assert not plan.fits
    matching = [r for r in plan.refusals if r.kind is kind]
    assert matching, plan.refusals
    assert any(words in r.text for r in matching)
    assert ReasonKind.UNKNOWN not in plan.reason_kinds


def test_json_keeps_the_sentences_and_adds_their_kinds_in_the_same_order():
    plan = fit("openai/gpt-oss-20b", "T4:1")
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["reasons"] == plan.reasons and all(isinstance(r, str) for r in data["reasons"])
    assert data["reason_kinds"] == [str(r.kind) for r in plan.refusals]
    assert "refusals" not in data
    assert Plan.from_dict(data) == plan


def test_a_plan_stored_before_kinds_reads_back_with_unknown_kinds():
    data = fit("meta-llama/Llama-3.1-70B-Instruct", "L4:1").to_dict()
    del data["reason_kinds"]
    old = Plan.from_dict(data)
    assert old.reasons == data["reasons"]
    assert set(old.reason_kinds) == {ReasonKind.UNKNOWN}


def test_a_gpu_that_cannot_run_the_quantization_gets_only_other_hardware():
    # gpt-oss's MXFP4 needs compute capability 8.0; no change of context or KV dtype on a T4 helps.
    plan = fit("openai/gpt-oss-20b", "T4:1", max_model_len=8192, tensor_parallel=1)
    assert ReasonKind.QUANTIZATION_SUPPORT in plan.reason_kinds
    assert plan.suggestions and all(set(s.changes) == {"accelerators"} for s in plan.suggestions)


def test_the_suggestions_read_the_kind_not_the_sentence():
    # A sentence that says "quantization ... supported" but is of another kind does not block them.
    from core.fit.suggestions import suggest

    facts, gpus = facts_of(LLAMA_8B), accel("L4:1")
    options = FitOptions(max_model_len=131072)
    plan = check_fit(facts, gpus, options)
    reworded = [Reason(r.kind, "quantization is not supported (" + r.text + ")") for r in plan.refusals]
    same = suggest(facts, gpus, options, Plan(**{**plan.__dict__, "refusals": reworded, "suggestions": []}))
    assert any("max_model_len" in s.changes for s in same)
    blocked = [Reason(ReasonKind.QUANTIZATION_SUPPORT, "x"), *plan.refusals]
    other = suggest(facts, gpus, options, Plan(**{**plan.__dict__, "refusals": blocked, "suggestions": []}))
    assert other and all(set(s.changes) == {"accelerators"} for s in other)
