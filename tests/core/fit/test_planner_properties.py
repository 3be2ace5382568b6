"""Properties of the layout planner, over every fixture model and many GPU shapes (hypothesis).

1. If some TP x PP layout the engine accepts holds the asked context, the plan fits (the planner never
   misses a layout that works).
2. DP never makes a fitting plan not fit: a plan that fits on N GPUs still fits on 2N, and every
   data-parallel replica fits on its own TP x PP GPUs.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.fit.assess import assess, size_layout
from core.fit.parallelism import Layout, layout_problem
from core.fit.plan import FitOptions
from core.fit.quantization import decide_quantization, resolve_dtype
from core.fit.reasons import Reason, ReasonKind
from core.gpus import CATALOG, AcceleratorRequest
from tests.core.fit.conftest import CONFIGS, facts_of

MODELS = sorted(
    path.stem.replace("--", "/", 1) for path in CONFIGS.glob("*.json") if not path.stem.startswith("custom--")
)
GPUS = ["L4", "A10G", "A100", "A100-80GB", "H100", "H200", "L40S", "T4"]
CONTEXTS = [None, 2048, 8192, 32768, 131072]
MEMORY_REASONS = {ReasonKind.KV_ROOM, ReasonKind.WEIGHTS, ReasonKind.LAYOUT, ReasonKind.PINNED_LAYOUT}

PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,  # no .hypothesis/ directory in the worktree
)


def _memory_reason(reasons: list[Reason]) -> bool:
    return any(r.kind in MEMORY_REASONS for r in reasons)


def _every_tp_pp(count: int, per_node: int) -> list[Layout]:
    """Every TP x PP split of all `count` GPUs with TP inside a node (the oracle: no DP, no ordering)."""
    out = []
    for tp in range(1, per_node + 1):
        if per_node % tp or count % tp:
            continue
        out.append(Layout(tp, count // tp, 1))
        out.append(Layout(tp, count // tp, 1, expert_parallel=True))
    return out


@PROPERTY_SETTINGS
@given(
    model=st.sampled_from(MODELS),
    gpu=st.sampled_from(GPUS),
    count=st.sampled_from([1, 2, 4, 8]),
    context=st.sampled_from(CONTEXTS[1:]),
)
def test_if_some_tp_pp_holds_the_context_the_plan_fits(model, gpu, count, context):
    facts = facts_of(model)
    accel = AcceleratorRequest(CATALOG[gpu], count)
    options = FitOptions(max_model_len=min(context, facts.max_context_allowed))
    decision = decide_quantization(facts, options)
    _, dtype_bytes, _ = resolve_dtype(facts, options, accel.gpu)
    holds = False
    for layout in _every_tp_pp(count, accel.gpus_per_node):
        if layout.pp > facts.num_layers or (layout.expert_parallel and facts.moe is None):
            continue
        if layout_problem(facts, layout, engine="vllm"):
            continue
        sized = size_layout(facts, accel, options, layout, decision=decision, dtype_bytes=dtype_bytes,
                            draft=None, cap=options.max_model_len)  # fmt: skip
        if sized.max_tokens >= options.max_model_len:
            holds = True
            break
    plan = assess(facts, accel, options)
    if holds:
        assert not _memory_reason(plan.refusals), (model, gpu, count, context, plan.reasons)


@PROPERTY_SETTINGS
@given(
    model=st.sampled_from(MODELS),
    gpu=st.sampled_from(GPUS),
    count=st.sampled_from([1, 2, 4]),
    context=st.sampled_from(CONTEXTS),
)
def test_data_parallel_never_turns_a_fitting_plan_into_one_that_does_not(model, gpu, count, context):
    facts = facts_of(model)
    spec = CATALOG[gpu]
    if 2 * count > spec.gpus_per_node:
        return
    asked = None if context is None else min(context, facts.max_context_allowed)
    options = FitOptions(max_model_len=asked)
    small = assess(facts, AcceleratorRequest(spec, count), options)
    if not small.fits:
        return
    double = assess(facts, AcceleratorRequest(spec, 2 * count), options)
    assert double.fits, (model, gpu, count, context, double.reasons)
    if asked is not None:
        assert double.max_context_tokens == asked
    # Each replica of the bigger plan holds the model and the context on its own GPUs.
    replica = double.tensor_parallel * double.pipeline_parallel
    alone = assess(
        facts,
        AcceleratorRequest(spec, replica),
        FitOptions(max_model_len=double.max_context_tokens, tensor_parallel=double.tensor_parallel),
    )
    assert alone.fits, (model, gpu, replica, alone.reasons)
