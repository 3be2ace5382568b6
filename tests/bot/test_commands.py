"""The `/endpoint` parser: every command, every option, and the mistakes people make."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.commands import (
    CommandError,
    DownCommand,
    ExtendCommand,
    FitCommand,
    HelpCommand,
    ListCommand,
    StatsCommand,
    StatusCommand,
    UpCommand,
    help_text,
    parse_command,
)
from core.endpoints.service import UpRequest
from core.errors import InvalidRequest

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def test_up_minimal() -> None:
    cmd = parse_command(f"up {MODEL} L4:1")
    assert isinstance(cmd, UpCommand)
    assert cmd.model == MODEL
    assert cmd.accelerators.upper() == "L4:1"
    assert cmd.engine is None and cmd.spot is None and cmd.relaunch is False


def test_up_count_defaults_to_one() -> None:
    cmd = parse_command(f"up {MODEL} L4")
    assert isinstance(cmd, UpCommand)
    assert cmd.accelerators.upper().endswith(":1")


def test_up_every_option() -> None:
    cmd = parse_command(
        f"up {MODEL} H100:2 engine=sglang ctx=32k quant=fp8 dtype=bf16 kv=fp8 spot=yes idle=45m ttl=8h "
        "max-cost=$50 name=qwen-7b draft=Qwen/Qwen2.5-0.5B-Instruct spec-tokens=3 cloud=gcp "
        "region=us-central1 relaunch=on"
    )
    assert cmd == UpCommand(
        model=MODEL,
        accelerators=cmd.accelerators,
        engine="sglang",
        max_model_len=32768,
        quantization="fp8",
        dtype="bfloat16",
        kv_cache_dtype="fp8",
        spot=True,
        idle_timeout=timedelta(minutes=45),
        ttl=timedelta(hours=8),
        max_cost=50.0,
        name="qwen-7b",
        draft_model="Qwen/Qwen2.5-0.5B-Instruct",
        speculative_tokens=3,
        cloud="gcp",
        region="us-central1",
        relaunch=True,
    )


def test_up_maps_to_up_request() -> None:
    cmd = parse_command(f"up {MODEL} L4:1 idle=30m max-cost=12.5 spot=off")
    assert isinstance(cmd, UpCommand)
    request = cmd.to_request(owner_id="U1", channel_id="C1")
    assert isinstance(request, UpRequest)
    assert request.owner_id == "U1" and request.channel_id == "C1"
    assert request.idle_timeout == timedelta(minutes=30)
    assert request.max_cost == 12.5
    assert request.spot is False
    assert request.model == MODEL


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("yes", True),
        ("no", False),
        ("true", True),
        ("false", False),
        ("on", True),
        ("off", False),
        ("YES", True),
    ],
)
def test_booleans(word: str, value: bool) -> None:
    cmd = parse_command(f"up {MODEL} L4:1 spot={word}")
    assert isinstance(cmd, UpCommand) and cmd.spot is value


@pytest.mark.parametrize(
    ("word", "dtype"),
    [
        ("bf16", "bfloat16"),
        ("fp16", "float16"),
        ("half", "float16"),
        ("auto", "auto"),
        ("float32", "float32"),
    ],
)
def test_dtype_aliases(word: str, dtype: str) -> None:
    cmd = parse_command(f"up {MODEL} L4:1 dtype={word}")
    assert isinstance(cmd, UpCommand) and cmd.dtype == dtype


def test_keys_are_case_insensitive_and_values_of_enums_too() -> None:
    cmd = parse_command(f"UP {MODEL} L4:1 Engine=SGLang")
    assert isinstance(cmd, UpCommand) and cmd.engine == "sglang"


def test_local_model_directory() -> None:
    cmd = parse_command("up /models/my-model L4:1")
    assert isinstance(cmd, UpCommand) and cmd.model == "/models/my-model"


def test_fit_without_accel() -> None:
    assert parse_command(f"fit {MODEL}") == FitCommand(model=MODEL, accelerators=None, options={})


def test_fit_with_accel_and_options_uses_fit_option_names() -> None:
    cmd = parse_command(f"fit {MODEL} A100-80GB:1 ctx=4096 engine=vllm kv=fp8_e4m3")
    assert isinstance(cmd, FitCommand)
    assert cmd.accelerators is not None and cmd.accelerators.upper() == "A100-80GB:1"
    assert cmd.options == {"max_model_len": 4096, "engine": "vllm", "kv_cache_dtype": "fp8_e4m3"}


def test_fit_with_options_and_no_accel() -> None:
    cmd = parse_command(f"fit {MODEL} ctx=128k")
    assert cmd == FitCommand(model=MODEL, accelerators=None, options={"max_model_len": 131072})


def test_fit_refuses_up_only_options() -> None:
    with pytest.raises(CommandError, match="applies to `up` only"):
        parse_command(f"fit {MODEL} idle=30m")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("list", ListCommand(include_terminal=False)),
        ("list all", ListCommand(include_terminal=True)),
        ("LIST ALL", ListCommand(include_terminal=True)),
        ("status qwen-7b", StatusCommand(name="qwen-7b")),
        ("down qwen-7b", DownCommand(name="qwen-7b")),
        ("down Qwen-7B", DownCommand(name="qwen-7b")),
        ("extend qwen-7b 2h", ExtendCommand(name="qwen-7b", by=timedelta(hours=2))),
        ("extend qwen-7b +1h30m", ExtendCommand(name="qwen-7b", by=timedelta(minutes=90))),
        ("", HelpCommand()),
        ("   ", HelpCommand()),
        ("help", HelpCommand()),
        ("help up", HelpCommand(topic="up")),
    ],
)
def test_other_commands(text: str, expected: object) -> None:
    assert parse_command(text) == expected


def test_slack_escaping_and_links_are_undone() -> None:
    cmd = parse_command("up <http://Qwen/Qwen2.5-7B-Instruct|Qwen/Qwen2.5-7B-Instruct> L4:1 name=a")
    assert isinstance(cmd, UpCommand) and cmd.model == MODEL


# --- mistakes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("stop qwen-7b", "down"),
        ("lst", "list"),
        ("stauts x", "status"),
        ("upp m L4:1", "up"),
        ("launch m L4:1", "up"),
        ("extnd x 2h", "extend"),
    ],
)
def test_unknown_subcommand_suggests_the_closest(text: str, suggestion: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(text)
    assert info.value.suggestion == suggestion
    assert f"Did you mean `{suggestion}`" in str(info.value)
    assert "Usage:" in str(info.value)


def test_gibberish_subcommand_has_no_suggestion_but_usage() -> None:
    with pytest.raises(CommandError) as info:
        parse_command("xyzzy")
    assert info.value.suggestion is None
    assert "/endpoint up MODEL ACCEL" in str(info.value)


@pytest.mark.parametrize(
    ("option", "suggestion"),
    [
        ("contxt=32k", "ctx=32k"),
        ("engin=vllm", "engine=vllm"),
        ("max_cost=50", "max-cost=50"),
        ("max-model-len=4096", "ctx=4096"),
        ("quantization=fp8", "quant=fp8"),
        ("spec_tokens=3", "spec-tokens=3"),
        ("idel=30m", "idle=30m"),
    ],
)
def test_unknown_option_suggests_the_closest(option: str, suggestion: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(f"up {MODEL} L4:1 {option}")
    assert info.value.suggestion == suggestion
    assert "Unknown option" in str(info.value)
    assert "Usage: `/endpoint up" in str(info.value)


def test_dash_dash_options_are_explained() -> None:
    with pytest.raises(CommandError, match="key=value") as info:
        parse_command(f"up {MODEL} L4:1 --max-model-len 4096")
    assert info.value.suggestion == "ctx=..."


@pytest.mark.parametrize(
    ("option", "fragment", "suggestion"),
    [
        ("engine=vlm", "not a valid engine", "engine=vllm"),
        ("engine=tgi", "not a valid engine", None),
        ("quant=fp9", "not a valid quantization", "quant=fp8"),
        ("kv=fp8e4m3", "not a valid KV cache dtype", "kv=fp8_e4m3"),
        ("cloud=gpc", "not a valid cloud", "cloud=gcp"),
        ("dtype=bfloat61", "not a valid dtype", "dtype=bfloat16"),
    ],
)
def test_bad_enumerated_values_suggest(option: str, fragment: str, suggestion: str | None) -> None:
    with pytest.raises(CommandError, match=fragment) as info:
        parse_command(f"up {MODEL} L4:1 {option}")
    assert info.value.suggestion == suggestion


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("ctx=32kb", "not a valid context length"),
        ("ctx=0", "not a valid context length"),
        ("idle=45", "45m"),
        ("ttl=8 hours", None),
        ("ttl=forever", "8h"),
        ("max-cost=fifty", "\\$50"),
        ("max-cost=-5", "\\$50"),
        ("spot=maybe", "yes"),
        ("relaunch=2", "yes"),
        ("name=Qwen_7B", "endpoint name"),
        ("name=-x", "endpoint name"),
        ("name=x-", "endpoint name"),
        ("spec-tokens=0", "whole number"),
        ("spec-tokens=abc", "whole number"),
        ("spec-tokens=\u00b2", "whole number"),  # "²".isdigit() is True but int() refuses it
        ("ttl=99999999999d", "too long"),  # past what timedelta holds
        ("region=us central", None),
        ("draft=../../etc", "draft model"),
        ("ctx=", "has no value"),
    ],
)
def test_malformed_values_are_refused(option: str, fragment: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_command(f"up {MODEL} L4:1 {option}")
    if fragment:
        assert info.value.args and __import__("re").search(fragment, str(info.value))
    assert "Usage:" in str(info.value)


def test_spec_tokens_need_a_draft() -> None:
    with pytest.raises(CommandError, match="draft=MODEL"):
        parse_command(f"up {MODEL} L4:1 spec-tokens=3")


def test_duplicate_option() -> None:
    with pytest.raises(CommandError, match="given twice"):
        parse_command(f"up {MODEL} L4:1 ctx=4k ctx=8k")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("up", "needs MODEL and ACCEL"),
        (f"up {MODEL}", "needs ACCEL"),
        (f"up {MODEL} L4:1 extra", "is extra"),
        (f"up {MODEL} L4:0", "not a valid accelerator"),
        (f"up {MODEL} 4xL4", "not a valid accelerator"),
        (f"up {MODEL} L4:two", "not a valid accelerator"),
        ("up ;rm L4:1", "not a valid model"),
        ("up $(reboot) L4:1", "not a valid model"),
        ("fit", "needs a MODEL"),
        (f"fit {MODEL} L4:1 more", "is extra"),
        ("status", "needs the endpoint's NAME"),
        ("down a b", "takes one NAME"),
        ("down a;b", "endpoint name"),
        ("extend x", "needs the endpoint's NAME and how long"),
        ("extend x 2", "45m"),
        ("extend x forever", "45m"),
        ("list mine", "takes nothing or `all`"),
        ("help nonsense", "No help"),
    ],
)
def test_structural_mistakes(text: str, fragment: str) -> None:
    with pytest.raises(CommandError, match=fragment.replace("(", "\\(")) as info:
        parse_command(text)
    assert info.value.usage


def test_list_typo_suggests_all() -> None:
    with pytest.raises(CommandError) as info:
        parse_command("list al")
    assert info.value.suggestion == "list all"


def test_help_text_lists_every_command() -> None:
    text = help_text()
    for sub in ("up", "fit", "list", "status", "down", "extend", "help"):
        assert f"/endpoint {sub}" in text
    assert help_text("extend").startswith("`/endpoint extend NAME 2h`")


def test_the_parser_accepts_only_what_the_service_accepts() -> None:
    """The enumerations come from the service: a value the parser lets through is never refused later
    for its spelling, and one the service refuses is answered here, with the usage."""
    from bot import commands
    from core import vocabulary
    from core.endpoints import validation

    assert set(commands.DTYPES.values()) <= set(vocabulary.DTYPES)
    assert set(commands.QUANTIZATIONS) == set().union(*vocabulary.QUANTIZATIONS.values())
    assert set(commands.CLOUDS) == set(validation.CLOUDS)
    assert set(commands.KV_DTYPES) == set().union(*vocabulary.KV_CACHE_DTYPES.values())
    too_many = validation.MAX_SPECULATIVE_TOKENS + 1
    with pytest.raises(CommandError, match=f"from 1 to {validation.MAX_SPECULATIVE_TOKENS}"):
        parse_command(f"up {MODEL} L4:1 draft=Qwen/Qwen2.5-0.5B-Instruct spec-tokens={too_many}")
    with pytest.raises(CommandError, match="not a valid region"):
        parse_command(f"up {MODEL} L4:1 cloud=gcp region=x")


def test_an_absurd_extension_is_refused_not_a_traceback() -> None:
    with pytest.raises(InvalidRequest, match="too long"):
        parse_command("extend qwen-7b 5000000d")  # fits a timedelta, but `now + by` would overflow


def test_tp_and_mem_on_fit_and_up() -> None:
    fit = parse_command(f"fit {MODEL} A100-80GB:2 ctx=32k tp=2 mem=0.9")
    assert isinstance(fit, FitCommand)
    assert fit.options == {"max_model_len": 32768, "tensor_parallel": 2, "memory_fraction": 0.9}
    up = parse_command(f"up {MODEL} L4:2 tp=1 mem=85%")
    assert isinstance(up, UpCommand) and (up.tensor_parallel, up.memory_fraction) == (1, 0.85)
    request = up.to_request(owner_id="U1", channel_id="C1")
    assert (request.tensor_parallel, request.memory_fraction) == (1, 0.85)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("mem=1.2", "between 0 and 1"),
        ("mem=0", "between 0 and 1"),
        ("mem=lots", "not a memory fraction"),
        ("tp=0", "tensor parallel size"),
        ("tp=two", "tensor parallel size"),
        ("tensor-parallel-size=2", "tp=2"),
        ("gpu-memory-utilization=0.9", "mem=0.9"),
    ],
)
def test_bad_tp_or_mem_gets_a_sentence(text: str, words: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(f"up {MODEL} L4:1 {text}")
    assert words in str(caught.value)


def test_one_vocabulary_for_parser_service_and_engines() -> None:
    """Engines, quantizations and KV dtypes are core.vocabulary's, wherever they are read."""
    from bot import commands
    from core import vocabulary
    from core.engines import names

    assert commands.ENGINES == names.ENGINES == vocabulary.ENGINES
    assert vocabulary.QUANTIZATIONS["vllm"] is names.VLLM_QUANTIZATION is vocabulary.VLLM_QUANTIZATION
    assert vocabulary.QUANTIZATIONS["sglang"] is names.SGLANG_QUANTIZATION
    assert vocabulary.KV_CACHE_DTYPES["vllm"] is names.VLLM_KV_CACHE_DTYPES
    # SGLang's aliases ("fp8" -> fp8_e4m3) are accepted wherever SGLang's dtypes are.
    assert (
        "fp8" in vocabulary.KV_CACHE_DTYPES["sglang"]
        and "fp8_inc" not in vocabulary.KV_CACHE_DTYPES["sglang"]
    )
    assert set(commands.DTYPES.values()) <= vocabulary.DTYPES


@pytest.mark.parametrize(
    "model",
    ["org/model@main", "Qwen/Qwen2.5-7B-Instruct@v1.0", f"Qwen/Qwen2.5-7B-Instruct@{'a1' * 20}", "gpt2"],
)
def test_pinned_and_legacy_model_ids_parse_for_up_and_fit(model: str) -> None:
    up = parse_command(f"up {model} L4:1")
    assert isinstance(up, UpCommand) and up.model == model
    fit = parse_command(f"fit {model} L4:1")
    assert isinstance(fit, FitCommand) and fit.model == model


@pytest.mark.parametrize("model", ["org/model@", "org/a/b", "org--x/y", "org/model.", "org/model@..", "../x"])
def test_malformed_model_ids_are_refused_by_the_parser(model: str) -> None:
    with pytest.raises(CommandError, match="not a valid model"):
        parse_command(f"up {model} L4:1")


@pytest.mark.parametrize("name", ["7b-model", "qwen-7b", "a"])
def test_endpoint_names_the_store_derives_are_names_the_parser_takes(name: str) -> None:
    # store.derive_name("org/7B-Model") is "7b-model": `down 7b-model` must reach it.
    assert parse_command(f"down {name}") == DownCommand(name=name)


@pytest.mark.parametrize("name", ["a--b", "-x", "x-", "a_b", "x" * 41])
def test_endpoint_names_the_store_refuses_are_refused_by_the_parser(name: str) -> None:
    with pytest.raises(CommandError, match="not a usable endpoint name"):
        parse_command(f"down {name}")


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [("A100-40GB", "A100:1"), ("H100-SXM5:8", "H100,H100-SXM:8"), ("RTX-3090:2", "RTX3090:2"),
     ("3090", "RTX3090:1"), ("H100,H100-SXM:8", "H100,H100-SXM:8"), ("L40S-48GB:4", "L40S:4")],
)  # fmt: skip
def test_gpu_spellings_people_type_parse(typed: str, normalised: str) -> None:
    command = parse_command(f"up {MODEL} {typed}")
    assert isinstance(command, UpCommand) and command.accelerators == normalised
    fit = parse_command(f"fit {MODEL} {typed}")
    assert isinstance(fit, FitCommand) and fit.accelerators == normalised


def test_rope_yarn_parses_for_up_and_fit() -> None:
    up = parse_command(f"up {MODEL} A100-80GB:1 ctx=128k rope=yarn")
    assert isinstance(up, UpCommand) and up.rope_scaling == "yarn" and up.max_model_len == 131072
    assert up.to_request(owner_id="U1", channel_id=None).rope_scaling == "yarn"
    fit = parse_command(f"fit {MODEL} A100-80GB:1 ctx=128k rope=YaRN")
    assert isinstance(fit, FitCommand) and fit.options == {"max_model_len": 131072, "rope_scaling": "yarn"}


def test_an_unknown_rope_scaling_is_refused_with_the_choice() -> None:
    with pytest.raises(CommandError, match="not a valid RoPE scaling") as info:
        parse_command(f"up {MODEL} L4:1 rope=yarm")
    assert "rope=yarn" in str(info.value)
    with pytest.raises(CommandError, match="rope=yarn"):
        parse_command(f"fit {MODEL} rope-scaling=yarn")


# --- bounded numbers and bounded echoes (issue 10, item 8) ------------------------------------------

MODEL_ID = "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    "text",
    [
        f"up {MODEL_ID} L4:1 idle={'1' * 4301}m",  # was ValueError (int digit limit) -> HTTP 500
        f"up {MODEL_ID} L4:1 ctx={'1' * 400}",  # was accepted, then OverflowError
        f"up {MODEL_ID} L4:1 max-cost={'9' * 400}",  # was max_cost=inf ("cap $inf")
        f"up {MODEL_ID} L4:1 spec-tokens={'9' * 5000}",
        f"up {MODEL_ID} L4:{'9' * 5000}",
        f"fit {MODEL_ID} L4:1 ctx={'9' * 5000}k",
        f"extend qwen {'9' * 5000}h",
        f"up {'x' * 10_000} L4:1",  # a model id longer than any on the Hub
    ],
)
def test_huge_numbers_and_tokens_are_refused_with_a_bounded_reply(text: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_command(text)
    reply = str(err.value)
    assert len(reply) < 700, reply[:200]
    assert "…" in reply, "the long value is quoted cut, with an ellipsis"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,
        f"up {MODEL_ID} L4:1 {'k' * 10_000}=1",
        f"up {MODEL_ID} L4:1 ctx=8k {'a' * 10_000}",
        f"up {MODEL_ID} L4:1 engine={'v' * 10_000}",
        f"up {MODEL_ID} L4:1 name={'n' * 10_000}",
        f"up {MODEL_ID} L4:1 region={'r' * 10_000}",
        f"up {MODEL_ID} {'A' * 10_000}",
        "list " + "all " * 3000,
        "help " + "up " * 3000,
        f"down {'d' * 10_000}",
    ],
)
def test_a_ten_thousand_character_token_is_never_echoed_whole(text: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_command(text)
    assert len(str(err.value)) < 1000  # the echo is cut; the usage and GPU list are fixed text


def test_numbers_at_their_bounds_parse() -> None:
    parsed = parse_command(f"up {MODEL_ID} L4:1 ctx=16m max-cost=1000000 idle=3650d")
    assert isinstance(parsed, UpCommand)
    assert parsed.max_model_len == 16 * 1024 * 1024 and parsed.max_cost == 1_000_000.0


@pytest.mark.parametrize(
    ("text", "contains"),
    [
        ("stats", None),
        ("STATS", None),
        ("stats qwen", "qwen"),
        ("stats H100:8", "H100:8"),
        ("stats Qwen/Qwen2.5", "Qwen/Qwen2.5"),
    ],
)
def test_stats_takes_nothing_or_one_word(text: str, contains: str | None) -> None:
    assert parse_command(text) == StatsCommand(contains=contains)


@pytest.mark.parametrize("text", ["stats qwen h100", "stats $(rm -rf /)", "stats " + "x" * 101])
def test_stats_refuses_more_with_its_usage(text: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(text)
    assert "`stats` takes nothing or one word" in str(info.value)
    assert "/endpoint stats [WORD]" in str(info.value)


@pytest.mark.parametrize(
    ("text", "suggestion"), [("timings", "stats"), ("stat", "stats"), ("statsu", "status")]
)
def test_stats_spellings_are_suggested(text: str, suggestion: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(text)
    assert info.value.suggestion == suggestion


def test_replicas_autoscale_and_qps_parse_into_the_up_command() -> None:
    fixed = parse_command("up Qwen/Qwen2.5-7B-Instruct L4:1 replicas=3")
    assert isinstance(fixed, UpCommand) and fixed.replicas == 3 and fixed.autoscale is None
    scaled = parse_command("up Qwen/Qwen2.5-7B-Instruct L4:1 autoscale=1-4 qps=2.5")
    assert isinstance(scaled, UpCommand)
    assert (scaled.autoscale, scaled.target_qps, scaled.replicas) == ((1, 4), 2.5, None)
    request = scaled.to_request(owner_id="U1", channel_id="C1")
    assert (request.autoscale, request.target_qps) == ((1, 4), 2.5)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("replicas=2 autoscale=1-4 qps=5", "not both"),
        ("autoscale=1-4", "needs a target load per replica"),
        ("qps=5", "goes with `autoscale=MIN-MAX`"),
        ("replicas=0", "would serve nothing"),
        ("replicas=two", "not a valid number of replicas"),
        ("autoscale=4", "not a range of replicas"),
        ("autoscale=1-4 qps=-1", "not a target load"),
    ],
)
def test_bad_replica_options_get_a_sentence_and_the_usage(text: str, problem: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(f"up Qwen/Qwen2.5-7B-Instruct L4:1 {text}")
    assert problem in str(caught.value) and "Usage:" in str(caught.value)


def test_up_tls_opt_out_and_its_mistakes() -> None:
    assert parse_command(f"up {MODEL} L4:1").tls is None  # type: ignore[union-attr]
    cmd = parse_command(f"up {MODEL} L4:1 tls=no")
    assert isinstance(cmd, UpCommand) and cmd.tls is False
    assert parse_command(f"up {MODEL} L4:1 tls=yes").tls is True  # type: ignore[union-attr]
    with pytest.raises((CommandError, InvalidRequest)) as info:
        parse_command(f"up {MODEL} L4:1 tls=maybe")
    said = str(info.value)
    assert "`tls=maybe` is not a choice" in said and "tls=no" in said
    with pytest.raises(CommandError):
        parse_command(f"fit {MODEL} L4:1 tls=no")  # `fit` launches nothing
    assert "[tls=no]" in help_text("up")
