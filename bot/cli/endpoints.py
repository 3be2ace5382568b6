"""`endpoint-bot up / down / list / status / stats / extend / render / reconcile`: the lifecycle from a terminal.

The same `EndpointService` the chat adapters use, wired with a `ConsoleNotifier` (progress lines on
stdout). `up` waits until the launch ends (READY or FAILED) and prints the URL and API key once; `down`
waits until the cluster is confirmed gone. Whoever runs these commands has the bot's database and cloud
credentials already, so the CLI acts as an admin (`--as` only names who did it in the audit log).
`render` prints the SkyPilot task YAML `up` would launch, with every secret redacted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from bot.cli.options import model_options
from core.errors import UserFacingError
from core.units import format_duration, format_money, parse_duration, parse_money
from core.vocabulary import ENGINES, ROPE_SCALINGS

UP_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--engine", {"choices": list(ENGINES), "help": "serving engine (default: settings)"}),
    ("--max-model-len", {"type": str, "metavar": "TOKENS", "help": "context length, e.g. 32k"}),
    (
        "--rope",
        {
            "choices": list(ROPE_SCALINGS),
            "help": "yarn: beyond the native context, as Qwen2.5/Qwen3 document",
        },
    ),
    ("--quantization", {"help": "online quantization, e.g. fp8"}),
    ("--dtype", {"help": "auto, bfloat16, float16, float32"}),
    ("--kv-cache-dtype", {"help": "auto, fp8, fp8_e4m3, fp8_e5m2"}),
    (
        "--tensor-parallel-size",
        {"type": int, "metavar": "N", "help": "pin TP (default: the fit check picks)"},
    ),
    (
        "--memory-fraction",
        {
            "type": float,
            "metavar": "F",
            "help": "share of each GPU the engine may use (vLLM --gpu-memory-utilization, "
            "SGLang --mem-fraction-static)",
        },
    ),
    ("--spot", {"action": argparse.BooleanOptionalAction, "default": None, "help": "spot instances"}),
    ("--idle", {"metavar": "DURATION", "help": "idle time before teardown, e.g. 45m"}),
    ("--ttl", {"metavar": "DURATION", "help": "lifetime, e.g. 8h"}),
    ("--max-cost", {"metavar": "DOLLARS", "help": "stop when the cost reaches this, e.g. $50"}),
    ("--name", {"help": "endpoint name (default: from the model)"}),
    ("--draft-model", {"metavar": "MODEL", "help": "speculative decoding draft model"}),
    ("--speculative-tokens", {"type": int, "metavar": "N", "help": "draft tokens per step"}),
    ("--cloud", {"help": "gcp, aws, ... (default: cheapest)"}),
    ("--region", {"help": "region within --cloud"}),
    ("--relaunch", {"action": "store_true", "help": "relaunch automatically when lost"}),
    ("--replicas", {"type": int, "metavar": "N", "help": "N replicas behind SkyServe's load balancer"}),
    ("--autoscale", {"metavar": "MIN-MAX", "help": "SkyServe autoscales between MIN and MAX replicas (with --qps)"}),
    ("--qps", {"type": float, "metavar": "Q", "help": "autoscaling target: requests per second per replica"}),
    (
        "--tls",
        {
            "action": argparse.BooleanOptionalAction,
            "default": None,
            "help": "HTTPS (default); --no-tls serves plain HTTP, key and prompts in clear text",
        },
    ),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser("up", help="launch an endpoint and wait until it answers")
    _model_args(up)
    up.add_argument("--no-wait", action="store_true", help="return once the launch is scheduled")
    _actor_arg(up)
    up.set_defaults(func=run_up)

    render = subparsers.add_parser(
        "render", help="print the SkyPilot task YAML `up` would launch (secrets redacted)"
    )
    _model_args(render)
    render.set_defaults(func=run_render)

    down = subparsers.add_parser("down", help="stop an endpoint and wait until its cluster is gone")
    down.add_argument("name")
    down.add_argument("--no-wait", action="store_true", help="return once the teardown is scheduled")
    _actor_arg(down)
    down.set_defaults(func=run_down)

    listing = subparsers.add_parser("list", help="list endpoints (running ones unless --all)")
    listing.add_argument("--all", action="store_true", help="include stopped, failed and lost endpoints")
    listing.add_argument("--owner", help="only this owner's endpoints")
    listing.set_defaults(func=run_list)

    status = subparsers.add_parser("status", help="show one endpoint")
    status.add_argument("name")
    status.add_argument("--events", action="store_true", help="also print its audit log")
    status.set_defaults(func=run_status)

    stats = subparsers.add_parser(
        "stats", help="median cold start per model, GPUs and engine, and where the minutes go"
    )
    stats.add_argument("word", nargs="?", help="only models or GPUs containing this (e.g. qwen, H100)")
    stats.add_argument("--json", action="store_true", help="print the medians as JSON (seconds)")
    stats.set_defaults(func=run_stats)

    extend = subparsers.add_parser("extend", help="extend an endpoint's lifetime, e.g. `extend qwen 2h`")
    extend.add_argument("name")
    extend.add_argument("by", metavar="DURATION")
    _actor_arg(extend)
    extend.set_defaults(func=run_extend)

    reconcile = subparsers.add_parser("reconcile", help="compare the store with the cloud once and fix it")
    reconcile.set_defaults(func=run_reconcile)


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="Hugging Face model id or local directory")
    parser.add_argument("accelerators", metavar="ACCEL", help="GPUs as NAME:COUNT, e.g. A100:1")
    for flag, kwargs in UP_OPTIONS:
        parser.add_argument(flag, **kwargs)


def _actor_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", help="who you are in the audit log (default: the shell user)")


# --- running -----------------------------------------------------------------------------------------


def start_runtime(*, out: Any = None, actor: str | None = None) -> Any:
    from core.notifier import ConsoleNotifier
    from core.settings import load_settings
    from core.wiring import build_runtime

    settings = load_settings()
    me = actor or settings.shell_user
    # The operator at the terminal already holds the database and cloud credentials: an admin.
    settings = settings.model_copy(update={"admin_user_ids": [*settings.admin_user_ids, me]})
    runtime = build_runtime(settings, notifier=ConsoleNotifier(out))
    runtime.start(reconcile_now=False, periodic=False, watchdog=False)
    return runtime, me


@contextmanager
def _runtime(*, actor: str | None = None) -> Iterator[tuple[Any, str]]:
    """The started runtime and who acts, for one command; closed when the command is done."""
    runtime, me = start_runtime(actor=actor)
    try:
        yield runtime, me
    finally:
        runtime.close()


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        from core.endpoints.service import DoesNotFit

        try:
            return run(args)
        except DoesNotFit as exc:
            plan = exc.plan
            print(f"{plan.model_id} does not fit on {plan.accelerators}:", file=sys.stderr)
            for reason in plan.reasons:
                print(f"  - {reason}", file=sys.stderr)
            for suggestion in plan.suggestions:
                print(
                    f"  try: {suggestion.summary} ({format_money(suggestion.price_per_hour)}/h)",
                    file=sys.stderr,
                )
            return 2
        except UserFacingError as exc:
            print(str(exc), file=sys.stderr)
            return 2

    wrapper.__name__ = run.__name__
    return wrapper


def _up_request(args: argparse.Namespace, owner_id: str) -> Any:
    from core.endpoints.service import UpRequest

    return UpRequest(
        model=args.model,
        accelerators=args.accelerators,
        owner_id=owner_id,
        channel_id=None,
        engine=args.engine,
        **model_options(args),
        spot=args.spot,
        idle_timeout=parse_duration(args.idle, what="idle timeout") if args.idle else None,
        ttl=parse_duration(args.ttl, what="lifetime") if args.ttl else None,
        max_cost=parse_money(args.max_cost, what="cost cap") if args.max_cost else None,
        name=args.name,
        speculative_tokens=args.speculative_tokens,
        cloud=args.cloud,
        region=args.region,
        relaunch=args.relaunch,
        replicas=args.replicas,
        autoscale=_replica_range(args.autoscale),
        target_qps=args.qps,
        tls=args.tls,
    )


def _replica_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    from bot.commands import parse_replica_range

    return parse_replica_range(text)


@_guarded
def run_up(args: argparse.Namespace) -> int:
    from core.endpoints.states import EndpointState

    with _runtime(actor=args.actor) as (runtime, me):
        view = runtime.service.up(request=_up_request(args, me))
        if args.no_wait:
            print(f"{view.name}: launch scheduled (cluster {view.cluster_name}).")
            return 0
        runtime.workers.join()
        final = runtime.service.status(name=view.name)
        if final.state is EndpointState.READY:
            print(f"{final.name}: READY at {final.url}")
            return 0
        print(f"{final.name}: {final.state.value}. {final.failure_reason or ''}".rstrip(), file=sys.stderr)
        return 1


@_guarded
def run_render(args: argparse.Namespace) -> int:
    from core.launcher.render import render_task_yaml

    with _runtime() as (runtime, me):
        _plan, spec = runtime.service.preview(request=_up_request(args, me))
        print(render_task_yaml(spec), end="")
        return 0


@_guarded
def run_down(args: argparse.Namespace) -> int:
    from core.endpoints import messaging

    with _runtime(actor=args.actor) as (runtime, me):
        view = runtime.service.down(name=args.name, actor=me)
        if view.state.is_terminal:
            print(messaging.already_stopped(view))
            return 0
        if args.no_wait:
            print(f"{view.name}: stopping.")
            return 0
        runtime.workers.join()
        final = runtime.service.status(name=view.name)
        print(f"{final.name}: {final.state.value}")
        return 0 if final.state.is_terminal else 1


@_guarded
def run_extend(args: argparse.Namespace) -> int:
    by = parse_duration(args.by, what="extension")
    with _runtime(actor=args.actor) as (runtime, me):
        view = runtime.service.extend(name=args.name, actor=me, by=by)
        runtime.workers.join()  # the cluster-side deadline is reset on the pool
        print(f"{view.name}: expires at {view.expires_at:%Y-%m-%d %H:%M} UTC")
        return 0


@_guarded
def run_list(args: argparse.Namespace) -> int:
    with _runtime() as (runtime, _me):
        views = runtime.service.list(include_terminal=args.all, owner_id=args.owner)
    if not views:
        print("No endpoints." if args.all else "No running endpoints (`list --all` shows stopped ones).")
        return 0
    print(f"{'NAME':<24} {'STATE':<12} {'MODEL':<36} {'GPUS':<14} {'$/H':>8} {'COST':>9}  URL")
    for v in views:
        print(
            f"{v.name:<24} {v.state.value:<12} {v.model[:36]:<36} {v.accelerators:<14} "
            f"{v.price_per_hour:>8.2f} {format_money(v.cost_so_far):>9}  {v.url or '-'}"
        )
    return 0


@_guarded
def run_status(args: argparse.Namespace) -> int:
    with _runtime() as (runtime, _me):
        v = runtime.service.status(name=args.name)
        events = runtime.service.events(name=args.name) if args.events else []
    rows = [
        ("name", v.name),
        ("state", v.state.value),
        ("model", v.model),
        ("accelerators", f"{v.accelerators} ({v.engine})"),
        ("owner", v.owner_id),
        ("cluster", v.cluster_name),
        ("url", v.url or "-"),
        ("price", f"{format_money(v.price_per_hour)}/h" + (" (estimate)" if v.price_is_estimate else "")),
        ("cost so far", format_money(v.cost_so_far)),
        ("idle timeout", format_duration_s(v.idle_timeout_s)),
        ("expires", f"{v.expires_at:%Y-%m-%d %H:%M} UTC"),
    ]
    if v.lifecycle.cold_start is not None:
        from core.endpoints.messaging import cold_start_text  # only when a command runs

        rows.append(("cold start", cold_start_text(v.lifecycle.cold_start).removeprefix("Cold start ")))
    if v.failure_reason:
        rows.append(("failure", v.failure_reason))
    if v.stop_reason:
        from bot.text import plain  # bot.text imports the endpoint layer: only when a command runs

        rows.append(("stop reason", plain(v.stop_reason)))
    for key, value in rows:
        print(f"{key + ':':<14} {value}")
    for event in events:
        print(
            f"  {event['at']:%Y-%m-%d %H:%M:%S} {event['actor']:<10} {event['kind']:<16} {event['message']}"
        )
    return 0


@_guarded
def run_stats(args: argparse.Namespace) -> int:
    from bot.text import stats_lines  # bot.text imports the endpoint layer: only when a command runs

    with _runtime() as (runtime, _me):
        history = runtime.service.stats(contains=args.word)
    if args.json:
        print(json.dumps([_history_json(past) for past in history], indent=1))
        return 0
    for line in stats_lines(history, contains=args.word):
        print(line.replace("`", ""))
    return 0


def _history_json(past: Any) -> dict[str, Any]:
    phases = {p.name: {"seconds": round(p.seconds, 3), "note": p.note} for p in past.phases}
    return {
        "model": past.model,
        "accelerators": past.accelerators,
        "engine": past.engine,
        "launches": past.launches,
        "median_seconds": round(past.total_s, 3),
        "phases": phases,
    }


@_guarded
def run_reconcile(args: argparse.Namespace) -> int:
    from bot.text import counted  # bot.text imports the endpoint layer: only when a command runs

    with _runtime() as (runtime, _me):
        runtime.service.reconcile()
        runtime.workers.join()
        report = runtime.service.last_reconcile
    print(
        f"{counted(report.clusters_seen, 'cluster')} seen; torn down {len(report.torn_down_unknown)} unknown "
        f"and {len(report.torn_down_terminal)} stray; {len(report.lost)} lost; "
        f"{counted(len(report.resumed), 'launch', 'launches')} resumed; "
        f"{counted(len(report.teardowns_retried), 'teardown')} retried."
    )
    for error in report.errors:
        print(f"  error: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def format_duration_s(seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds))
