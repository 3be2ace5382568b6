"""`endpoint-bot fit MODEL [ACCEL]`: the fit check from the command line, without launching anything.

With ACCEL: one plan (layout, context, memory per GPU, engine command, price); exit 0 when it fits,
2 when it does not (with every reason and the changes that would fit). Without ACCEL: the cheapest
catalogue shapes that fit. `--json` prints one JSON object instead of the table. Errors (unknown GPU,
model not found, gated model, bad option) print one line on stderr and exit 1.

The check is `core.fit.service.fit`, the entry point every surface uses; it needs no database, so this
command never imports the endpoint layer, SQLAlchemy, Slack or SkyPilot (tests/bot/cli/test_lazy_imports.py).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from bot.cli.options import model_options
from bot.plan_text import capacity_line
from core.errors import UserFacingError
from core.fit.plan import FitOptions, Plan
from core.units import format_tokens
from core.vocabulary import ENGINES, ROPE_SCALINGS

if TYPE_CHECKING:
    from core.facts import ModelFacts

EXIT_FITS = 0
EXIT_ERROR = 1
EXIT_DOES_NOT_FIT = 2


def _fraction(text: str) -> float:
    """A GPU memory fraction: a finite number in (0, 1] (`1e400` or `nan` are refused, not fitted)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:  # also false for nan
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a fraction of GPU memory; write e.g. 0.9")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="check whether a model fits some GPUs (no launch)",
        description="Check whether MODEL fits ACCEL (NAME:COUNT, e.g. L4:1 or H100:8) and how the engine "
        "would be started. Without ACCEL: the cheapest GPU shapes that fit. Exit 0 fits, 2 does not, 1 error.",
    )
    parser.add_argument("model", help="Hub repo id (org/name, org/name@revision) or a local model directory")
    parser.add_argument("accel", nargs="?", help="GPUs as NAME:COUNT (SkyPilot's names), e.g. A100-80GB:2")
    parser.add_argument("--engine", choices=ENGINES, help="serving engine (default: settings)")
    parser.add_argument(
        "--max-model-len", metavar="N", help="context length, e.g. 4096 or 32k (default: largest that fits)"
    )
    parser.add_argument(
        "--quantization", metavar="Q", help="online quantization, e.g. fp8 (default: the checkpoint's)"
    )
    parser.add_argument(
        "--rope",
        choices=ROPE_SCALINGS,
        help="yarn: serve beyond the native context where the vendor documents it (Qwen2.5, Qwen3)",
    )
    parser.add_argument("--dtype", metavar="D", help="auto, bfloat16, float16, float32")
    parser.add_argument("--kv-cache-dtype", metavar="D", help="auto or fp8 (halves KV memory)")
    parser.add_argument(
        "--memory-fraction",
        metavar="F",
        type=_fraction,
        help="vLLM --gpu-memory-utilization / SGLang --mem-fraction-static",
    )
    parser.add_argument(
        "--tensor-parallel-size",
        metavar="N",
        type=int,
        help="pin the tensor parallel size (default: the smallest that fits the context)",
    )
    parser.add_argument(
        "--draft-model", metavar="M", help="speculative-decoding draft model (counted in memory)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)

    def usage_error(message: str) -> NoReturn:
        # argparse exits 2 on bad arguments; 2 means "does not fit" here, so errors exit 1.
        print(f"error: {message} (see `endpoint-bot fit --help`)", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)

    parser.error = usage_error  # type: ignore[method-assign]


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UserFacingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # one line, never a traceback, whatever broke
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    # Late imports: `endpoint-bot --help` and the other commands should not pay for the fit check,
    # the Hub loader and the settings.
    from core.fit.service import FitRequest, fit
    from core.settings import load_settings

    settings = load_settings()
    options = FitOptions(engine=args.engine or settings.default_engine, **model_options(args))
    if options.tensor_parallel is not None and options.tensor_parallel < 1:
        raise UserFacingError(f"--tensor-parallel-size must be 1 or more (got {options.tensor_parallel}).")
    if options.memory_fraction is not None and not 0 < options.memory_fraction < 1:
        raise UserFacingError(f"--memory-fraction must be between 0 and 1 (got {options.memory_fraction:g}).")
    result = fit(FitRequest(args.model, args.accel, options), settings=settings)

    if result.accel is not None:
        plan = result.plan
        print(json.dumps(plan.to_dict(), indent=2) if args.json else render_plan(plan, result.facts))
        return EXIT_FITS if plan.fits else EXIT_DOES_NOT_FIT

    shapes = result.plans
    reasons = result.shape_reasons()
    if args.json:
        best: dict[str, Any] = (
            shapes[0].to_dict()
            if shapes
            else {
                "fits": False,
                "model_id": result.facts.model_id,
                "reasons": [r.text for r in reasons],
                "reason_kinds": [str(r.kind) for r in reasons],
                "suggestions": [],
            }
        )
        best["shapes"] = [plan.to_dict() for plan in shapes]
        print(json.dumps(best, indent=2))
    else:
        print(render_shapes(shapes, result.facts, reasons=[r.text for r in reasons]))
    return EXIT_FITS if shapes else EXIT_DOES_NOT_FIT


def describe_model(facts: ModelFacts) -> str:
    parts = [f"{facts.param_count / 1e9:.1f}B params", f"{facts.weight_bytes / (1 << 30):.1f} GiB of weights"]
    parts.append(facts.quantization.method if facts.quantization else facts.torch_dtype)
    if facts.moe:
        parts.append(f"MoE {facts.moe.num_experts} experts, {facts.moe.experts_per_token} active")
    if facts.mla:
        parts.append("MLA")
    if facts.num_sliding_layers:
        parts.append(
            f"{facts.num_sliding_layers}/{facts.num_layers} layers sliding-window {facts.sliding_window}"
        )
    parts.append(f"max context {format_tokens(facts.max_position_embeddings)}")
    return f"{facts.model_id}: " + ", ".join(parts)


def _layout(plan: Plan) -> str:
    text = f"TP {plan.tensor_parallel} x PP {plan.pipeline_parallel} x DP {plan.data_parallel}"
    if plan.expert_parallel > 1:
        text += f", EP {plan.expert_parallel}"
    return text + (f" on {plan.nodes} nodes" if plan.nodes > 1 else "")


def render_plan(plan: Plan, facts: ModelFacts) -> str:
    m = plan.memory_per_gpu_gib
    verdict = "FITS" if plan.fits else "DOES NOT FIT"
    lines = [
        describe_model(facts),
        f"{verdict} on {plan.accelerators} with {plan.engine}  (${plan.price_per_hour:,.2f}/hour, estimate)",
        "",
        f"  layout            {_layout(plan)}",
        f"  context           {plan.max_context_tokens:,} tokens ({format_tokens(plan.max_context_tokens)})",
        f"  dtype             {plan.dtype}"
        + (f", quantization {plan.quantization}" if plan.quantization else ""),
        "",
        "  memory per GPU    GiB",
        f"    weights         {m.weights:8.2f}",
        f"    KV cache        {m.kv_cache:8.2f}   (one request of {plan.max_context_tokens:,} tokens)",
        f"    overhead        {m.overhead:8.2f}   (activations, CUDA graphs, NCCL)",
        f"    total           {m.total:8.2f}",
        f"    usable          {m.usable:8.2f}   ({plan.memory_fraction:g} of the GPU)",
    ]
    capacity = capacity_line(plan)
    if capacity:
        lines += ["", f"  {capacity}"]
    if plan.reasons:
        lines += ["", "Why it does not fit:"] + [f"  - {reason}" for reason in plan.reasons]
    if plan.warnings:
        lines += ["", "Notes:"] + [f"  - {warning}" for warning in plan.warnings]
    if plan.suggestions:
        lines += ["", "What would fit:"]
        lines += [f"  - {s.summary}  (${s.price_per_hour:,.2f}/hour)" for s in plan.suggestions]
    if plan.engine_command:
        lines += ["", "Engine command:", "  " + shlex.join(plan.engine_command)]
    return "\n".join(lines)


def render_shapes(shapes: list[Plan], facts: ModelFacts, *, reasons: list[str]) -> str:
    lines = [describe_model(facts), ""]
    if not shapes:
        lines += reasons
        return "\n".join(lines)
    lines.append(f"  {'GPUs':<18} {'$/hour':>9}  {'layout':<28} {'context':>8}  {'GiB/GPU':>8}")
    for plan in shapes:
        m = plan.memory_per_gpu_gib
        lines.append(
            f"  {plan.accelerators:<18} {plan.price_per_hour:>9,.2f}  {_layout(plan):<28} "
            f"{format_tokens(plan.max_context_tokens):>8}  {m.total:>5.1f}/{m.usable:.0f}"
        )
    lines += ["", f"Check one with: endpoint-bot fit {facts.model_id} {shapes[0].accelerators}"]
    return "\n".join(lines)
