"""Showing people what they typed, bounded: a 10,000-character token is quoted as its first 60.

Every error message that quotes user input goes through `shown`, so a reply stays readable (and
within Slack's limits) whatever was pasted into the command.
"""

from __future__ import annotations

MAX_SHOWN = 60  # characters of one typed value quoted back; longer ones end in an ellipsis


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` as quoted back in a message: at most `limit` characters, an ellipsis marking a cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
