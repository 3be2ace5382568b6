"""The fit check's one entry point: `fit(request, settings=...)`, used by every surface.

`endpoint-bot fit` calls it directly; the chat commands (`fit ...` in Slack and the shell) and `up`'s
own check reach it through `EndpointService.fit` / `EndpointService._prepare`, which pass their own
facts loader (it refuses local directories to chat users and words loading errors for them). It needs
no database: model facts come from the Hub loader's caches (`core.hub.load_model_facts`), the verdict
from `check_fit` (GPUs given) or `cheapest_shapes` (no GPUs: the cheapest catalogue shapes that fit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.facts import ModelFacts
from core.fit.check import check_fit
from core.fit.plan import FitOptions, Plan
from core.fit.reasons import Reason, ReasonKind
from core.fit.rope import yarn_hint
from core.fit.shapes import cheapest_shapes
from core.gpus import AcceleratorRequest, parse_accelerators
from core.hub import load_model_facts
from core.settings import Settings

FactsLoader = Callable[[str], ModelFacts]
NO_SHAPE = "No catalogue shape of up to 8 nodes fits this model with these options."


@dataclass(frozen=True)
class FitRequest:
    """A model, optionally GPUs (NAME:COUNT), and the options asked for."""

    model: str  # Hub repo id (`org/name`, `org/name@rev`) or a local directory
    accelerators: str | None = None  # None: search the catalogue for the cheapest shapes
    options: FitOptions = field(default_factory=FitOptions)


@dataclass(frozen=True)
class FitResult:
    """The verdict: one plan for the GPUs asked for, or the cheapest shapes that fit (maybe none)."""

    facts: ModelFacts
    options: FitOptions
    accel: AcceleratorRequest | None  # None: a catalogue search
    plans: list[Plan]

    @property
    def plan(self) -> Plan:
        """The plan for the GPUs asked for (a catalogue search: the cheapest shape)."""
        return self.plans[0]

    @property
    def fits(self) -> bool:
        return bool(self.plans) and self.plans[0].fits

    @property
    def yarn_hint(self) -> str | None:
        """A context beyond the native one that the vendor's YaRN would reach: how to ask for it."""
        if self.options.rope_scaling:
            return None
        return yarn_hint(self.facts, self.options.max_model_len or 0)

    def shape_reasons(self) -> list[Reason]:
        """Why a catalogue search found nothing: no shape fits, and a context beyond the model's maximum."""
        reasons = [Reason(ReasonKind.NO_SHAPE, NO_SHAPE)]
        asked, allowed = self.options.max_model_len, self.facts.max_context_allowed
        if asked and asked > allowed and not self.options.rope_scaling:
            sentence = yarn_hint(self.facts, asked) or (
                f"{self.facts.model_id} supports at most {allowed:,} tokens; ask for less."
            )
            reasons.append(Reason(ReasonKind.CONTEXT, sentence))
        return reasons


def fit(request: FitRequest, *, settings: Settings, load_facts: FactsLoader | None = None) -> FitResult:
    """Check `request`; the GPUs are parsed before any Hub request, so a typo costs nothing.

    `load_facts(model)` defaults to `core.hub.load_model_facts` with `settings`. Raises the loader's
    and the GPU parser's `UserFacingError`s; a plan that does not fit is a result, not an error.
    """
    accel = parse_accelerators(request.accelerators) if request.accelerators is not None else None
    load = load_facts or _hub_loader(settings)
    options = request.options
    facts = load(request.model)
    draft = load(options.draft_model) if options.draft_model else None
    if accel is not None:
        plans = [check_fit(facts, accel, options, draft_facts=draft)]
    else:
        plans = cheapest_shapes(facts, options, draft_facts=draft)
    return FitResult(facts=facts, options=options, accel=accel, plans=plans)


def _hub_loader(settings: Settings) -> FactsLoader:
    def load(model: str) -> ModelFacts:
        return load_model_facts(model, settings=settings)

    return load
