"""`check_fit`: the full verdict for a model on the GPUs asked for, with the engine command and,
when it does not fit, the smallest changes that would (each with its price).
"""

from __future__ import annotations

from dataclasses import replace

from core.engines import engine_rejections
from core.facts import ModelFacts
from core.fit.assess import assess
from core.fit.finish import finish_plan
from core.fit.plan import FitOptions, Plan
from core.fit.suggestions import suggest
from core.gpus import AcceleratorRequest


def alternatives_note(accel: AcceleratorRequest) -> str:
    """Which catalogue names a spelling like `H100-SXM5` launches on (SkyPilot takes the first available)."""
    names = " or ".join(f"`{name}`" for name in accel.names)
    launch = f"the launch takes whichever of {names} is available"
    if not accel.spelled or "," in accel.spelled:
        return launch[0].upper() + launch[1:] + " (the same GPU under several catalogue names)."
    return f"`{accel.spelled}` is listed under several names in SkyPilot's catalogue: {launch}."


def check_fit(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    *,
    draft_facts: ModelFacts | None = None,
) -> Plan:
    """Does `facts` fit `accel` with `options`? A `Plan` with layout, context, memory per GPU, price,
    engine argv, every reason it does not fit and suggestions that would."""
    plan = finish_plan(assess(facts, accel, options, draft_facts=draft_facts), options)
    if accel.alternatives:
        plan = replace(plan, warnings=[*plan.warnings, alternatives_note(accel)])
    if not plan.fits and not engine_rejections(engine=options.engine, options=options):
        # (When the engine refuses an option outright, the fix is that option, not other hardware.)
        plan = replace(plan, suggestions=suggest(facts, accel, options, plan, draft_facts=draft_facts))
    return plan
