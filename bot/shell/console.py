"""The shell's output stream: whole lines under one lock, the prompt redrawn under lines from other threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TextIO

PROMPT = "endpoint-bot> "


class Console:
    """Whole lines to one stream under one lock. When interactive, a line printed by a worker thread while
    the prompt waits is written above the prompt, and the prompt and what was typed so far are redrawn."""

    def __init__(self, stream: TextIO, *, interactive: bool = False, prompt: str = PROMPT) -> None:
        self.stream = stream
        self.interactive = interactive
        self.prompt = prompt
        self._lock = threading.RLock()
        self._prompting = False

    def lines(self, lines: Sequence[str]) -> None:
        with self._lock:
            redraw = self.interactive and self._prompting
            out = ("\r\x1b[K" if redraw else "") + "".join(f"{line}\n" for line in lines)
            if redraw:
                out += self.prompt + _line_buffer()
            self.stream.write(out)
            self.stream.flush()

    def line(self, text: str) -> None:
        self.lines([text])

    def read(self, reader: Callable[[str], str | None], prompt: str | None = None) -> str | None:
        """Read one line through `reader` with `prompt`, marking the prompt as shown meanwhile."""
        prompt = self.prompt if prompt is None else prompt
        with self._lock:
            self._prompting = True
            self.prompt, saved = prompt, self.prompt
        try:
            return reader(prompt)
        finally:
            with self._lock:
                self._prompting = False
                self.prompt = saved


def _line_buffer() -> str:
    try:
        import readline

        return readline.get_line_buffer()
    except Exception:
        return ""
