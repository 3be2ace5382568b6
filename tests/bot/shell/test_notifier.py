"""`ShellNotifier` on a `Console`: messages posted from many worker threads print whole."""

from __future__ import annotations

import io
import threading

import pytest

from bot.shell.console import Console
from bot.shell.notifier import ShellNotifier
from core.clock import ManualClock
from core.notifier import Action
from tests.bot.slack.views_fixtures import view


@pytest.mark.timeout(30)
def test_worker_threads_print_whole_messages() -> None:
    stream = io.StringIO()
    notifier = ShellNotifier(Console(stream), clock=ManualClock())
    endpoint = view(name="qwen")

    def post(worker: int) -> None:
        for i in range(50):
            notifier.thread_post(endpoint, f"w{worker} m{i} line one\nw{worker} m{i} line two")
            notifier.direct_message("U1", f"w{worker} m{i} dm", actions=(Action("stop", "Stop now", "qwen"),))

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 50 * 4
    for i, line in enumerate(lines):
        if line.endswith("line one"):
            assert lines[i + 1] == line.replace("line one", "line two"), "a message's lines stay together"
        if line.endswith(" dm"):
            assert lines[i + 1] == "[DM to U1] [1] Stop now qwen"
