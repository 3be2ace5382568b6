"""Strict parsers for the quantities people type: durations, token counts and money.

`45m`, `1h30m`, `8h`, `2d` are durations; `32k`, `128K`, `131072` are token counts (k = 1024, as
the engines read them); `$50`, `50`, `12.5` are dollars. Anything else is refused with a message
that shows the accepted spellings.
"""

from __future__ import annotations

import re
from datetime import timedelta

from core.echo import shown
from core.errors import InvalidRequest

# Every number is bounded by its digit count before `int()`/`float()` sees it (Python refuses
# integers over 4,300 digits with a ValueError, and `float("9" * 400)` is inf), then by its value.
_MAX_DIGITS = 12
_DURATION_PART = re.compile(rf"(\d{{1,{_MAX_DIGITS}}})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Longer than any lifetime or extension anyone means; beyond it `now + duration` overflows datetime.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """Parse `45m`, `8h`, `1h30m`, `2d` (a bare number is refused: the unit must be explicit)."""
    raw = text.strip().lower()
    if not raw:
        raise InvalidRequest(f"The {what} is empty; write it like `45m`, `8h` or `1h30m`.")
    pos = 0
    total = 0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or total <= 0:
        raise InvalidRequest(
            f"`{shown(text)}` is not a valid {what}; write it like `45m`, `8h`, `1h30m` or `2d`."
        )
    if total > MAX_DURATION.total_seconds():
        raise InvalidRequest(
            f"`{shown(text)}` is too long for a {what}; write at most `{MAX_DURATION.days}d`."
        )
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """Render a duration the way people write it: `1h30m`, `45m`, `2d4h`, `30s`."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0m"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


_TOKENS = re.compile(rf"(\d{{1,{_MAX_DIGITS}}})([km]?)")
# More than any model's context window (the largest published are around 10M tokens).
MAX_TOKENS = 16 * 1024 * 1024


def parse_tokens(text: str, *, what: str = "context length") -> int:
    """Parse a token count: `4096`, `32k` (= 32768), `1m` (= 1048576); at most `MAX_TOKENS`."""
    raw = text.strip().lower()
    match = _TOKENS.fullmatch(raw)
    if not match or int(match.group(1)) <= 0:
        raise InvalidRequest(f"`{shown(text)}` is not a valid {what}; write it like `4096`, `32k` or `128k`.")
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2)]
    tokens = int(match.group(1)) * factor
    if tokens > MAX_TOKENS:
        raise InvalidRequest(f"`{shown(text)}` is too large for a {what}; write at most `16m`.")
    return tokens


def format_tokens(tokens: int) -> str:
    """`40960` -> `40k`; `131072` -> `128k`; odd values stay exact (`100,000`)."""
    return f"{tokens // 1024}k" if tokens >= 1024 and tokens % 1024 == 0 else f"{tokens:,}"


_MONEY = re.compile(rf"\$?(\d{{1,{_MAX_DIGITS}}}(?:\.\d{{1,2}})?)")
# A cap nobody means to go past; it keeps every amount finite and within a database column.
MAX_MONEY = 1_000_000.0


def parse_money(text: str, *, what: str = "amount") -> float:
    """Parse dollars: `$50`, `50`, `12.5`. Must be positive and at most `MAX_MONEY`."""
    raw = text.strip()
    match = _MONEY.fullmatch(raw)
    if not match or float(match.group(1)) <= 0:
        raise InvalidRequest(f"`{shown(text)}` is not a valid {what}; write dollars like `$50` or `12.50`.")
    amount = float(match.group(1))
    if amount > MAX_MONEY:
        raise InvalidRequest(f"`{shown(text)}` is too large for a {what}; write at most `${MAX_MONEY:,.0f}`.")
    return amount


def format_money(amount: float) -> str:
    """`$1.23`; amounts under a cent show as `<$0.01`."""
    if 0 < amount < 0.005:
        return "<$0.01"
    return f"${amount:,.2f}"


def coerce_duration(value: object) -> object:
    """A settings or policy value as a duration: `45m`, `8h`, or a number of seconds (pydantic's
    BeforeValidator; a bad text is a ValueError pydantic reports under the field's name)."""
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            return parse_duration(value)
        except InvalidRequest as exc:  # pydantic reports ValueErrors with the field's name
            raise ValueError(str(exc)) from None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        return timedelta(seconds=float(value))
    return value
