"""YaRN rope scaling: serving a model beyond its native context where its vendor documents how.

Qwen2/Qwen2.5 (32,768 native), QwQ and Qwen3 (40,960 in config.json) document static YaRN up to
131,072 tokens, with the factor multiplying an original length of 32,768 (`core.facts.documented_yarn`).
`rope=yarn` asks for it: factor = asked context / 32,768 (4 when no context is given), the KV cache is
sized for the longer context, and the engines get the override through their own flags
(`core.engines.commands`). Static YaRN scales short inputs too (Qwen's cards say it may cost quality
there), so the bot offers it when a context beyond the native one is asked for; it never imposes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.facts import ModelFacts
from core.fit.plan import FitOptions
from core.units import format_tokens


@dataclass(frozen=True)
class RopeDecision:
    """What `rope_scaling` in the options does to a model."""

    facts: ModelFacts  # with the longer maximum context when YaRN applies
    params: dict[str, Any] | None = None  # the YaRN parameters the engine gets (Plan.rope_scaling)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def yarn_hint(facts: ModelFacts, asked: int) -> str | None:
    """The sentence for a context beyond the native one that documented YaRN would reach, else None."""
    if facts.yarn_original_context is None or facts.yarn_max_context is None:
        return None
    if not facts.max_context_allowed < asked <= facts.yarn_max_context:
        return None
    return (
        f"{facts.model_id} serves {facts.max_context_allowed:,} tokens natively; {asked:,} needs YaRN rope "
        f"scaling, which its vendor documents up to {format_tokens(facts.yarn_max_context)} "
        f"(factor {asked / facts.yarn_original_context:g} on {facts.yarn_original_context:,}): add `rope=yarn` "
        "(CLI: `--rope yarn`), or ask for a shorter context."
    )


def apply_rope_scaling(facts: ModelFacts, options: FitOptions) -> RopeDecision:
    """The facts as the engine will see them with `options.rope_scaling`, and what the engine gets."""
    kind = (options.rope_scaling or "").lower()
    if not kind:
        return RopeDecision(facts)
    if kind != "yarn":
        return RopeDecision(
            facts, reasons=[f"Unknown RoPE scaling `{options.rope_scaling}`; the bot knows `yarn`."]
        )
    native = facts.max_context_allowed
    asked = options.max_model_len
    original, longest = facts.yarn_original_context, facts.yarn_max_context
    if original is None or longest is None:
        if facts.rope_scaling_type == "yarn":
            return RopeDecision(
                facts,
                warnings=[
                    f"{facts.model_id}'s config.json applies YaRN already (up to {native:,} tokens); "
                    "`rope=yarn` changes nothing."
                ],
            )
        return RopeDecision(
            facts,
            reasons=[
                f"{facts.model_id} has no documented YaRN length: its vendor does not say how far rope "
                f"scaling stretches it, so the bot will not guess. Drop `rope=yarn` and ask for at most "
                f"{format_tokens(native)} tokens."
            ],
        )
    if asked is not None and asked <= native:
        return RopeDecision(
            facts,
            warnings=[
                f"{asked:,} tokens fit {facts.model_id}'s native {native:,}: served without YaRN (static YaRN "
                "also scales short inputs, which can cost quality)."
            ],
        )
    if asked is not None and asked > longest:
        return RopeDecision(
            facts,
            reasons=[
                f"YaRN for {facts.model_id} is documented up to {longest:,} tokens ({format_tokens(longest)}, "
                f"factor {longest / original:g} on {original:,}); the bot will not stretch it further. Ask for "
                f"{format_tokens(longest)} or less."
            ],
        )
    target = asked if asked is not None else longest
    factor = target / original  # exact in binary: original is a power of two
    params: dict[str, Any] = {
        "rope_type": "yarn",
        "factor": factor,
        "original_max_position_embeddings": original,
        "max_position_embeddings": target,
    }
    if facts.rope_theta is not None:
        params["rope_theta"] = facts.rope_theta
    stretched = replace(facts, max_position_embeddings=target, model_max_length=None)
    note = (
        f"Context stretched to {format_tokens(target)} with YaRN (factor {factor:g} on the original "
        f"{original:,} tokens), as {facts.model_id}'s vendor documents; static YaRN also scales short inputs."
    )
    return RopeDecision(stretched, params=params, warnings=[note])
