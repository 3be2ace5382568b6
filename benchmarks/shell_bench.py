"""How quickly the shell adapter answers a person, and how fast it can print what worker threads post.

Run: `.venv/bin/python -m benchmarks.shell_bench [--rounds 200] [--launches 3]`.

1. A real `endpoint-bot shell` process (local launcher, fake engine, SQLite in a temporary directory,
   a local model directory, so no Hub): time from spawn to the answer of the first `list` (imports,
   migrations, the first reconcile), then `--launches` endpoints are brought up and, while they are
   up, `--rounds` rounds of `list`, `status NAME`, `status nope` and a typo, each timed from writing the
   line to reading its answer's first line. Every endpoint is stopped at the end.
2. In-process: 8 threads posting 3-line thread replies through `ShellNotifier` to /dev/null (lines/s).

Targets: startup < 5 s; answer p99 < 100 ms for every kind of line. Exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.fakes.local_bot import local_bot_env

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path("/work/shared/fixtures/model_configs.json")
STARTUP_TARGET_S = 5.0
P99_TARGET_MS = 100.0


class _Shell:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())", "shell"],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def ask(self, line: str, answer: str, timeout: float = 60) -> float:
        """Send `line`; seconds until a line matching `answer` arrives (card/thread lines are skipped)."""
        assert self.proc.stdin is not None
        began = time.perf_counter()
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        while not re.search(answer, self.lines.get(timeout=timeout)):
            pass
        return time.perf_counter() - began

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=120)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _process_bench(rounds: int, launches: int) -> tuple[float, dict[str, list[float]]]:
    tmp = Path(tempfile.mkdtemp(prefix="shell-bench-"))
    model = tmp / "model"
    model.mkdir()
    config = next(
        e["config"] for e in json.loads(FIXTURES.read_text()) if e["model_id"] == "Qwen/Qwen2.5-7B-Instruct"
    )
    (model / "config.json").write_text(json.dumps(config))
    env = local_bot_env(tmp)
    began = time.perf_counter()
    shell = _Shell(env, tmp)
    shell.ask("list", r"^No live endpoints")
    startup = time.perf_counter() - began
    names = [f"bench-{i}" for i in range(launches)]
    for name in names:
        shell.ask(f"up {model} L4:1 ctx=8k name={name}", rf"^Launching `{name}`")
    for name in names:
        shell.ask(f"wait {name}", rf"^`{name}` is ready\.")
    timings: dict[str, list[float]] = {"list": [], "status NAME": [], "status nope": [], "typo": []}
    for i in range(rounds):
        name = names[i % len(names)] if names else None
        timings["list"].append(shell.ask("list", r"^bench-|^No live endpoints"))
        if name:
            timings["status NAME"].append(shell.ask(f"status {name}", rf"^{name}: "))
        timings["status nope"].append(shell.ask("status nope", r"^No endpoint called `nope`"))
        timings["typo"].append(shell.ask("stauts nope", r"^`stauts` is not an `/endpoint` command"))
    for name in names:
        shell.ask(f"down {name}", rf"^Stopping `{name}`")
    shell.close()  # waits for the teardowns
    shutil.rmtree(tmp, ignore_errors=True)
    return startup, {k: v for k, v in timings.items() if v}


def _print_bench(seconds: float = 2.0) -> float:
    """Lines per second 8 threads get through ShellNotifier into /dev/null."""
    from bot.shell.console import Console
    from bot.shell.notifier import ShellNotifier
    from tests.bot.slack.views_fixtures import view

    with open(os.devnull, "w") as sink:
        notifier = ShellNotifier(Console(sink))
        endpoint = view(name="qwen")
        stop = time.perf_counter() + seconds
        counts = [0] * 8

        def post(worker: int) -> None:
            while time.perf_counter() < stop:
                notifier.thread_post(endpoint, "first line\nsecond line\nthird line")
                counts[worker] += 3

        threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return sum(counts) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--launches", type=int, default=3)
    args = parser.parse_args()
    startup, timings = _process_bench(args.rounds, args.launches)
    ok = startup < STARTUP_TARGET_S
    print(f"startup to first answer: {startup:.2f} s (target < {STARTUP_TARGET_S:.0f} s)")
    print(f"answers with {args.launches} endpoint(s) up, {args.rounds} rounds:")
    for kind, samples in timings.items():
        p50, p99 = _pct(samples, 0.5), _pct(samples, 0.99)
        ok &= p99 < P99_TARGET_MS
        print(f"  {kind:<12} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(samples) * 1000:6.1f} ms")
    print(f"printing from 8 threads: {_print_bench():,.0f} lines/s")
    print("targets met" if ok else f"TARGET MISSED (answer p99 < {P99_TARGET_MS:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
