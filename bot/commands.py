"""Parse `/endpoint ...` text into typed commands, shared by the Slack and shell adapters.

Pure: no Slack, no I/O, no service calls. Adapters call `parse_command(text)` and dispatch on the
returned dataclass (`UpCommand`, `FitCommand`, `ListCommand`, `StatusCommand`, `DownCommand`,
`ExtendCommand`, `LogCommand`, `StatsCommand`, `PolicyCommand`, `HelpCommand`). Anything malformed raises `CommandError` (an `InvalidRequest`)
whose message says what was wrong, the closest valid spelling when there is one, and the usage.

Values are checked strictly here (durations, token counts and money through `core.units`, booleans,
enumerations); whether a model fits or a GPU exists is the service's job. What a user types is
only ever data: it never reaches a shell.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any

from core import vocabulary
from core.echo import shown
from core.endpoints import validation
from core.endpoints.validation import UpArguments, UpRequest, parse_tls
from core.errors import InvalidRequest
from core.gpus import parse_accelerators
from core.hub.refs import check_model
from core.units import parse_duration, parse_money, parse_tokens

COMMAND = "/endpoint"

USAGE: dict[str, str] = {
    "up": "`/endpoint up MODEL ACCEL [engine=vllm|sglang] [ctx=32k] [rope=yarn] [quant=fp8] [dtype=bf16] [kv=fp8] "
    "[tp=2] [mem=0.9] [spot=yes] [idle=45m] [ttl=8h] [max-cost=50] [name=NAME] [draft=MODEL] [spec-tokens=3] "
    "[cloud=gcp] [region=REGION] [relaunch=yes] [tls=no] [replicas=2 | autoscale=1-4 qps=5]`",
    "fit": "`/endpoint fit MODEL [ACCEL] [engine=vllm|sglang] [ctx=32k] [rope=yarn] [quant=fp8] [dtype=bf16] [kv=fp8] "
    "[tp=2] [mem=0.9] [draft=MODEL] [spec-tokens=3]`",
    "list": "`/endpoint list [all]`",
    "status": "`/endpoint status NAME`",
    "down": "`/endpoint down NAME`",
    "extend": "`/endpoint extend NAME 2h`",
    "log": "`/endpoint log NAME`",
    "stats": "`/endpoint stats [WORD]`",
    "policy": "`/endpoint policy`",
    "help": "`/endpoint help [COMMAND]`",
}

SUMMARY: dict[str, str] = {
    "up": "launch an endpoint (fit check first)",
    "fit": "check whether a model fits, or find the cheapest GPUs that do",
    "list": "live endpoints (`all` includes stopped ones)",
    "status": "one endpoint's state, URL, cost and usage",
    "down": "stop an endpoint and tear its cluster down",
    "extend": "push an endpoint's lifetime out",
    "log": "an endpoint's audit trail (owner and admins)",
    "stats": "median cold starts per model and GPUs, and where the minutes go (WORD: only models or GPUs containing it)",
    "policy": "the team rules that apply to you and what you use now (admins: everyone's)",
    "help": "this message",
}

# Spellings people reach for that difflib would not find, mapped to ours.
_SUBCOMMAND_HINTS = {
    "stop": "down",
    "kill": "down",
    "delete": "down",
    "terminate": "down",
    "start": "up",
    "launch": "up",
    "run": "up",
    "deploy": "up",
    "ls": "list",
    "ps": "list",
    "info": "status",
    "show": "status",
    "check": "fit",
    "events": "log",
    "history": "log",
    "audit": "log",
    "rules": "policy",
    "limits": "policy",
    "timings": "stats",
    "coldstart": "stats",
    "cold-start": "stats",
    "statistics": "stats",
}
_OPTION_HINTS = {
    "max-model-len": "ctx",
    "max_model_len": "ctx",
    "context": "ctx",
    "context-length": "ctx",
    "rope-scaling": "rope",
    "rope_scaling": "rope",
    "quantization": "quant",
    "kv-cache-dtype": "kv",
    "kv_cache_dtype": "kv",
    "kv-cache": "kv",
    "idle-timeout": "idle",
    "lifetime": "ttl",
    "max-duration": "ttl",
    "budget": "max-cost",
    "max_cost": "max-cost",
    "cost": "max-cost",
    "max-price": "max-cost",
    "draft-model": "draft",
    "speculative-model": "draft",
    "spec_tokens": "spec-tokens",
    "num-speculative-tokens": "spec-tokens",
    "use-spot": "spot",
    "use_spot": "spot",
    "tensor-parallel-size": "tp",
    "tensor_parallel_size": "tp",
    "tensor-parallel": "tp",
    "tp-size": "tp",
    "gpu-memory-utilization": "mem",
    "gpu_memory_utilization": "mem",
    "mem-fraction-static": "mem",
    "mem-fraction": "mem",
    "memory-fraction": "mem",
    "memory": "mem",
}

# The vocabulary is core.vocabulary's (the service and the engines read the same one); the parser adds
# only spellings. Which engine takes which quantization or KV dtype is the service's call.
ENGINES = vocabulary.ENGINES
DTYPES: dict[str, str] = {
    **{name: name for name in vocabulary.DTYPES},
    **vocabulary.DTYPE_SPELLINGS,
}
KV_DTYPES = vocabulary.all_kv_cache_dtypes()
QUANTIZATIONS = vocabulary.all_quantizations()
ROPE_SCALINGS = vocabulary.ROPE_SCALINGS
CLOUDS = tuple(sorted(validation.CLOUDS))
_TRUE = ("yes", "true", "on", "y", "1")
_FALSE = ("no", "false", "off", "n", "0")
MAX_SPEC_TOKENS = validation.MAX_SPECULATIVE_TOKENS
MAX_TP = validation.MAX_TENSOR_PARALLEL

_LOCAL_MODEL_RE = re.compile(r"(/|\./|~/)[A-Za-z0-9._/-]+")
# A name (or several, comma-separated, for one part sold under several names) and an optional count.
_ACCEL_RE = re.compile(r"([A-Za-z][A-Za-z0-9_.,-]*|\d{4})(?::(\d+))?")
MAX_MODEL_CHARS = validation.MAX_MODEL_CHARS


class CommandError(InvalidRequest):
    """A command that could not be parsed; `str()` is the full reply (problem, hint, usage)."""

    def __init__(self, problem: str, *, usage: str | None = None, suggestion: str | None = None) -> None:
        self.problem = problem
        self.suggestion = suggestion
        self.usage = usage
        text = problem
        if suggestion:
            text += f" Did you mean `{suggestion}`?"
        if usage:
            text += f"\nUsage: {usage}"
        super().__init__(text)


# --- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UpCommand(UpArguments):
    """`up MODEL ACCEL [options]`: the arguments of `UpRequest`, without whom it is for."""

    def to_request(self, *, owner_id: str, channel_id: str | None) -> UpRequest:
        """The service request for this command, on behalf of `owner_id` in `channel_id`."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return UpRequest(owner_id=owner_id, channel_id=channel_id, **values)


@dataclass(frozen=True)
class FitCommand:
    """`fit MODEL [ACCEL] [options]`; `options` uses `core.fit.plan.FitOptions` field names."""

    model: str
    accelerators: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ListCommand:
    include_terminal: bool = False


@dataclass(frozen=True)
class _OneEndpoint:
    """A subcommand about one endpoint, by its name."""

    name: str


class StatusCommand(_OneEndpoint):
    """`status NAME`."""


class DownCommand(_OneEndpoint):
    """`down NAME`."""


@dataclass(frozen=True)
class ExtendCommand(_OneEndpoint):
    """`extend NAME BY`."""

    by: timedelta


class LogCommand(_OneEndpoint):
    """`log NAME`."""


@dataclass(frozen=True)
class PolicyCommand:
    pass


@dataclass(frozen=True)
class StatsCommand:
    """`stats [WORD]`: `contains` keeps the models or GPUs containing it."""

    contains: str | None = None


@dataclass(frozen=True)
class HelpCommand:
    topic: str | None = None  # a subcommand name, or None for the overview


Command = (
    UpCommand
    | FitCommand
    | ListCommand
    | StatusCommand
    | DownCommand
    | ExtendCommand
    | LogCommand
    | PolicyCommand
    | StatsCommand
    | HelpCommand
)


# --- value parsers -------------------------------------------------------------------------------


def _closest(
    word: str, choices: list[str] | tuple[str, ...], hints: dict[str, str] | None = None
) -> str | None:
    lowered = word.lower()
    if hints and lowered in hints:
        return hints[lowered]
    # Swapped letters (`stauts`) mean the word with the same letters, before any merely similar one (`stats`).
    swapped = [choice for choice in choices if choice != lowered and sorted(choice) == sorted(lowered)]
    if swapped:
        return swapped[0]
    matches = difflib.get_close_matches(lowered, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def parse_bool(text: str, *, what: str) -> bool:
    """yes/no/true/false/on/off (and y/n/1/0)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidRequest(
        f"`{shown(text)}` is not a valid {what}; write `yes` or `no` (or true/false, on/off)."
    )


def _choice(text: str, choices: tuple[str, ...] | list[str], *, what: str) -> str:
    lowered = text.strip().lower()
    if lowered in choices:
        return lowered
    suggestion = _closest(lowered, choices)
    raise CommandError(
        f"`{shown(text)}` is not a valid {what}; choose one of {', '.join(f'`{c}`' for c in choices)}.",
        suggestion=suggestion,
    )


def parse_model(text: str, *, what: str = "model") -> str:
    """A Hub repo id (`Qwen/Qwen2.5-7B-Instruct`, `org/name@rev`) or a local directory (`/models/llama`).

    Hub ids follow the one rule the service and the Hub loader apply (core.vocabulary); a local path
    typed in chat is further kept to plain characters and no `..`.
    """
    if len(text) > MAX_MODEL_CHARS:
        raise InvalidRequest(
            f"`{shown(text)}` is too long for a {what} ({len(text):,} characters; at most {MAX_MODEL_CHARS})."
        )
    try:
        if vocabulary.is_local_model(text):
            if not _LOCAL_MODEL_RE.fullmatch(text) or ".." in text.split("/"):
                raise InvalidRequest("bad local path")
            return text
        return check_model(text)
    except InvalidRequest:
        raise InvalidRequest(
            f"`{shown(text)}` is not a valid {what}; give a Hugging Face repo id like `Qwen/Qwen2.5-7B-Instruct` "
            "(optionally pinned as `org/name@revision`) or a local directory like `/models/my-model`."
        ) from None


def parse_accel(text: str) -> str:
    """`NAME[:COUNT]` as SkyPilot spells it; normalised to `NAME:COUNT`.

    The GPU name is checked against the catalogue (`core.gpus`), which also suggests close spellings.
    """
    match = _ACCEL_RE.fullmatch(text.strip())
    # A zero count is refused without int(): a 5,000-digit count must reach the catalogue's ceiling check.
    if not match or (match.group(2) is not None and not match.group(2).strip("0")):
        raise InvalidRequest(
            f"`{shown(text)}` is not a valid accelerator; write it as SkyPilot does, `NAME:COUNT`, e.g. `A100-80GB:2`, `L4:1`, `H100:8`."
        )
    return str(parse_accelerators(text.strip()))


def parse_name(text: str) -> str:
    """An endpoint name: lowercase letters, digits and single dashes, at most 40 chars (core.vocabulary)."""
    return vocabulary.check_endpoint_name(text)


def _positive_int(text: str, *, what: str, maximum: int) -> int:
    # The length check comes first: int() of a 5,000-digit string raises ValueError.
    if text.isascii() and text.isdigit() and len(text) <= len(str(maximum)) and 0 < int(text) <= maximum:
        return int(text)
    raise InvalidRequest(f"`{shown(text)}` is not a valid {what}; write a whole number from 1 to {maximum}.")


def _fraction(text: str) -> float:
    """`0.9` or `90%`: a share of each GPU's memory, strictly between 0 and 1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = -1.0
    if 0 < value < 1:
        return round(value, 4)
    raise InvalidRequest(
        f"`{text}` is not a memory fraction; write a share of each GPU's memory between 0 and 1, e.g. `0.9`."
    )


def _region(text: str) -> str:
    if validation.REGION_RE.fullmatch(text.lower()):
        return text.lower()
    raise InvalidRequest(
        f"`{shown(text)}` is not a valid region; write it as the cloud does, e.g. `us-central1`."
    )


MAX_REPLICAS_TYPED = 1000  # the parser's sanity bound; the admin's ceiling (max_replicas) is the service's


def _whole(text: str, *, what: str, maximum: int) -> int:
    """A whole number from 0 up (0 is refused by the service with its own sentence)."""
    if text.isascii() and text.isdigit() and len(text) <= len(str(maximum)) and int(text) <= maximum:
        return int(text)
    raise InvalidRequest(f"`{shown(text)}` is not a valid {what}; write a whole number, e.g. `2`.")


def parse_replica_range(text: str) -> tuple[int, int]:
    """`1-4`: autoscale between 1 and 4 replicas."""
    low, sep, high = text.strip().partition("-")
    if not sep:
        raise InvalidRequest(f"`{shown(text)}` is not a range of replicas; write `MIN-MAX`, e.g. `1-4`.")
    return (
        _whole(low, what="minimum number of replicas", maximum=MAX_REPLICAS_TYPED),
        _whole(high, what="maximum number of replicas", maximum=MAX_REPLICAS_TYPED),
    )


def parse_qps(text: str) -> float:
    """Requests per second per replica, the autoscaling target: `5`, `0.5`."""
    try:
        value = float(text.strip())
    except ValueError:
        value = -1.0
    if 0 < value <= validation.MAX_TARGET_QPS:
        return value
    raise InvalidRequest(
        f"`{shown(text)}` is not a target load; write requests per second per replica, e.g. `qps=5`."
    )


@dataclass(frozen=True)
class _Option:
    field: str  # UpCommand / UpRequest field
    fit_field: str | None  # FitOptions field when `fit` takes it too
    parse: Callable[[str], Any]
    example: str


OPTIONS: dict[str, _Option] = {
    "engine": _Option("engine", "engine", lambda v: _choice(v, ENGINES, what="engine"), "vllm"),
    "ctx": _Option("max_model_len", "max_model_len", lambda v: parse_tokens(v), "32k"),
    "rope": _Option(
        "rope_scaling", "rope_scaling", lambda v: _choice(v, ROPE_SCALINGS, what="RoPE scaling"), "yarn"
    ),
    "quant": _Option(
        "quantization", "quantization", lambda v: _choice(v, QUANTIZATIONS, what="quantization"), "fp8"
    ),
    "dtype": _Option("dtype", "dtype", lambda v: DTYPES[_choice(v, list(DTYPES), what="dtype")], "bf16"),
    "kv": _Option(
        "kv_cache_dtype", "kv_cache_dtype", lambda v: _choice(v, KV_DTYPES, what="KV cache dtype"), "fp8"
    ),
    "tp": _Option(
        "tensor_parallel",
        "tensor_parallel",
        lambda v: _positive_int(v, what="tensor parallel size", maximum=MAX_TP),
        "2",
    ),
    "mem": _Option("memory_fraction", "memory_fraction", _fraction, "0.9"),
    "spot": _Option("spot", None, lambda v: parse_bool(v, what="value for `spot=`"), "yes"),
    "idle": _Option("idle_timeout", None, lambda v: parse_duration(v, what="idle timeout"), "45m"),
    "ttl": _Option("ttl", None, lambda v: parse_duration(v, what="lifetime (ttl)"), "8h"),
    "max-cost": _Option("max_cost", None, lambda v: parse_money(v, what="cost cap"), "50"),
    "name": _Option("name", None, parse_name, "qwen-7b"),
    "draft": _Option("draft_model", "draft_model", lambda v: parse_model(v, what="draft model"), "MODEL"),
    "spec-tokens": _Option(
        "speculative_tokens",
        "speculative_tokens",
        lambda v: _positive_int(v, what="number of speculative tokens", maximum=MAX_SPEC_TOKENS),
        "3",
    ),
    "cloud": _Option("cloud", None, lambda v: _choice(v, CLOUDS, what="cloud"), "gcp"),
    "region": _Option("region", None, _region, "us-central1"),
    "relaunch": _Option("relaunch", None, lambda v: parse_bool(v, what="value for `relaunch=`"), "yes"),
    "replicas": _Option(
        "replicas", None, lambda v: _whole(v, what="number of replicas", maximum=MAX_REPLICAS_TYPED), "2"
    ),
    "autoscale": _Option("autoscale", None, parse_replica_range, "1-4"),
    "qps": _Option("target_qps", None, parse_qps, "5"),
    "tls": _Option("tls", None, parse_tls, "no"),
}
FIT_OPTIONS = tuple(key for key, opt in OPTIONS.items() if opt.fit_field)


# --- parsing -------------------------------------------------------------------------------------

_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def normalise_text(text: str) -> str:
    """Undo what Slack does to slash-command text: HTML entities, auto-links `<url|label>`, smart quotes."""
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    for smart, plain in (("\u201c", '"'), ("\u201d", '"'), ("\u2018", "'"), ("\u2019", "'"), ("\u00a0", " ")):
        text = text.replace(smart, plain)
    return text


def parse_command(text: str) -> Command:
    """Parse the text after `/endpoint`; raise CommandError with usage and a suggestion on any mistake."""
    tokens = normalise_text(text).split()
    if not tokens:
        return HelpCommand()
    sub, args = tokens[0].lower(), tokens[1:]
    if sub in ("help", "-h", "--help", "?"):
        return _parse_help(args)
    parsers = {
        "up": _parse_up,
        "fit": _parse_fit,
        "list": _parse_list,
        "status": _parse_status,
        "down": _parse_down,
        "extend": _parse_extend,
        "log": _parse_log,
        "policy": _parse_policy,
        "stats": _parse_stats,
    }
    if sub not in parsers:
        raise CommandError(
            f"`{shown(tokens[0])}` is not an `{COMMAND}` command.",
            suggestion=_closest(sub, list(USAGE), _SUBCOMMAND_HINTS),
            usage=" · ".join(
                USAGE[name] for name in ("up", "fit", "list", "status", "down", "extend", "log", "stats", "policy")
            ),
        )
    return parsers[sub](args)


def _split(args: list[str], sub: str, allowed: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and `key=value` options (keys checked against `allowed`)."""
    positional: list[str] = []
    options: dict[str, str] = {}
    for token in args:
        if "=" not in token:
            if token.startswith("-"):
                key = token.lstrip("-")
                raise CommandError(
                    f"Options are written `key=value`, not `{shown(token)}`.",
                    suggestion=f"{_closest(key, allowed, _OPTION_HINTS) or shown(key)}=...",
                    usage=USAGE[sub],
                )
            positional.append(token)
            continue
        raw_key, value = token.split("=", 1)
        key = raw_key.lstrip("-").lower()
        if key not in allowed:
            if key in OPTIONS:
                raise CommandError(f"`{key}=` applies to `up` only, not `{sub}`.", usage=USAGE[sub])
            suggestion = _closest(key, allowed, _OPTION_HINTS)
            raise CommandError(
                f"Unknown option `{shown(raw_key)}=`.",
                suggestion=f"{suggestion}={shown(value or OPTIONS[suggestion].example)}"
                if suggestion
                else None,
                usage=USAGE[sub],
            )
        if key in options:
            raise CommandError(f"`{key}=` is given twice; keep one.", usage=USAGE[sub])
        if not value:
            raise CommandError(
                f"`{key}=` has no value; write it like `{key}={OPTIONS[key].example}`.", usage=USAGE[sub]
            )
        options[key] = value
    return positional, options


def _values(options: dict[str, str], sub: str, *, fit: bool) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in options.items():
        option = OPTIONS[key]
        try:
            result = option.parse(value)
        except CommandError as exc:
            raise CommandError(
                f"`{key}=`: {exc.problem}",
                suggestion=f"{key}={exc.suggestion}" if exc.suggestion else None,
                usage=USAGE[sub],
            ) from None
        except InvalidRequest as exc:
            raise CommandError(f"`{key}=`: {exc}", usage=USAGE[sub]) from None
        parsed[option.fit_field if fit else option.field] = result
    return parsed


def _check_speculation(values: dict[str, Any], sub: str) -> None:
    if values.get("speculative_tokens") is not None and not values.get("draft_model"):
        raise CommandError("`spec-tokens=` needs a draft model: add `draft=MODEL`.", usage=USAGE[sub])


def _check_replicas(values: dict[str, Any]) -> None:
    """The combinations of `replicas=`, `autoscale=` and `qps=` (the same rule the service applies)."""
    if values.get("replicas") is not None and values.get("autoscale") is not None:
        raise CommandError(
            "Give either `replicas=N` (a fixed count) or `autoscale=MIN-MAX qps=Q`, not both.", usage=USAGE["up"]
        )
    if values.get("replicas") == 0:
        raise CommandError("`replicas=0` would serve nothing; write `replicas=1` or more.", usage=USAGE["up"])
    if values.get("autoscale") is not None and values.get("target_qps") is None:
        raise CommandError(
            "`autoscale=` needs a target load per replica: add `qps=5` (requests per second per replica).",
            usage=USAGE["up"],
        )
    if values.get("target_qps") is not None and values.get("autoscale") is None:
        raise CommandError("`qps=` goes with `autoscale=MIN-MAX`, e.g. `autoscale=1-4 qps=5`.", usage=USAGE["up"])


def _parse_up(args: list[str]) -> UpCommand:
    positional, options = _split(args, "up", tuple(OPTIONS))
    if len(positional) < 2:
        missing = "MODEL and ACCEL" if not positional else "ACCEL (which GPUs, e.g. `A100-80GB:1`)"
        raise CommandError(f"`up` needs {missing}.", usage=USAGE["up"])
    if len(positional) > 2:
        raise CommandError(
            f"`up` takes MODEL and ACCEL, then `key=value` options; `{shown(positional[2])}` is extra.",
            usage=USAGE["up"],
        )
    model = _positional(parse_model, positional[0], "up")
    accel = _positional(parse_accel, positional[1], "up")
    values = _values(options, "up", fit=False)
    _check_speculation(values, "up")
    _check_replicas(values)
    return UpCommand(model=model, accelerators=accel, **values)


def _parse_fit(args: list[str]) -> FitCommand:
    positional, options = _split(args, "fit", FIT_OPTIONS)
    if not positional:
        raise CommandError("`fit` needs a MODEL.", usage=USAGE["fit"])
    if len(positional) > 2:
        raise CommandError(
            f"`fit` takes MODEL and optionally ACCEL, then `key=value` options; `{shown(positional[2])}` is extra.",
            usage=USAGE["fit"],
        )
    model = _positional(parse_model, positional[0], "fit")
    accel = _positional(parse_accel, positional[1], "fit") if len(positional) == 2 else None
    values = _values(options, "fit", fit=True)
    _check_speculation(values, "fit")
    return FitCommand(model=model, accelerators=accel, options=values)


def _positional(parse: Callable[[str], str], value: str, sub: str) -> str:
    try:
        return parse(value)
    except InvalidRequest as exc:
        raise CommandError(str(exc), usage=USAGE[sub]) from None


def _parse_list(args: list[str]) -> ListCommand:
    if not args:
        return ListCommand()
    if len(args) == 1 and args[0].lower() == "all":
        return ListCommand(include_terminal=True)
    raise CommandError(
        f"`list` takes nothing or `all`, not `{shown(' '.join(args))}`.",
        suggestion="list all" if _closest(args[0], ["all"]) else None,
        usage=USAGE["list"],
    )


def _one_name(args: list[str], sub: str) -> str:
    if len(args) != 1:
        problem = f"`{sub}` needs the endpoint's NAME" if not args else f"`{sub}` takes one NAME"
        raise CommandError(f"{problem} (see `{COMMAND} list`).", usage=USAGE[sub])
    return _positional(parse_name, args[0].lower(), sub)


def _parse_status(args: list[str]) -> StatusCommand:
    return StatusCommand(name=_one_name(args, "status"))


def _parse_down(args: list[str]) -> DownCommand:
    return DownCommand(name=_one_name(args, "down"))


def _parse_log(args: list[str]) -> LogCommand:
    return LogCommand(name=_one_name(args, "log"))


def _parse_policy(args: list[str]) -> PolicyCommand:
    if args:
        raise CommandError(f"`policy` takes nothing, not `{shown(' '.join(args))}`.", usage=USAGE["policy"])
    return PolicyCommand()


_STATS_WORD_RE = re.compile(r"[A-Za-z0-9._:/@,-]{1,100}")


def _parse_stats(args: list[str]) -> StatsCommand:
    if not args:
        return StatsCommand()
    if len(args) > 1 or not _STATS_WORD_RE.fullmatch(args[0]):
        raise CommandError(
            f"`stats` takes nothing or one word of a model or GPU name (like `qwen` or `H100`), "
            f"not `{shown(' '.join(args))}`.",
            usage=USAGE["stats"],
        )
    return StatsCommand(contains=args[0])


def _parse_extend(args: list[str]) -> ExtendCommand:
    if len(args) != 2:
        raise CommandError(
            "`extend` needs the endpoint's NAME and how long, e.g. `2h`.", usage=USAGE["extend"]
        )
    name = _positional(parse_name, args[0].lower(), "extend")
    try:
        by = parse_duration(args[1].removeprefix("+"), what="extension")
    except InvalidRequest as exc:
        raise CommandError(str(exc), usage=USAGE["extend"]) from None
    return ExtendCommand(name=name, by=by)


def _parse_help(args: list[str]) -> HelpCommand:
    if not args:
        return HelpCommand()
    topic = args[0].lower()
    if len(args) > 1 or topic not in USAGE:
        raise CommandError(
            f"No help on `{shown(' '.join(args))}`.",
            suggestion=f"help {s}" if (s := _closest(topic, list(USAGE), _SUBCOMMAND_HINTS)) else None,
            usage=USAGE["help"],
        )
    return HelpCommand(topic=topic)


def help_text(topic: str | None = None) -> str:
    """The reply to `/endpoint help [COMMAND]` (mrkdwn that also reads fine as plain text)."""
    if topic:
        return f"{USAGE[topic]}\n{SUMMARY[topic]}"
    lines = ["*`/endpoint` commands*"]
    lines += [f"• {USAGE[name]}: {SUMMARY[name]}" for name in USAGE]
    lines.append(
        "Example: `/endpoint up Qwen/Qwen2.5-7B-Instruct L4:1 ctx=16k idle=30m`. "
        "Durations like `45m`, `8h`; context like `32k`; money like `$50`."
    )
    return "\n".join(lines)
