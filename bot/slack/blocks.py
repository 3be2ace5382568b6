"""Block Kit builders: pure functions from domain objects (views, plans) to Slack blocks.

Built with `slack_sdk.models.blocks`, so Slack's limits (3000-char sections, 25 elements per
actions block, 100 blocks per Home view) are checked by `to_dict()` before anything is posted;
dynamic text is clipped to fit. No I/O here and no clock: callers pass `now`.

Buttons carry the endpoint name as their value and use the stable action ids in `ACTION_IDS`
(one per `core.notifier.ActionKind`), which the actions listener routes on.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.fit.plan import Plan
from core.notifier import Action, ActionKind
from core.units import format_duration, format_money

# Stable, documented action ids (docs/slack-setup.md). The value of every button is the endpoint name.
ACTION_IDS: dict[ActionKind, str] = {
    "stop": "endpoint_stop",
    "extend_1h": "endpoint_extend_1h",
    "extend_4h": "endpoint_extend_4h",
    "keep_alive": "endpoint_keep_alive",
}
ACTION_KINDS: dict[str, ActionKind] = {action_id: kind for kind, action_id in ACTION_IDS.items()}
DEFAULT_LABELS: dict[ActionKind, str] = {
    "stop": "Stop",
    "extend_1h": "Extend +1h",
    "extend_4h": "Extend +4h",
    "keep_alive": "Keep alive",
}

MESSAGE_BLOCK_LIMIT = 50
HOME_BLOCK_LIMIT = 100
SECTION_TEXT_LIMIT = 3000

STATE_EMOJI: dict[EndpointState, str] = {
    EndpointState.REQUESTED: ":hourglass_flowing_sand:",
    EndpointState.PROVISIONING: ":cloud:",
    EndpointState.STARTING: ":gear:",
    EndpointState.READY: ":large_green_circle:",
    EndpointState.STOPPING: ":octagonal_sign:",
    EndpointState.STOPPED: ":white_circle:",
    EndpointState.FAILED: ":red_circle:",
    EndpointState.LOST: ":warning:",
}
STATE_WORDS: dict[EndpointState, str] = {
    EndpointState.REQUESTED: "requested",
    EndpointState.PROVISIONING: "provisioning GPUs",
    EndpointState.STARTING: "engine starting, loading weights",
    EndpointState.READY: "ready",
    EndpointState.STOPPING: "stopping",
    EndpointState.STOPPED: "stopped",
    EndpointState.FAILED: "failed",
    EndpointState.LOST: "lost (the cluster vanished)",
}


# --- small helpers -------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters mrkdwn treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int = SECTION_TEXT_LIMIT) -> str:
    """Cut text to `limit` characters, saying so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_dicts(blocks: Iterable[Block]) -> list[dict[str, Any]]:
    """Validate (limits) and serialise blocks for the Web API."""
    return [block.to_dict() for block in blocks]


def _section(text: str, **kwargs: Any) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text)), **kwargs)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text))])


def price_text(view: EndpointView) -> str:
    price = f"{format_money(view.price_per_hour)}/h"
    return f"~{price} (estimate)" if view.price_is_estimate else price


def parallelism_text(plan: dict[str, Any]) -> str:
    """`TP 2 · DP 1 · EP 1 · PP 1` from a plan dict (empty plans read `unknown`)."""
    if not plan:
        return "unknown"
    parts = [
        f"{label} {plan.get(key, 1)}"
        for label, key in (
            ("TP", "tensor_parallel"),
            ("DP", "data_parallel"),
            ("EP", "expert_parallel"),
            ("PP", "pipeline_parallel"),
        )
    ]
    nodes = plan.get("nodes", 1)
    return " · ".join(parts) + (f" · {nodes} nodes" if nodes and nodes > 1 else "")


def context_text(plan: dict[str, Any], options: dict[str, Any]) -> str:
    tokens = plan.get("max_context_tokens") or options.get("max_model_len")
    if not tokens:
        return "model default"
    return f"{tokens // 1024}k tokens" if tokens % 1024 == 0 else f"{tokens:,} tokens"


def age(view: EndpointView, now: datetime) -> str:
    return format_duration(now - view.requested_at)


def uptime(view: EndpointView, now: datetime) -> str:
    start = view.provisioned_at or view.requested_at
    end = view.stopped_at or now
    return format_duration(end - start)


def button(action: Action, *, confirm: bool = True) -> ButtonElement:
    """A button for one Action; Stop is red and asks for confirmation."""
    style = "danger" if action.kind == "stop" else ("primary" if action.kind == "keep_alive" else None)
    confirm_object = None
    if action.kind == "stop" and confirm:
        confirm_object = ConfirmObject(
            title="Stop this endpoint?",
            text=clip(
                f"This tears down `{escape(action.endpoint_name)}` and its GPUs; the URL and API key stop "
                "working. It cannot be undone.",
                300,
            ),
            confirm="Stop it",
            deny="Keep it",
            style="danger",
        )
    return ButtonElement(
        text=clip(action.label, 75),
        action_id=ACTION_IDS[action.kind],
        value=action.endpoint_name,
        style=style,
        confirm=confirm_object,
    )


def actions_for(view: EndpointView) -> tuple[Action, ...]:
    """The buttons a live endpoint's card shows (none once it is stopping or gone)."""
    if view.state.is_terminal or view.state == EndpointState.STOPPING:
        return ()
    kinds: tuple[ActionKind, ...] = ("stop", "extend_1h", "extend_4h")
    return tuple(Action(kind=k, label=DEFAULT_LABELS[k], endpoint_name=view.name) for k in kinds)


def actions_block(actions: Sequence[Action], *, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=[button(a) for a in actions], block_id=block_id)


# --- the status card ------------------------------------------------------------------------------


def card_text(view: EndpointView) -> str:
    """The card's plain-text fallback (notifications, screen readers)."""
    return f"{view.name}: {view.model} on {view.accelerators} is {STATE_WORDS[view.state]}"


def status_card(view: EndpointView, *, now: datetime) -> list[Block]:
    """The endpoint's status card: what runs where, how it is split, what it costs, who owns it."""
    plan = view.plan or {}
    fields = [
        f"*Model*\n`{escape(view.model)}`",
        f"*GPUs*\n{escape(view.accelerators)}",
        f"*Parallelism*\n{parallelism_text(plan)}",
        f"*Context*\n{context_text(plan, view.options or {})}",
        f"*Engine*\n{escape(view.engine)}",
        f"*Price*\n{price_text(view)}",
        f"*Owner*\n<@{view.owner_id}>",
        f"*State*\n{STATE_EMOJI[view.state]} {STATE_WORDS[view.state]}",
    ]
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"{view.name}: {view.model}", 150)),
        SectionBlock(fields=[MarkdownTextObject(text=clip(f, 2000)) for f in fields]),
    ]
    notes = [f"Cost so far {format_money(view.cost_so_far)}", f"up {uptime(view, now)}"]
    if view.max_cost:
        notes.append(f"cap {format_money(view.max_cost)}")
    if not view.state.is_terminal:
        notes.append(
            f"expires <!date^{int(view.expires_at.timestamp())}^{{date_short_pretty}} {{time}}|{view.expires_at:%Y-%m-%d %H:%M} UTC>"
        )
    if view.url and view.state == EndpointState.READY:
        notes.append(f"URL {view.url}")
    blocks.append(_context(" · ".join(notes)))
    if view.state == EndpointState.FAILED and view.failure_reason:
        blocks.append(_section(f":red_circle: {escape(view.failure_reason)}"))
    elif view.state.is_terminal and view.stop_reason:
        blocks.append(_context(escape(view.stop_reason)))
    actions = actions_for(view)
    if actions:
        blocks.append(actions_block(actions, block_id=f"card_actions:{view.name}"))
    return blocks


# --- thread replies -------------------------------------------------------------------------------


def ready_snippets(view: EndpointView, api_key: str) -> tuple[str, str]:
    """A copy-paste curl command and an OpenAI Python client snippet for a ready endpoint."""
    base = (view.url or "").rstrip("/")
    body = json.dumps({"model": view.model, "messages": [{"role": "user", "content": "Hello!"}]})
    curl = (
        f"curl {shlex.quote(base + '/v1/chat/completions')} \\\n"
        f"  -H {shlex.quote('Authorization: Bearer ' + api_key)} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )
    python = (
        "from openai import OpenAI\n\n"
        f"client = OpenAI(base_url={json.dumps(base + '/v1')}, api_key={json.dumps(api_key)})\n"
        "reply = client.chat.completions.create(\n"
        f"    model={json.dumps(view.model)},\n"
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )
    return curl, python


def ready_blocks(view: EndpointView, *, api_key: str) -> list[Block]:
    curl, python = ready_snippets(view, api_key)
    return [
        _section(
            f":large_green_circle: *`{escape(view.name)}` is ready.*\n*URL* {view.url}/v1\n*API key* "
            f"`{api_key}`\nThis is the only time the key is shown; keep it somewhere safe."
        ),
        _section(f"*curl*\n```{curl}```"),
        _section(f"*OpenAI Python client*\n```{python}```"),
    ]


def ready_text(view: EndpointView) -> str:
    return f"{view.name} is ready at {view.url}/v1"


# --- fit, status, list ----------------------------------------------------------------------------


def _memory_line(plan: Plan) -> str:
    mem = plan.memory_per_gpu_gib
    return (
        f"per GPU: weights {mem.weights:.1f} GiB + KV {mem.kv_cache:.1f} GiB + overhead "
        f"{mem.overhead:.1f} GiB = {mem.total:.1f} of {mem.usable:.1f} GiB usable"
    )


def does_not_fit_blocks(plan: Plan) -> list[Block]:
    """The ephemeral refusal: why it does not fit, and shapes that would, with prices."""
    reasons = "\n".join(f"• {escape(r)}" for r in plan.reasons) or "• (no reason given)"
    blocks: list[Block] = [
        _section(
            f":no_entry: *`{escape(plan.model_id)}` does not fit on {escape(plan.accelerators)}* "
            f"({plan.engine}). Nothing was launched.\n{reasons}"
        ),
        _context(_memory_line(plan)),
    ]
    if plan.suggestions:
        lines = [
            f"• {escape(s.summary)}: `{escape(s.accelerators)}`, {format_money(s.price_per_hour)}/h"
            for s in plan.suggestions[:10]
        ]
        blocks.append(_section("*Would fit*\n" + "\n".join(lines)))
    return blocks


def does_not_fit_text(plan: Plan) -> str:
    return f"{plan.model_id} does not fit on {plan.accelerators}: " + "; ".join(plan.reasons)


def fit_blocks(plans: Sequence[Plan]) -> list[Block]:
    """The reply to `/endpoint fit`: one plan with its breakdown, or the cheapest shapes that fit."""
    if not plans:
        return [_section("No GPU shape in the catalogue fits this model. Try a quantized checkpoint.")]
    if len(plans) == 1 and not plans[0].fits:
        return does_not_fit_blocks(plans[0])
    blocks: list[Block] = []
    for plan in plans[: MESSAGE_BLOCK_LIMIT // 2]:
        head = f":white_check_mark: *`{escape(plan.model_id)}` fits on {escape(plan.accelerators)}*"
        detail = (
            f"{plan.engine} · TP {plan.tensor_parallel} · DP {plan.data_parallel} · EP {plan.expert_parallel}"
            f" · PP {plan.pipeline_parallel} · context {plan.max_context_tokens:,} tokens · "
            f"{format_money(plan.price_per_hour)}/h"
        )
        warnings = "".join(f"\n:warning: {escape(w)}" for w in plan.warnings)
        blocks.append(_section(f"{head}\n{detail}{warnings}"))
        blocks.append(_context(_memory_line(plan)))
    return blocks


def status_blocks(view: EndpointView, *, now: datetime) -> list[Block]:
    """`/endpoint status NAME`: the card plus usage and latency when known (no buttons on the copy)."""
    blocks = [b for b in status_card(view, now=now) if not isinstance(b, ActionsBlock)]
    usage = view.usage
    if usage:
        line = (
            f"{int(usage.requests):,} requests · {int(usage.prompt_tokens):,} prompt tokens · "
            f"{int(usage.generation_tokens):,} generated tokens"
        )
        if usage.latency:
            line += " · " + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(usage.latency.items()))
        if usage.cost_per_million_output_tokens is not None:
            line += f" · {format_money(usage.cost_per_million_output_tokens)} per 1M output tokens"
        blocks.append(_context(line))
    return blocks


def endpoint_line(view: EndpointView, *, now: datetime) -> str:
    """One line per endpoint in lists and App Home."""
    return (
        f"{STATE_EMOJI[view.state]} *{escape(view.name)}* · `{escape(view.model)}` · {escape(view.accelerators)}"
        f" · {STATE_WORDS[view.state]} · age {age(view, now)} · {price_text(view)} · "
        f"{format_money(view.cost_so_far)} so far · <@{view.owner_id}>"
    )


def list_blocks(views: Sequence[EndpointView], *, now: datetime, include_terminal: bool) -> list[Block]:
    if not views:
        word = "endpoints" if include_terminal else "live endpoints"
        return [_section(f"No {word}. Start one with `/endpoint up MODEL ACCEL`.")]
    shown = views[: MESSAGE_BLOCK_LIMIT - 1]
    blocks: list[Block] = [_section(endpoint_line(v, now=now)) for v in shown]
    if len(views) > len(shown):
        blocks.append(_context(f"…and {len(views) - len(shown)} more; see the App Home tab."))
    return blocks


def list_text(views: Sequence[EndpointView]) -> str:
    return f"{len(views)} endpoint(s)"


# --- App Home -------------------------------------------------------------------------------------


def home_view(
    *, user_id: str, mine: Sequence[EndpointView], team: Sequence[EndpointView], now: datetime
) -> View:
    """The App Home tab: your endpoints (with buttons), then the team's live ones, within 100 blocks."""
    budget = HOME_BLOCK_LIMIT - 8  # headers, dividers and truncation notes
    blocks: list[Block] = [HeaderBlock(text="Your endpoints")]
    if not mine:
        blocks.append(_section("None running. Start one with `/endpoint up MODEL ACCEL`."))
    shown_mine = 0
    for view in mine:
        needed = 2 if actions_for(view) else 1
        if budget - needed < 0:
            break
        blocks.append(_section(endpoint_line(view, now=now)))
        if actions_for(view):
            blocks.append(actions_block(actions_for(view), block_id=f"home_actions:{view.name}"))
        budget -= needed
        shown_mine += 1
    if shown_mine < len(mine):
        blocks.append(_context(f"…and {len(mine) - shown_mine} more of yours; `/endpoint list` shows all."))
    others = [v for v in team if v.owner_id != user_id]
    blocks += [DividerBlock(), HeaderBlock(text="Team's live endpoints")]
    if not others:
        blocks.append(_section("Nobody else has a live endpoint."))
    shown_team = others[: max(budget, 0)]
    blocks += [_section(endpoint_line(v, now=now)) for v in shown_team]
    if len(shown_team) < len(others):
        blocks.append(_context(f"…and {len(others) - len(shown_team)} more; `/endpoint list` shows all."))
    total = sum(v.price_per_hour for v in team if not v.state.is_terminal)
    blocks.append(_context(f"Team spend rate {format_money(total)}/h · updated {now:%H:%M} UTC"))
    return View(type="home", blocks=blocks)


# --- DMs and plain replies ------------------------------------------------------------------------


def dm_blocks(text: str, actions: Sequence[Action]) -> list[Block]:
    blocks: list[Block] = [_section(text)]
    if actions:
        blocks.append(actions_block(actions[:25]))
    return blocks


def text_blocks(text: str) -> list[Block]:
    """A plain mrkdwn reply, split into sections under the 3000-char limit."""
    chunks = [text[i : i + SECTION_TEXT_LIMIT] for i in range(0, len(text), SECTION_TEXT_LIMIT)] or [" "]
    return [_section(chunk) for chunk in chunks[:MESSAGE_BLOCK_LIMIT]]
