"""Property-based fuzzing (hypothesis) of the command parser and the outcome layer (issue 10).

Properties, over 10,200 generated cases in all (bounded: `deadline=None`, fixed `max_examples`):
- `parse_command` returns a command or raises `CommandError`, never anything else (no ValueError from
  a 5,000-digit number, no OverflowError, no IndexError);
- every reply quotes what was typed cut short: its length is bounded whatever was pasted;
- every value that parses is data: model, name and region hold no shell or YAML metacharacter, every
  number is finite and within its bound;
- through the outcome layer on a real service and store (SQLite, the fake cloud), a command or button
  ends in an outcome or a `UserFacingError` / `DoesNotFit`, never another exception; an `up` that passes
  yields an engine argv that the launch script carries token for token (`shlex.split` gives each user
  value back as one word) and a rendered task YAML that loads back to the same run line.
"""

from __future__ import annotations

import json
import math
import shlex
from datetime import timedelta
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot import outcomes as oc
from bot.commands import OPTIONS, Command, CommandError, FitCommand, UpCommand, parse_command
from core.clock import ManualClock
from core.db import Database
from core.endpoints.service import DoesNotFit
from core.engines import launch_script
from core.errors import InvalidRequest, UserFacingError
from core.launcher.render import render_task_yaml
from core.units import MAX_DURATION, MAX_MONEY, MAX_TOKENS, parse_duration, parse_money, parse_tokens
from tests.core.endpoints.lifecycle_fixtures import FIXTURES, Lifecycle, make_settings, new_cloud

pytestmark = pytest.mark.timeout(300)

# A reply is a problem sentence (values quoted at most 60 characters), a suggestion and the usage line.
MAX_REPLY = 1_000
# Characters a shell or YAML would treat specially; none may survive parsing inside a value.
_META = set(" \t\n\r;&|$`\\\"'<>(){}[]*?!#~%^,=")

_FUZZ = settings(
    max_examples=3_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same cases on every run: CI failures reproduce
)

MODEL_IDS = [entry["model_id"] for entry in json.loads(FIXTURES.read_text())]

# Pieces that reach the parser's edges: huge numbers, shell and YAML metacharacters, Slack's rewrites.
_NASTY = st.sampled_from(
    [
        "9" * 5000,
        "1" * 4301 + "m",
        "9" * 400,
        "x" * 10_000,
        "$(touch /tmp/pwned)",
        "`id`",
        "; rm -rf ~",
        "a|b",
        "&&",
        "'",
        '"',
        "\\",
        "\n",
        "- x",
        "{a: b}",
        "[1]",
        "&lt;",
        "<http://x|y>",
        "\u201cquoted\u201d",
        "\x00",
        "nan",
        "inf",
        "1e400",
        "-1",
        "0",
        "00",
        "+2h",
        "１２",  # full-width digits: str.isdigit() is True for them
        "٣",  # Arabic-Indic three
    ]
)
_WORD = st.one_of(
    st.text(min_size=0, max_size=40),
    st.from_regex(r"[A-Za-z0-9._/:$-]{1,30}", fullmatch=True),
    _NASTY,
)
_VALUE = st.one_of(
    _WORD,
    st.sampled_from(
        ["8k", "32k", "16m", "17m", "45m", "8h", "3650d", "3651d", "50", "$1000000", "1000000.01"]
    ),
    st.sampled_from(["yes", "no", "vllm", "sglang", "fp8", "bf16", "gcp", "us-central1", "qwen-7b", "3"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
_OPTION = st.tuples(st.sampled_from([*OPTIONS, "max_cost", "foo", "--ctx", "CTX"]), _VALUE).map(
    lambda kv: f"{kv[0]}={kv[1]}"
)
_SUB = st.sampled_from(["up", "fit", "list", "status", "down", "extend", "help", "stop", "UP", "", "?"])
_ACCEL = st.one_of(
    st.sampled_from(["L4:1", "A100:1", "A100-80GB:2", "H100:8", "H100:16", "l4", "L4:0", "Z100:1"]),
    _WORD,
)


@st.composite
def _structured(draw: st.DrawFn) -> str:
    """A command shaped like a real one (subcommand, model, accelerator, options), with fuzzed parts."""
    parts = [draw(_SUB)]
    parts.append(draw(st.one_of(st.sampled_from(MODEL_IDS), _WORD)))
    parts.append(draw(_ACCEL))
    parts += draw(st.lists(st.one_of(_OPTION, _WORD), max_size=6))
    return " ".join(parts)


def _check_reply(error: CommandError) -> None:
    text = str(error)
    assert len(text) <= MAX_REPLY, f"reply of {len(text)} characters: {text[:120]!r}"
    assert text.strip(), "an empty reply"


def _check_values(command: Command) -> None:
    """Every value that survived parsing is bounded data."""
    if isinstance(command, UpCommand):
        values: dict[str, Any] = {k: getattr(command, k) for k in command.__dataclass_fields__}
    elif isinstance(command, FitCommand):
        values = {"model": command.model, "accelerators": command.accelerators, **command.options}
    else:
        return
    for key, value in values.items():
        if isinstance(value, str):
            assert len(value) <= 255, (key, value[:80])
            assert not (set(value) & _META), (key, value)
            assert value.isascii() and value.isprintable(), (key, value)
        elif isinstance(value, float):
            assert math.isfinite(value) and 0 < value <= MAX_MONEY, (key, value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            assert 0 < value <= MAX_TOKENS, (key, value)
        elif hasattr(value, "total_seconds"):
            assert 0 < value.total_seconds() <= MAX_DURATION.total_seconds(), (key, value)


def _parse_checked(text: str) -> Command | None:
    try:
        command = parse_command(text)
    except CommandError as exc:
        _check_reply(exc)
        return None
    _check_values(command)
    return command


@_FUZZ
@given(st.text(max_size=300))
def test_any_text_parses_or_gets_a_bounded_sentence(text: str) -> None:
    _parse_checked(text)


@settings(_FUZZ, max_examples=4_000)
@given(_structured())
def test_shaped_commands_parse_to_bounded_data_or_a_bounded_sentence(text: str) -> None:
    _parse_checked(text)


# --- the outcome layer -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lifecycle(  # one real service on SQLite with the fake cloud for the whole module
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'bot.db'}")
    database.upgrade()
    clock = ManualClock()
    cloud = new_cloud(clock)
    lc = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    # A few endpoints for status/down/extend/buttons to find: ready, stopping, stopped.
    for name in ("alpha", "beta", "gamma"):
        lc.service.up(request=_up(name))
    lc.join()
    lc.service.down(name="gamma", actor="U_OWNER")
    lc.join()
    yield lc
    lc.close()
    cloud.close()
    database.dispose()


def _up(name: str) -> Any:
    parsed = parse_command(f"up Qwen/Qwen2.5-7B-Instruct L4:1 ctx=8k name={name}")
    assert isinstance(parsed, UpCommand)
    return parsed.to_request(owner_id="U_OWNER", channel_id="C1")


# Values each option takes, so that most generated `up`s get through to a launch spec.
_GOOD_VALUES: dict[str, list[str]] = {
    "engine": ["vllm", "sglang"],
    "ctx": ["4k", "8k", "8192"],
    "quant": ["fp8"],
    "dtype": ["bf16", "auto"],
    "kv": ["fp8", "auto"],
    "spot": ["yes", "no"],
    "idle": ["30m", "1h30m"],
    "ttl": ["2h", "45m"],
    "max-cost": ["50", "$12.50"],
    "name": ["fuzz-a", "q", "x-1-y"],
    "cloud": ["gcp", "aws"],
    "region": ["us-central1"],
}
_USERS = st.sampled_from(["U_OWNER", "U_STRANGER", "U_ADMIN"])
_NAMES = st.one_of(st.sampled_from(["alpha", "beta", "gamma", "nobody"]), _WORD)


@st.composite
def _outcome_command(draw: st.DrawFn) -> str:
    """Commands worth sending to the service: mostly well-formed, with fuzzed values."""
    sub = draw(st.sampled_from(["up", "fit", "status", "down", "extend", "list", "help"]))
    if sub in ("up", "fit"):
        model = draw(st.sampled_from(MODEL_IDS)) if draw(st.integers(0, 4)) else draw(_WORD)
        accel = draw(st.sampled_from(["L4:1", "A100-80GB:1", "H100:8", "A100-80GB:2"]))
        parts = [sub, model, accel if draw(st.integers(0, 4)) else draw(_ACCEL)]
        keys = draw(st.lists(st.sampled_from(list(_GOOD_VALUES)), max_size=5, unique=True))
        for key in keys:
            good = draw(st.sampled_from(_GOOD_VALUES[key]))
            parts.append(f"{key}={good if draw(st.integers(0, 5)) else draw(_VALUE)}")
        return " ".join(parts)
    if sub in ("status", "down"):
        return f"{sub} {draw(_NAMES)}"
    if sub == "extend":
        return f"extend {draw(_NAMES)} {draw(_VALUE)}"
    return draw(st.sampled_from(["list", "list all", "help", "help up"]))


def _check_spec_argv(spec: Any) -> None:
    """The launch line carries the engine argv word for word, the key only by reference."""
    script = launch_script(spec.engine_argv, engine=spec.engine)
    exec_line = script.rsplit("; ", 1)[1]
    words = shlex.split(exec_line)
    start = words.index("exec") + 1
    carried = words[start : start + len(spec.engine_argv)]
    assert carried == list(spec.engine_argv), (carried, spec.engine_argv)
    assert spec.model in spec.engine_argv, "the model is one argv word"


def _check_yaml(spec: Any) -> None:
    text = render_task_yaml(spec)
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    assert shlex.split(loaded["run"].rsplit("; ", 1)[1]).count(spec.model) >= 1


@settings(_FUZZ, max_examples=1_500)
@given(text=_outcome_command(), user=_USERS)
def test_commands_through_the_outcome_layer_end_in_an_outcome_or_a_sentence(
    lifecycle: Lifecycle, text: str, user: str
) -> None:
    parsed = _parse_checked(text)
    if parsed is None:
        return
    service = lifecycle.service
    try:
        if isinstance(parsed, UpCommand):
            # `up` itself would launch; its decisions are `preview`'s, and the argv is what reaches a shell.
            _plan, spec = service.preview(request=parsed.to_request(owner_id=user, channel_id="C1"))
            _check_spec_argv(spec)
            event("up: previewed and argv checked")
            return
        outcome = oc.run_command(parsed, service=service, user_id=user, channel_id="C1")
    except DoesNotFit as exc:
        assert not exc.plan.fits
        return
    except UserFacingError as exc:
        assert len(str(exc)) <= MAX_REPLY, str(exc)[:120]
        return
    assert outcome is not None


@settings(_FUZZ, max_examples=400)
@given(
    kind=st.sampled_from(["stop", "keep_alive", "extend_1h", "extend_4h"]),
    name=_NAMES,
    user=_USERS,
)
def test_buttons_end_in_an_outcome_or_a_sentence(
    lifecycle: Lifecycle, kind: str, name: str, user: str
) -> None:
    try:
        outcome = oc.press(kind, service=lifecycle.service, name=name, user_id=user)  # type: ignore[arg-type]
    except UserFacingError as exc:
        assert len(str(exc)) <= MAX_REPLY
        return
    assert outcome is not None


@settings(_FUZZ, max_examples=300)
@given(text=_outcome_command().filter(lambda t: t.startswith("up ")))
def test_a_passing_up_renders_a_task_whose_run_line_carries_the_argv(lifecycle: Lifecycle, text: str) -> None:
    parsed = _parse_checked(text)
    if not isinstance(parsed, UpCommand):
        return
    try:
        _plan, spec = lifecycle.service.preview(
            request=parsed.to_request(owner_id="U_OWNER", channel_id="C1")
        )
    except (DoesNotFit, UserFacingError):
        return
    _check_yaml(spec)
    event("up: task YAML rendered and checked")


@settings(_FUZZ, max_examples=1_000)
@given(text=st.one_of(_WORD, _VALUE), parse=st.sampled_from([parse_duration, parse_tokens, parse_money]))
def test_units_give_bounded_values_or_a_bounded_sentence(text: str, parse: Any) -> None:
    try:
        value = parse(text)
    except InvalidRequest as exc:
        assert len(str(exc)) <= 300, str(exc)[:120]
        return
    if isinstance(value, timedelta):
        assert timedelta(0) < value <= MAX_DURATION
    elif isinstance(value, float):
        assert math.isfinite(value) and 0 < value <= MAX_MONEY
    else:
        assert 0 < value <= MAX_TOKENS
