"""`core.fit.service.fit`: the one fit-check entry point, with no database and a facts loader of our own."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequest
from core.fit.plan import FitOptions
from core.fit.reasons import ReasonKind
from core.fit.service import NO_SHAPE, FitRequest, fit
from tests.core.fit.conftest import facts_of

QWEN25_7B = "Qwen/Qwen2.5-7B-Instruct"


class Loader:
    """Facts from the config fixtures; remembers what was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, model: str):
        self.asked.append(model)
        return facts_of(model)


def test_with_gpus_one_plan_with_its_engine_command(hub_settings):
    loader = Loader()
    result = fit(FitRequest(QWEN25_7B, "L4:1", FitOptions(max_model_len=8192)), settings=hub_settings,
                 load_facts=loader)  # fmt: skip
    assert loader.asked == [QWEN25_7B]
    assert result.accel is not None and str(result.accel) == "L4:1"
    assert result.fits and len(result.plans) == 1 and result.plan.max_context_tokens == 8192
    assert result.plan.engine_command[:3] == ["vllm", "serve", QWEN25_7B]
    assert result.facts.model_id == QWEN25_7B


def test_without_gpus_the_cheapest_shapes(hub_settings):
    result = fit(FitRequest("meta-llama/Llama-3.1-70B-Instruct"), settings=hub_settings, load_facts=Loader())
    assert result.accel is None and result.fits
    prices = [plan.price_per_hour for plan in result.plans]
    assert len(prices) > 1 and prices == sorted(prices)


def test_the_draft_model_is_loaded_and_counted(hub_settings):
    loader = Loader()
    options = FitOptions(
        draft_model="Qwen/Qwen3-0.6B", speculative_method="draft_model", speculative_tokens=3
    )
    alone = fit(FitRequest("Qwen/Qwen3-8B", "L4:1", FitOptions(max_model_len=8192)), settings=hub_settings,
                load_facts=loader)  # fmt: skip
    drafted = fit(FitRequest("Qwen/Qwen3-8B", "L4:1", FitOptions(**{**options.__dict__, "max_model_len": 8192})),
                  settings=hub_settings, load_facts=loader)  # fmt: skip
    assert loader.asked[-2:] == ["Qwen/Qwen3-8B", "Qwen/Qwen3-0.6B"]
    assert drafted.plan.memory_per_gpu_gib.weights > alone.plan.memory_per_gpu_gib.weights


def test_a_bad_gpu_is_refused_before_any_facts_are_loaded(hub_settings):
    loader = Loader()
    with pytest.raises(InvalidRequest):
        fit(FitRequest(QWEN25_7B, "H1000:1"), settings=hub_settings, load_facts=loader)
    with pytest.raises(InvalidRequest, match="No GPU given"):
        fit(FitRequest(QWEN25_7B, ""), settings=hub_settings, load_facts=loader)
    assert loader.asked == []


def test_nothing_fits_without_gpus_says_why(hub_settings):
    beyond = fit(FitRequest(QWEN25_7B, None, FitOptions(max_model_len=1_000_000)), settings=hub_settings,
                 load_facts=Loader())  # fmt: skip
    assert not beyond.fits and beyond.plans == [] and beyond.yarn_hint is None
    reasons = beyond.shape_reasons()
    assert [r.kind for r in reasons] == [ReasonKind.NO_SHAPE, ReasonKind.CONTEXT]
    assert reasons[0].text == NO_SHAPE and "at most 32,768" in reasons[1].text
    # Within YaRN's documented reach, the sentence says how to ask for it.
    yarn = fit(FitRequest(QWEN25_7B, None, FitOptions(max_model_len=65536)), settings=hub_settings,
               load_facts=Loader())  # fmt: skip
    assert yarn.yarn_hint and "rope=yarn" in yarn.yarn_hint
    assert yarn.shape_reasons()[1].text == yarn.yarn_hint


def test_the_default_loader_reads_the_hub(fake_hub, hub_settings):
    result = fit(FitRequest(QWEN25_7B, "L4:1"), settings=hub_settings)
    assert result.facts.model_id == QWEN25_7B and result.plan.revision
    assert fake_hub.model_requests()
