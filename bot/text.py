"""Chat-neutral text rendering: cards, plans, lists, status, thread replies and DMs as plain lines.

What the shell adapter prints, and what any other text surface (a log, an email) could reuse. Pure
functions from domain objects (views, plans, actions) to lists of lines: no I/O, no clock (callers pass
`now`), no Slack imports. Slack-flavoured markup in shared sentences (`<@U123>`, `*bold*`, links) is
turned into plain text by `plain`. Not for: deciding anything, or numbering choices (that is the
adapter's job; `choices_line` only lays out numbers it is given).

The API key appears only in `ready_lines`, the one message that must show it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.plan_text import capacity_line, context
from core.clock import as_utc
from core.endpoints import messaging
from core.endpoints.cold_stats import LaunchHistory
from core.endpoints.records import replica_bounds
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView, UsageView
from core.fit.plan import Plan
from core.notifier import Action, ActionKind
from core.units import format_duration, format_money

S = EndpointState

STATE_WORDS: dict[EndpointState, str] = {
    S.REQUESTED: "requested",
    S.PROVISIONING: "provisioning GPUs",
    S.STARTING: "starting (the engine is loading weights)",
    S.READY: "ready",
    S.STOPPING: "stopping",
    S.STOPPED: "stopped",
    S.FAILED: "failed",
    S.LOST: "lost (the cluster vanished)",
}
ACTION_LABELS: dict[ActionKind, str] = {
    "stop": "Stop",
    "extend_1h": "Extend +1h",
    "extend_4h": "Extend +4h",
    "keep_alive": "Keep alive",
}

_MENTION = re.compile(r"<([@#!])([^<>|]+)(?:\|([^<>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^<>|]+)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_EMOJI = re.compile(r"(?<![\w:]):[a-z0-9_+-]+:(?![\w:])\s?")


def plain(text: str) -> str:
    """Slack mrkdwn to terminal text: `<@U1>` -> `@U1`, `<#C1>` -> `#C1`, `<url|label>` -> `label (url)`,
    `<!date^...|fallback>` -> fallback, `*bold*` -> bold, `:emoji:` dropped. Backticks stay (they mark
    values you can copy)."""

    def mention(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil == "!":
            return label or target
        return f"{sigil}{label or target}"

    def link(match: re.Match[str]) -> str:
        url, label = match.groups()
        return f"{label} ({url})" if label and label != url else url

    text = _LINK.sub(link, text)
    text = _MENTION.sub(mention, text)
    text = _BOLD.sub(r"\1", text)
    text = _EMOJI.sub("", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# --- small pieces -----------------------------------------------------------------------------------

NOTHING_FITS = "No GPU shape in the catalogue fits this model. Try a quantized checkpoint."


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 request`, `1,200 requests`, `0 requests`: a count with its noun in the right number."""
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


def price(view: EndpointView) -> str:
    per_hour = f"{format_money(view.price_per_hour)}/h"
    text = f"~{per_hour} (estimate)" if view.price_is_estimate else per_hour
    if view.is_service:  # the price counts every replica it may run (core.endpoints.service_flow)
        low, high = replica_bounds(view.options)
        text += f" for {high} replicas" if low == high else f" at most ({high} replicas)"
    return text


def parallelism(plan: Plan | None) -> str:
    """`TP 2 · DP 1 · EP 1 · PP 1` from a recorded plan (`unknown` when there is none)."""
    if plan is None:
        return "unknown"
    parts = [
        f"TP {plan.tensor_parallel}",
        f"DP {plan.data_parallel}",
        f"EP {plan.expert_parallel}",
        f"PP {plan.pipeline_parallel}",
    ]
    nodes = plan.nodes or 1
    return " · ".join(parts) + (f" · {nodes} nodes" if nodes > 1 else "")


def utc(when: datetime) -> str:
    return f"{as_utc(when):%Y-%m-%d %H:%M} UTC"


def uptime(view: EndpointView, *, now: datetime) -> str:
    """How long it has run (provisioned, or requested, until stopped or `now`)."""
    return format_duration(messaging.uptime_of(view, now=now) or timedelta(0))


def card_actions(view: EndpointView) -> tuple[Action, ...]:
    """The buttons a card offers: Stop and Extend while it is live, none once stopping or gone."""
    if view.state.is_terminal or view.state == S.STOPPING:
        return ()
    kinds: tuple[ActionKind, ...] = ("stop", "extend_1h", "extend_4h")
    return tuple(Action(kind=k, label=ACTION_LABELS[k], endpoint_name=view.name) for k in kinds)


def choices_line(numbered: Sequence[tuple[int, Action]]) -> str:
    """`[1] Stop qwen-7b  [2] Extend +1h  [3] Extend +4h`: each endpoint's name follows its first choice."""
    parts: list[str] = []
    named: set[str] = set()
    for number, action in numbered:
        label = action.label
        if action.endpoint_name not in named:
            label = f"{label} {action.endpoint_name}"
            named.add(action.endpoint_name)
        parts.append(f"[{number}] {label}")
    return "  ".join(parts)


# --- the status card --------------------------------------------------------------------------------


def card_notes(view: EndpointView, *, now: datetime, expires: Callable[[datetime], str] = utc) -> list[str]:
    """The card's running notes: cost so far, uptime, cap, expiry (rendered by `expires`), URL when READY."""
    notes = [f"cost so far {format_money(view.cost_so_far)}", f"up {uptime(view, now=now)}"]
    if view.replicas_text and not view.state.is_terminal:  # a SkyServe service: replicas ready / total
        notes.insert(0, view.replicas_text)
    if view.max_cost:
        notes.append(f"cap {format_money(view.max_cost)}")
    if not view.state.is_terminal:
        notes.append(f"expires {expires(as_utc(view.expires_at))}")
    if view.url and view.state == S.READY:
        notes.append(f"URL {view.url}/v1")
    return notes


def card_lines(view: EndpointView, *, now: datetime) -> list[str]:
    """The status card: what runs where, how it is split, what it costs, who owns it, where it stands."""
    plan, options = view.plan, view.options
    lines = [
        f"{view.name}: {view.model} on {view.accelerators}: {STATE_WORDS[view.state]}",
        f"  {view.engine} · {parallelism(plan)} · context {context(plan, options.max_model_len)} · {price(view)} · "
        f"owner @{view.owner_id}",
    ]
    capacity = capacity_line(plan)
    if capacity:
        lines.append(f"  {capacity}")
    lines.append("  " + " · ".join(card_notes(view, now=now)))
    if view.lifecycle.cold_start is not None:
        lines.append("  " + messaging.cold_start_text(view.lifecycle.cold_start))
    if view.state == S.FAILED and view.failure_reason:
        lines.append(f"  failed: {plain(view.failure_reason)}")
    elif view.state.is_terminal and view.stop_reason:
        lines.append(f"  {plain(view.stop_reason)}")
    return lines


def usage_line(usage: UsageView) -> str:
    """`1,200 requests · 34,000 prompt tokens · 1 generated token · ttft_p50 0.21s · $0.12 per 1M output tokens`."""
    line = (
        f"{counted(int(usage.requests), 'request')} · {counted(int(usage.prompt_tokens), 'prompt token')} · "
        f"{counted(int(usage.generation_tokens), 'generated token')}"
    )
    if usage.latency:
        line += " · " + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(usage.latency.items()))
    if usage.cost_per_million_output_tokens is not None:
        line += f" · {format_money(usage.cost_per_million_output_tokens)} per 1M output tokens"
    return line


def status_lines(view: EndpointView, *, now: datetime) -> list[str]:
    """`status NAME`: the card, plus usage and latency when the watchdog has read any."""
    lines = card_lines(view, now=now)
    if view.usage:
        lines.append("  " + usage_line(view.usage))
    return lines


# --- thread replies ---------------------------------------------------------------------------------


KEY_SHOWN_ONCE = "This is the only time the key is shown; keep it somewhere safe."


def curl_command(view: EndpointView, *, api_key: str, break_lines: bool = False) -> str:
    """A copy-paste chat completion against the endpoint; every value shell-quoted. With the endpoint's
    own CA, `--cacert ca.pem` (the certificate posted with it). `break_lines` puts each option on its own
    continued line (for a code block)."""
    base = (view.url or "").rstrip("/")
    body = json.dumps({"model": view.model, "messages": [{"role": "user", "content": "Hello!"}]})
    parts = [f"curl {shlex.quote(base + '/v1/chat/completions')}"]
    if view.tls.ca_cert_pem:
        parts.append(f"--cacert {CA_FILE}")
    parts += [
        f"-H {shlex.quote('Authorization: Bearer ' + api_key)}",
        "-H 'Content-Type: application/json'",
        f"-d {shlex.quote(body)}",
    ]
    return (" \\\n  " if break_lines else " ").join(parts)


CA_FILE = "ca.pem"


def python_snippet(view: EndpointView, *, api_key: str) -> str:
    """The OpenAI Python client against the endpoint; with its own CA, an httpx client that trusts it."""
    base = (view.url or "").rstrip("/")
    head = "from openai import OpenAI\n\n"
    client = f"client = OpenAI(base_url={json.dumps(base + '/v1')}, api_key={json.dumps(api_key)})\n"
    if view.tls.ca_cert_pem:
        head = f"import ssl\n\nimport httpx\nfrom openai import OpenAI\n\n# {CA_FILE}: this endpoint's CA, posted with it\n"
        client = (
            "client = OpenAI(\n"
            f"    base_url={json.dumps(base + '/v1')},\n"
            f"    api_key={json.dumps(api_key)},\n"
            f'    http_client=httpx.Client(verify=ssl.create_default_context(cafile="{CA_FILE}")),\n'
            ")\n"
        )
    return (
        head + client + "reply = client.chat.completions.create(\n"
        f"    model={json.dumps(view.model)},\n"
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )


def tls_sentence(view: EndpointView) -> str:
    """How the endpoint serves HTTPS, in a sentence (no certificate text)."""
    if view.tls.ca_cert_pem:
        return (
            f"HTTPS with this endpoint's own certificate authority: save the certificate below as `{CA_FILE}` "
            f"and have clients trust it (the snippets do). SHA-256 fingerprint: {view.tls.fingerprint}"
        )
    if view.tls.enabled:
        return "HTTPS with the team's certificate: clients verify it with their usual trust store."
    return messaging.plain_http_warning(view)


def ready_lines(view: EndpointView, *, api_key: str) -> list[str]:
    """URL, API key (shown this once), how TLS works, the CA certificate, a copy-paste curl command."""
    base = (view.url or "").rstrip("/")
    lines = [
        f"{view.name} is ready.",
        f"  URL      {base}/v1",
        f"  API key  {api_key}",
        f"  {KEY_SHOWN_ONCE}",
        f"  {tls_sentence(view)}",
    ]
    if view.tls.ca_cert_pem:
        lines += [f"  {line}" for line in view.tls.ca_cert_pem.strip().splitlines()]
    lines.append(f"  try: {curl_command(view, api_key=api_key)}")
    return lines


# --- fit ----------------------------------------------------------------------------------------------


def memory_line(plan: Plan) -> str:
    mem = plan.memory_per_gpu_gib
    return (
        f"per GPU: weights {mem.weights:.1f} GiB + KV {mem.kv_cache:.1f} GiB + overhead {mem.overhead:.1f} GiB"
        f" = {mem.total:.1f} of {mem.usable:.1f} GiB usable"
    )


def does_not_fit_lines(plan: Plan) -> list[str]:
    """Why a model does not fit, and what would, with $/hour. Nothing was launched."""
    lines = [f"{plan.model_id} does not fit on {plan.accelerators} ({plan.engine}). Nothing was launched."]
    lines += [f"  - {plain(reason)}" for reason in plan.reasons] or ["  - (no reason given)"]
    lines.append(f"  {memory_line(plan)}")
    if plan.suggestions:
        lines.append("  Would fit:")
        lines += [
            f"  - {plain(s.summary)}: {s.accelerators}, {format_money(s.price_per_hour)}/h"
            for s in plan.suggestions[:10]
        ]
    return lines


def plan_summary(plan: Plan) -> str:
    """`vllm · TP 1 · DP 1 · EP 1 · PP 1 · context 8,192 tokens · $0.71/h`."""
    return (
        f"{plan.engine} · TP {plan.tensor_parallel} · DP {plan.data_parallel} · EP {plan.expert_parallel} · "
        f"PP {plan.pipeline_parallel} · context {plan.max_context_tokens:,} tokens · "
        f"{format_money(plan.price_per_hour)}/h"
    )


def plan_lines(plan: Plan) -> list[str]:
    """One fitting plan: layout, context, price, memory and warnings."""
    lines = [
        f"{plan.model_id} fits on {plan.accelerators}: {plan_summary(plan)}",
        f"  {memory_line(plan)}",
    ]
    capacity = capacity_line(plan)
    if capacity:
        lines.append(f"  {capacity}")
    lines += [f"  warning: {plain(w)}" for w in plan.warnings]
    return lines


def fit_lines(plans: Sequence[Plan]) -> list[str]:
    """The reply to `fit`: one verdict, or the cheapest shapes that fit."""
    if not plans:
        return [NOTHING_FITS]
    if len(plans) == 1 and not plans[0].fits:
        return does_not_fit_lines(plans[0])
    lines: list[str] = []
    for plan in plans:
        lines += plan_lines(plan)
    return lines


# --- lists and replies --------------------------------------------------------------------------------


def endpoint_line(view: EndpointView, *, now: datetime) -> str:
    return (
        f"{view.name} · {view.model} · {view.accelerators} · {STATE_WORDS[view.state]} · "
        f"up {uptime(view, now=now)} · {price(view)} · {format_money(view.cost_so_far)} so far · "
        f"@{view.owner_id}"
    )


def no_endpoints(*, include_terminal: bool) -> str:
    word = "endpoints" if include_terminal else "live endpoints"
    return f"No {word}. Start one with `/endpoint up MODEL ACCEL`."


def list_lines(views: Sequence[EndpointView], *, now: datetime, include_terminal: bool) -> list[str]:
    if not views:
        return [no_endpoints(include_terminal=include_terminal)]
    return [endpoint_line(v, now=now) for v in views]


def launching_reply(view: EndpointView, *, where: str = "Progress follows in its thread.") -> str:
    return f"Launching `{view.name}` ({view.model} on {view.accelerators}, {price(view)}). {where}"


def stopping_reply(view: EndpointView) -> str:
    return f"Stopping `{view.name}`; the summary follows in its thread."


def already_reply(view: EndpointView) -> str:
    return f"`{view.name}` is already {view.state.value.lower()}; nothing to do."


def extended_reply(view: EndpointView, *, now: datetime) -> str:
    expires = as_utc(view.expires_at)
    return f"`{view.name}` now expires at {utc(expires)} (in {format_duration(expires - now)})."


def kept_alive_reply(view: EndpointView) -> str:
    return f"`{view.name}` stays up: its idle clock starts again now."


def confirm_stop_question(endpoint_name: str) -> str:
    """What the shell asks before a Stop choice (Slack's confirm dialog)."""
    return (
        f"Stop `{endpoint_name}`? This tears down its GPUs; the URL and API key stop working. "
        "It cannot be undone. [y/N]"
    )


def stats_title(contains: str | None) -> str:
    about = f" matching `{contains}`" if contains else ""
    return f"Cold starts{about} (median time from `up` to ready, by model, GPUs and engine):"


def history_line(past: LaunchHistory) -> str:
    """`Qwen/Qwen2.5-7B-Instruct on L4:1 (vllm): 7m12s over 3 launches: provisioning 3m5s, ...`."""
    over = counted(past.launches, "launch", "launches")
    phases = f": {messaging.phases_text(past.phases)}" if past.phases else ""
    return (
        f"{past.model} on {past.accelerators} ({past.engine}): "
        f"{messaging.phase_duration(past.total_s)} over {over}{phases}"
    )


def stats_lines(history: Sequence[LaunchHistory], *, contains: str | None = None) -> list[str]:
    """`stats [WORD]`: what `up` costs in minutes, from launches that reached READY."""
    if not history:
        about = f" matching `{contains}`" if contains else ""
        return [f"No finished launches{about} yet: the medians appear once launches have become ready."]
    return [stats_title(contains)] + [f"  {history_line(past)}" for past in history]


def log_lines(name: str, events: Sequence[dict[str, Any]]) -> list[str]:
    """`log NAME`: who launched, extended, kept alive, stopped; the watchdog's decisions; relaunches."""
    if not events:
        return [f"`{name}` has no recorded events."]
    return [f"Audit trail of `{name}` ({counted(len(events), 'event')}, times UTC):"] + [
        f"{e['at']:%Y-%m-%d %H:%M:%S} · {e['actor']} · {e['kind']} · {e['message']}" for e in events
    ]
