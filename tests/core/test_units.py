"""Strict parsing of durations, token counts and money."""

from datetime import timedelta

import pytest

from core.errors import InvalidRequest
from core.units import format_duration, format_money, parse_duration, parse_money, parse_tokens


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45m", 2700), ("8h", 28800), ("1h30m", 5400), ("2d", 172800), ("90s", 90), (" 2H ", 7200)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "45", "m", "1x", "-5m", "0m", "1h 30m", "h1", "30m1"])
def test_bad_durations_say_how_to_write_them(text: str) -> None:
    with pytest.raises(InvalidRequest, match="45m"):
        parse_duration(text)


def test_durations_longer_than_ten_years_are_refused() -> None:
    assert parse_duration("3650d") == timedelta(days=3650)
    for text in ("3651d", "5000000d", "99999999999d"):
        with pytest.raises(InvalidRequest, match="too long"):
            parse_duration(text)


@pytest.mark.parametrize(
    ("text", "tokens"), [("4096", 4096), ("32k", 32768), ("128K", 131072), ("1m", 1048576)]
)
def test_tokens(text: str, tokens: int) -> None:
    assert parse_tokens(text) == tokens


@pytest.mark.parametrize("text", ["", "32kb", "0", "1.5k", "k", "-1"])
def test_bad_tokens(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_tokens(text)


@pytest.mark.parametrize(("text", "amount"), [("$50", 50.0), ("50", 50.0), ("12.5", 12.5), ("$0.25", 0.25)])
def test_money(text: str, amount: float) -> None:
    assert parse_money(text) == amount


@pytest.mark.parametrize("text", ["", "$", "-5", "0", "fifty", "$5.123", "5$"])
def test_bad_money(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_money(text)


def test_formatting() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(days=2, hours=4, minutes=5)) == "2d4h"
    assert format_money(1234.5) == "$1,234.50"
    assert format_money(0.001) == "<$0.01"


# Numbers are bounded before any arithmetic: no ValueError from Python's 4,300-digit limit, no inf.
@pytest.mark.parametrize(
    ("parse", "text", "words"),
    [
        (parse_duration, "1" * 4301 + "m", "not a valid"),
        (parse_duration, "9" * 12 + "d", "too long"),
        (parse_tokens, "1" * 400, "not a valid"),
        (parse_tokens, "17m", "too large"),
        (parse_tokens, "16385k", "too large"),
        (parse_money, "9" * 400, "not a valid"),
        (parse_money, "1000000.01", "too large"),
    ],
)
def test_huge_numbers_are_refused_with_a_bounded_message(parse, text: str, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words) as err:
        parse(text)
    assert len(str(err.value)) < 200, "the input is quoted, not echoed whole"


def test_the_largest_accepted_values_parse() -> None:
    assert parse_tokens("16m") == 16 * 1024 * 1024
    assert parse_money("$1000000") == 1_000_000.0
    assert parse_duration("3650d") == timedelta(days=3650)
