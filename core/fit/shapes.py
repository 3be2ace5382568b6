"""Catalogue search: the cheapest GPU shapes a model fits on (`fit MODEL` with no ACCEL), and the
building block of the "another GPU" and "more GPUs" suggestions.

Kept cheap (the fit check's budget is a few milliseconds): a lower bound on the GPU count from the
weights alone skips shapes that cannot fit, and GPU types are visited cheapest-bound first so the
search stops once nothing left can beat the shapes already found.
"""

from __future__ import annotations

import math

from core.facts import ModelFacts
from core.fit.assess import assess
from core.fit.finish import finish_plan
from core.fit.memory import GIB, VLLM_DEFAULT_MEMORY_FRACTION
from core.fit.plan import FitOptions, Plan
from core.gpus import CATALOG, AcceleratorRequest, GpuSpec
from core.pricing import price_per_hour

MAX_NODES = 8  # the search never proposes more than this many nodes


def allowed_counts(gpu: GpuSpec, *, max_nodes: int = MAX_NODES) -> list[int]:
    """GPU counts worth proposing: powers of two within a node, the full node, then whole nodes."""
    counts = [n for n in (1, 2, 4, 8, 16) if n <= gpu.gpus_per_node]
    if gpu.gpus_per_node not in counts:
        counts.append(gpu.gpus_per_node)
    counts += [gpu.gpus_per_node * k for k in (2, 4, 8) if k <= max_nodes]
    return sorted(set(counts))


def min_gpus(facts: ModelFacts, gpu: GpuSpec, options: FitOptions, *, draft: ModelFacts | None = None) -> int:
    """A lower bound on the GPUs needed: every GPU holds at least weights / count."""
    weight_bytes = facts.weight_bytes + (draft.weight_bytes if draft else 0)
    if options.quantization and facts.quantization is None:
        weight_bytes = weight_bytes * 0.5  # online 8-bit halves 16-bit weights at best
    if (options.dtype or "").lower() in {"float32", "float"}:
        weight_bytes *= 2
    fraction = options.memory_fraction or VLLM_DEFAULT_MEMORY_FRACTION
    room = gpu.memory_gib * fraction
    return max(1, math.ceil(weight_bytes / GIB / room))


def _distinct_gpus() -> list[GpuSpec]:
    """One GPU per (vendor, memory, architecture): the cheapest spelling of the same part."""
    best: dict[tuple[str, float, str], GpuSpec] = {}
    for gpu in CATALOG.values():
        key = (gpu.vendor, gpu.memory_gib, gpu.arch)
        if key not in best or gpu.price_per_gpu_hour < best[key].price_per_gpu_hour:
            best[key] = gpu
    return list(best.values())


def fitting_shapes(
    facts: ModelFacts,
    options: FitOptions,
    *,
    limit: int,
    draft_facts: ModelFacts | None = None,
    exclude: set[str] | None = None,
    min_count: dict[str, int] | None = None,
) -> list[Plan]:
    """The cheapest plan per GPU type that fits, cheapest first, at most `limit` of them."""
    bounded: list[tuple[float, GpuSpec, list[int]]] = []
    for gpu in _distinct_gpus():
        if exclude and gpu.name in exclude:
            continue
        floor = max(min_gpus(facts, gpu, options, draft=draft_facts), (min_count or {}).get(gpu.name, 1))
        counts = [n for n in allowed_counts(gpu) if n >= floor]
        if counts:
            bounded.append((price_per_hour(gpu, counts[0], live=False).per_hour, gpu, counts))
    bounded.sort(key=lambda item: item[0])
    found: list[Plan] = []
    for bound, gpu, counts in bounded:
        if len(found) >= limit and bound >= found[-1].price_per_hour:
            break
        for count in counts[:3]:  # KV may need a little more than the weights' bound; not 8x more
            plan = assess(facts, AcceleratorRequest(gpu, count), options, draft_facts=draft_facts)
            if plan.fits:
                found.append(plan)
                found.sort(key=lambda p: p.price_per_hour)
                del found[limit:]
                break
    return found


def cheapest_shapes(
    facts: ModelFacts, options: FitOptions, *, limit: int = 5, draft_facts: ModelFacts | None = None
) -> list[Plan]:
    """For `fit MODEL` with no ACCEL: the cheapest catalogue shapes that fit, with $/hour and argv."""
    plans = fitting_shapes(facts, options, limit=limit, draft_facts=draft_facts)
    return [finish_plan(plan, options) for plan in plans]
