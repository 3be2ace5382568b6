"""`endpoint-bot render` prints a file: it must not touch the network or any cloud's tools.

It used to look up a live price through SkyPilot's catalogue, which downloads six catalogues (six DNS
look-ups) and, for AWS, runs `aws configure list`, whose credential chain probes the instance-metadata
address 169.254.169.254. The YAML carries no price, so render now takes none (core.endpoints.service
`preview`). Checked in-process with every non-loopback connection, name look-up and subprocess recorded.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main

FIXTURES = Path("/work/shared/fixtures/model_configs.json")


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def test_render_reaches_nothing_but_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")
    model = tmp_path / "qwen"
    model.mkdir()
    config = next(
        e["config"] for e in json.loads(FIXTURES.read_text()) if e["model_id"] == "Qwen/Qwen2.5-7B-Instruct"
    )
    (model / "config.json").write_text(json.dumps(config))
    for name, value in {
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "ENDPOINT_BOT_LAUNCHER": "skypilot",
        "ENDPOINT_BOT_ALLOW_LOCAL_MODELS": "true",
        "ENDPOINT_BOT_DB_PATH": str(tmp_path / "bot.db"),
        "ENDPOINT_BOT_FACTS_CACHE_DIR": str(tmp_path / "facts"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    reached: list[str] = []
    real_getaddrinfo, real_connect, real_popen = socket.getaddrinfo, socket.socket.connect, subprocess.Popen

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(str(host)):
            reached.append(f"name look-up {host}")
            raise socket.gaierror("blocked by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(str(address[0])):
            reached.append(f"connect {address}")
            raise OSError("blocked by the test")
        return real_connect(self, address)

    class RecordingPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            reached.append(f"subprocess {args}")
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)

    assert main(["render", str(model), "L4:1", "--max-model-len", "8k"]) == 0
    assert "run:" in capsys.readouterr().out
    assert reached == []
