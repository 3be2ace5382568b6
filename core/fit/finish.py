"""The last step of every plan the fit check hands out: the engine's own refusals and the argv.

`check_fit` (one accelerator request) and `cheapest_shapes` (the catalogue search) both end here,
so neither imports the other.
"""

from __future__ import annotations

from dataclasses import replace

from core.engines import build_engine_command, engine_rejections
from core.fit.plan import FitOptions, Plan
from core.fit.reasons import ReasonKind, reasons_of


def finish_plan(plan: Plan, options: FitOptions) -> Plan:
    """Add the engine's own refusals to the reasons and the argv to the plan."""
    said = set(plan.reasons)
    rejections = reasons_of(
        ReasonKind.ENGINE_OPTION,
        (r for r in engine_rejections(engine=options.engine, options=options) if r not in said),
    )
    plan = replace(plan, refusals=plan.refusals + rejections, fits=plan.fits and not rejections)
    return replace(plan, engine_command=build_engine_command(plan))
