"""Cheapest shapes for `fit MODEL` and the changes suggested when a plan does not fit."""

from __future__ import annotations

from core.fit.check import check_fit
from core.fit.plan import FitOptions
from core.fit.shapes import allowed_counts, cheapest_shapes, min_gpus
from core.gpus import get_gpu
from tests.core.fit.conftest import accel, facts_of


def test_allowed_counts_within_and_across_nodes():
    assert allowed_counts(get_gpu("H100")) == [1, 2, 4, 8, 16, 32, 64]
    assert allowed_counts(get_gpu("GH200"))[:3] == [1, 2, 4]
    assert 16 in allowed_counts(get_gpu("A100"))  # GCP's 16-GPU A100 node


def test_min_gpus_is_a_lower_bound_from_weights():
    f = facts_of("meta-llama/Llama-3.1-70B-Instruct")
    assert min_gpus(f, get_gpu("H100"), FitOptions()) == 2
    assert min_gpus(f, get_gpu("L4"), FitOptions()) == 7


def test_cheapest_shapes_fit_are_sorted_and_have_commands():
    shapes = cheapest_shapes(facts_of("Qwen/Qwen2.5-72B-Instruct"), FitOptions(), limit=5)
    assert 1 <= len(shapes) <= 5
    assert all(plan.fits and plan.engine_command for plan in shapes)
    prices = [plan.price_per_hour for plan in shapes]
    assert prices == sorted(prices)
    assert len({plan.gpu_name for plan in shapes}) == len(shapes)  # one shape per GPU type
    # Each is the same verdict check_fit gives for that shape.
    for plan in shapes:
        assert check_fit(facts_of("Qwen/Qwen2.5-72B-Instruct"), accel(plan.accelerators), FitOptions()).fits


def test_cheapest_shapes_respect_a_requested_context():
    shapes = cheapest_shapes(facts_of("meta-llama/Llama-3.1-8B-Instruct"), FitOptions(max_model_len=131072))
    assert shapes and all(plan.max_context_tokens == 131072 for plan in shapes)
    assert "L4:1" not in [plan.accelerators for plan in shapes]  # 128k does not fit one L4


def test_cheapest_shapes_for_a_huge_model_span_nodes():
    shapes = cheapest_shapes(facts_of("meta-llama/Llama-3.1-405B-Instruct"), FitOptions(), limit=3)
    assert shapes and all(plan.fits for plan in shapes)
    assert all(plan.gpu_count * get_gpu(plan.gpu_name).memory_gib > 755 for plan in shapes)


def test_suggestions_each_fit_and_carry_prices():
    f = facts_of("meta-llama/Llama-3.1-70B-Instruct")
    plan = check_fit(f, accel("H100:1"), FitOptions())
    assert not plan.fits and plan.suggestions
    for suggestion in plan.suggestions:
        assert suggestion.price_per_hour > 0
        options = FitOptions(
            quantization=suggestion.changes.get("quantization"),
            kv_cache_dtype=suggestion.changes.get("kv_cache_dtype"),
            max_model_len=suggestion.changes.get("max_model_len"),
        )
        assert check_fit(f, accel(suggestion.accelerators), options).fits, suggestion.summary
    # FP8 at load time does not help on one H100: llm-d measured Llama-3.3-70B-FP8 needing two at 16000.
    assert not any(s.changes.get("quantization") == "fp8" for s in plan.suggestions)
    assert any(s.accelerators == "H100:2" for s in plan.suggestions)
    other = [s for s in plan.suggestions if not s.accelerators.startswith("H100")]
    assert other  # another GPU type


def test_no_suggestions_when_the_model_fits():
    assert check_fit(facts_of("Qwen/Qwen3-0.6B"), accel("L4:1"), FitOptions()).suggestions == []
