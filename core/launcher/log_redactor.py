"""`python -m core.launcher.log_redactor FILE`: copy an engine's output to its log, secrets removed.

The local launcher pipes each engine's stdout and stderr through this process (in the engine's own
process group, so it lives and dies with the engine, not with the bot). Engines print their arguments
at start-up (SGLang's `server_args=ServerArgs(... api_key='epk-...')`), so without it the endpoint's key
would sit in a log file. Removed: the values of `ENDPOINT_API_KEY`, `VLLM_API_KEY` and `HF_TOKEN` from
this process's environment (never its argv), anything shaped like an API key or HF token, bearer
tokens and `api_key=...` assignments. The log file is created 0600. Lines are written as they come.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.launcher.errors import scrub_secrets
from core.private_files import open_private

SECRET_VARIABLES = ("ENDPOINT_API_KEY", "VLLM_API_KEY", "HF_TOKEN")


def redact_line(line: str, secrets: list[str]) -> str:
    return scrub_secrets(line, secrets)


def copy(source: object, log_path: Path, secrets: list[str]) -> None:
    """Copy lines from the binary stream `source` to `log_path` (appending), each one scrubbed."""
    fd = open_private(log_path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "wb", buffering=0) as out:
        for raw in source:  # type: ignore[attr-defined]
            text = raw.decode("utf-8", "surrogateescape")
            out.write(redact_line(text, secrets).encode("utf-8", "surrogateescape"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m core.launcher.log_redactor LOG_FILE", file=sys.stderr)
        return 2
    secrets = [os.environ[name] for name in SECRET_VARIABLES if os.environ.get(name)]
    copy(sys.stdin.buffer, Path(args[0]), secrets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
