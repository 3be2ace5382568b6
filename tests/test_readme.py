"""The README's commands work as written (issue 10, item 12): from a fresh `git clone` of this repository,
every command in its ```sh blocks that needs neither a cloud nor Slack is run, and must succeed.

Skipped: lines whose comment says they need a cloud, Slack or the engine environment (`# needs a cloud`,
`(needs Slack or a cloud)`, `# needs the engine env`), and `make test` (this suite itself). A block that is
a terminal session (`endpoint-bot> ` prompts) runs its first line with the typed lines (and the answers to
`[y/N]` questions) as its input. The clone reuses this checkout's installed packages: its `.venv` is a
folder of links to ours with its own `.installed` stamp (so `make` does not reinstall anything), and
PYTHONPATH points at the clone, so the clone's code is what runs. The Hub is the session's fake Hub.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.launcher.processes import kill_group, tagged_processes

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make"
    ),
]

_BLOCK = re.compile(r"^( *)```sh\n(.*?)^\1```", re.S | re.M)
_SKIP = re.compile(r"#.*\bneeds (?:a cloud|Slack|the engine env)|^make test\b")
_PROMPT = "endpoint-bot> "
_ANSWER = re.compile(r"\[y/N\] (\S+)$")


@dataclass(frozen=True)
class Step:
    script: str  # bash, run in the clone
    stdin: str = ""


def readme_steps(text: str) -> list[Step]:
    """The runnable steps of the README's ```sh blocks (see the module docstring)."""
    steps: list[Step] = []
    for indent, body in _BLOCK.findall(text):
        lines = [line[len(indent) :] for line in body.splitlines()]
        if any(line.startswith(_PROMPT) for line in lines):  # a terminal session
            typed = []
            for line in lines[1:]:
                if line.startswith(_PROMPT):
                    typed.append(line[len(_PROMPT) :].split("#", 1)[0].strip())
                elif answer := _ANSWER.search(line):
                    typed.append(answer.group(1))
            if not _SKIP.search(lines[0]):
                steps.append(Step(lines[0], "\n".join(typed) + "\n"))
            continue
        runnable = [line for line in lines if line.strip() and not _SKIP.search(line)]
        if runnable:
            steps.append(Step("\n".join(runnable)))
    return steps


def test_the_readme_lists_the_commands_this_test_runs() -> None:
    steps = readme_steps((ROOT / "README.md").read_text())
    scripts = "\n".join(step.script for step in steps)
    assert "make demo" in scripts and "| .venv/bin/endpoint-bot shell" in scripts
    assert "endpoint-bot fit" in scripts and "endpoint-bot render" in scripts
    assert "make test" not in scripts and "endpoint-bot up" not in scripts and "make run" not in scripts
    [demo] = [step for step in steps if step.script == "make demo"]
    assert demo.stdin.splitlines() == ["up Qwen/Qwen2.5-7B-Instruct L4:1 ctx=8k name=demo", "1", "y"]


def _clone(tmp: Path) -> Path:
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    venv = clone / ".venv"
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if entry.name != ".installed":
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed").touch()  # newer than the clone's pyproject.toml: `make` installs nothing
    return clone


def _env(tmp: Path, clone: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENDPOINT_BOT_", "SLACK_", "HF_TOKEN"))}
    env.update(
        HOME=str(tmp / "home"),
        PATH=f"{clone / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",  # `source .venv/bin/activate`
        VIRTUAL_ENV=str(clone / ".venv"),
        PYTHONPATH=str(clone),
        ENDPOINT_BOT_FACTS_CACHE_DIR=str(tmp / "facts"),
        SKYPILOT_DISABLE_USAGE_COLLECTION="1",
    )
    env.pop("HF_HUB_OFFLINE", None)  # the session's fake Hub answers (HF_ENDPOINT, set by tests/conftest.py)
    return env


def test_every_readme_command_without_cloud_or_slack_runs_from_a_fresh_clone(
    tmp_path: Path, fake_hub: object
) -> None:
    clone = _clone(tmp_path)
    env = _env(tmp_path, clone)
    steps = readme_steps((clone / "README.md").read_text())
    assert steps
    state_dir = (tmp_path / "home" / ".cache" / "endpoint-bot" / "local").resolve()
    try:
        for step in steps:
            done = subprocess.run(
                ["bash", "-e", "-c", step.script],
                cwd=clone,
                env=env,
                input=step.stdin,
                capture_output=True,
                text=True,
                timeout=240,
            )
            shown = f"$ {step.script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
            assert done.returncode == 0, shown
            assert "Traceback" not in done.stdout + done.stderr, shown
            if step.script == "make demo":
                assert "[card #demo]" in done.stdout and "stopped" in done.stdout, shown
    finally:
        for _name, (pid, _engine) in tagged_processes(state_dir).items():  # no engine outlives the test
            kill_group(pid, 9)
    # The settings table regenerates to what the clone already has.
    subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-m", "core.settings_doc", "--write", "README.md"],
        cwd=clone,
        env=env,
        check=True,
        timeout=120,
    )
    assert subprocess.run(["git", "diff", "--quiet", "README.md"], cwd=clone).returncode == 0
