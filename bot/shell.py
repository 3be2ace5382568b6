"""The shell adapter (placeholder until its owner builds it): `/endpoint` commands typed at a prompt.

`run_shell()` is what `endpoint-bot` runs when no Slack token is set.
"""

from __future__ import annotations

import sys


def run_shell(*, wait: bool | None = None, log_file: str | None = None) -> int:
    print(
        "The shell adapter is not built yet. Set SLACK_BOT_TOKEN and SLACK_APP_TOKEN to run the Slack bot "
        "(see docs/slack-setup.md), or use `endpoint-bot fit ...`.",
        file=sys.stderr,
    )
    return 2
