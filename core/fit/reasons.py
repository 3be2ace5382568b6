"""Why a plan does not fit: each reason is a sentence for people and a kind for code.

The sentence is what every surface shows (Slack, shell, `fit` text and `--json` `reasons`); the kind is
what code decides by (the suggestions, the tests), so no rule depends on the wording of a sentence.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class ReasonKind(enum.StrEnum):
    """What kind of limit a reason is about."""

    WEIGHTS = "weights"  # the weights alone do not fit the GPUs' memory
    KV_ROOM = "kv_room"  # the weights fit, the KV cache of one request of the context does not
    LAYOUT = "layout"  # no tensor/pipeline split the model's heads and experts allow on these GPUs
    PINNED_LAYOUT = "pinned_layout"  # the pinned tensor parallel size cannot be used here
    CONTEXT = "context"  # a context beyond the model's maximum
    ROPE = "rope"  # the RoPE scaling asked for cannot be applied
    QUANTIZATION = "quantization"  # the quantization asked for does not go with the checkpoint
    QUANTIZATION_SUPPORT = "quantization_support"  # the engine cannot run the quantization on this GPU
    HARDWARE = "hardware"  # the GPU is too old for the engine, or for the dtype asked for
    FRACTION = "fraction"  # a memory fraction that leaves too little outside the engine's budget
    ENGINE_OPTION = "engine_option"  # an option the engine refuses at start-up (core.engines rules)
    NO_SHAPE = "no_shape"  # `fit MODEL` without GPUs: no catalogue shape fits
    UNKNOWN = "unknown"  # read back from a plan stored before reasons had kinds


@dataclass(frozen=True)
class Reason:
    """One reason a plan does not fit."""

    kind: ReasonKind
    text: str  # the sentence people read: what is wrong and what to do instead


def reasons_of(kind: ReasonKind, texts: Iterable[str]) -> list[Reason]:
    """Sentences from a rule that speaks in plain strings, all of one kind."""
    return [Reason(kind, text) for text in texts]


def unique(reasons: Iterable[Reason]) -> list[Reason]:
    """Each sentence once, in first-seen order (two rules may say the same thing)."""
    seen: dict[str, Reason] = {}
    for reason in reasons:
        seen.setdefault(reason.text, reason)
    return list(seen.values())
