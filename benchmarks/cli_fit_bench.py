"""`endpoint-bot fit ... --json` as a process: how long a person waits for the command line's answer.

Run: `.venv/bin/python -m benchmarks.cli_fit_bench [--runs 10] [--source DIR]`.

Each run is a new Python process (`python -m bot.cli fit MODEL L4:1 --json`), timed from spawn to exit,
so imports count: that is what the user pays. Two models, no network:
- a local model directory (tests/fixtures/configs' Qwen2.5-7B config.json);
- `Qwen/Qwen2.5-7B-Instruct` through tests/fakes/fake_hub.py on loopback, warm: the first process fills
  the facts cache (not counted), the timed ones read it.
It also prints, for reference, a bare `python -c pass`, which heavy packages one fit process imported
(none of SQLAlchemy, Alembic, Slack, SkyPilot or `core.endpoints` should be there) and how long its
imports took by `python -X importtime` (less sensitive to a busy machine than the wall clock).
`--source DIR` times another checkout of the project (e.g. an older commit) with the same Python.
Target (issue 12): median under 0.3 s for a warm `fit`. Exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.3
MODEL = "Qwen/Qwen2.5-7B-Instruct"
HEAVY = ("sqlalchemy", "alembic", "slack_bolt", "slack_sdk", "sky", "core.endpoints", "huggingface_hub")
_REPORT_MODULES = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('MODULES ' + ' '.join(sorted({m for m in sys.modules "
    f"if m in {HEAVY!r}}})), file=sys.stderr))\n"
    "from bot.cli import main\n"
    "sys.exit(main())\n"
)


def _env(source: Path, sandbox: Path, hub_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE", "ENDPOINT_BOT_"))}
    env.update(
        PYTHONPATH=str(source),
        HF_HOME=str(sandbox / "hf-home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        ENDPOINT_BOT_FACTS_CACHE_DIR=str(sandbox / "facts"),
    )
    if hub_url:
        env["HF_ENDPOINT"] = hub_url
    return env


def _time(argv: list[str], *, env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    return time.perf_counter() - started, done


def _fit(
    model: str, *, env: dict[str, str], cwd: Path, report: bool = False
) -> tuple[float, subprocess.CompletedProcess]:
    if report:  # one process that also says what it imported, and how long the imports took
        head = [sys.executable, "-X", "importtime", "-c", _REPORT_MODULES]
    else:
        head = [sys.executable, "-m", "bot.cli"]
    seconds, done = _time([*head, "fit", model, "L4:1", "--json"], env=env, cwd=cwd)
    if done.returncode not in (0, 2) or not json.loads(done.stdout).get("model_id"):
        raise SystemExit(f"`endpoint-bot fit {model}` failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, done


def _import_ms(stderr: str) -> float:
    """The sum of the top-level imports' cumulative times in a `-X importtime` report, in ms."""
    total = 0
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _self, cumulative, name = line.removeprefix("import time:").split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):
                total += int(cumulative)
    return total / 1000


def _line(label: str, seconds: list[float]) -> str:
    return (
        f"  {label:<44} median {statistics.median(seconds):.3f} s, min {min(seconds):.3f} s, "
        f"max {max(seconds):.3f} s over {len(seconds)} runs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--source", type=Path, default=ROOT, help="the project checkout to time")
    args = parser.parse_args(argv)
    source = args.source.resolve()

    sandbox = Path(tempfile.mkdtemp(prefix="cli-fit-bench-"))
    model_dir = sandbox / "qwen2.5-7b"
    model_dir.mkdir()
    shutil.copy(
        ROOT / "tests" / "fixtures" / "configs" / "Qwen--Qwen2.5-7B-Instruct.json", model_dir / "config.json"
    )
    sys.path.insert(0, str(ROOT))
    from tests.fakes.fake_hub import FakeHub

    hub = FakeHub.start()
    try:
        local_env = _env(source, sandbox, None)
        hub_env = _env(source, sandbox, hub.url)
        bare = [
            _time([sys.executable, "-c", "pass"], env=local_env, cwd=sandbox)[0] for _ in range(args.runs)
        ]
        local = [_fit(str(model_dir), env=local_env, cwd=sandbox)[0] for _ in range(args.runs)]
        _fit(MODEL, env=hub_env, cwd=sandbox)  # fills the facts cache
        hub.clear_log()
        warm = [_fit(MODEL, env=hub_env, cwd=sandbox)[0] for _ in range(args.runs)]
        warm_requests = len(hub.model_requests())
        _, reported = _fit(MODEL, env=hub_env, cwd=sandbox, report=True)
    finally:
        hub.stop()
        shutil.rmtree(sandbox, ignore_errors=True)

    modules = next(
        (line.split()[1:] for line in reported.stderr.splitlines() if line.startswith("MODULES")), []
    )
    median = statistics.median(warm)
    print(f"`endpoint-bot fit MODEL L4:1 --json` as a process ({source})")
    print(_line("python -c pass (reference)", bare))
    print(_line("local model directory", local))
    print(_line(f"{MODEL}, warm facts cache", warm) + f", {warm_requests} Hub requests")
    print(f"  heavy packages imported by one fit: {', '.join(modules) or 'none'}")
    print(f"  its imports (python -X importtime, top-level cumulative): {_import_ms(reported.stderr):.0f} ms")
    ok = median < TARGET_S
    print(f"  target: median < {TARGET_S} s warm: " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
