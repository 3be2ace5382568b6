"""Memory fractions and readiness routes."""

from __future__ import annotations

import pytest

from core.engines import default_memory_fraction, memory_fraction_for, readiness_path, sglang_memory_fraction
from core.gpus import CATALOG


def test_readiness_routes() -> None:
    assert readiness_path("vllm") == "/health"
    assert readiness_path("sglang") == "/ready"
    with pytest.raises(ValueError):
        readiness_path("tgi")


def test_defaults() -> None:
    assert default_memory_fraction("vllm") == 0.92
    assert default_memory_fraction("sglang") is None
    assert memory_fraction_for("vllm", gpu_memory_gib=79.2) == 0.92


def test_sglang_estimate_lands_near_its_own_choice_on_an_h100() -> None:
    # memory.md: SGLang's default lands near 0.84 on an H100.
    assert sglang_memory_fraction(gpu_memory_gib=CATALOG["H100"].memory_gib) == pytest.approx(0.84, abs=0.01)
    assert memory_fraction_for("sglang", gpu_memory_gib=79.2) == sglang_memory_fraction(gpu_memory_gib=79.2)


def test_sglang_keeps_at_least_10_gib_on_big_gpus_and_more_with_parallelism() -> None:
    for name in ("H100", "H200", "B200", "MI300X"):
        memory = CATALOG[name].memory_gib
        assert memory * (1 - sglang_memory_fraction(gpu_memory_gib=memory)) >= 10 - 0.1
    assert sglang_memory_fraction(gpu_memory_gib=79.2, tp=8, pp=2) < sglang_memory_fraction(
        gpu_memory_gib=79.2
    )


@pytest.mark.parametrize("name", list(CATALOG))
def test_estimate_is_a_sane_fraction_on_every_gpu(name: str) -> None:
    assert 0.5 < sglang_memory_fraction(gpu_memory_gib=CATALOG[name].memory_gib) < 0.95
