"""Fake engines in a process of their own, as real engines run on their own machines.

`RemoteEngineFarm` starts `python -m tests.fakes.engine_farm_process`, which runs a `FakeEngineFarm`
(one event-loop thread for every engine) and takes one JSON line per command on stdin:
`{"op": "add", "engines": [{"config": {...EngineConfig fields}, "tls": {...}}, ...]}` starts them all
in one turn of the loop and answers `{"ports": [N, ...]}`, and
`{"op": "close", "port": N}` stops that engine. `tls` carries what a cluster's run script would have:
the endpoint CA's certificate and key (a leaf for 127.0.0.1 is issued there) or a team certificate
and key; the files are written in the farm process's own private folder. A benchmark that uses it
(`FakeCloud(engines_process=True)`) measures the bot's CPU, not the fake engines'.

The handles it returns (`RemoteEngine`) have what FakeCloud uses of a `FakeEngine`: `config`, `url`,
`port`, `close()`. Thread-safe: one command at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.fakes.fake_engine import EngineConfig, FakeEngine, FakeEngineFarm

ROOT = Path(__file__).resolve().parents[2]


class RemoteEngine:
    """A handle on one engine of the farm process."""

    def __init__(self, farm: RemoteEngineFarm, config: EngineConfig, port: int, tls: bool) -> None:
        self.config = config
        self.port = port
        self._farm = farm
        self._tls = tls

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.config.host}:{self.port}"

    def close(self) -> None:
        self._farm.call({"op": "close", "port": self.port})


class RemoteEngineFarm:
    """The client side: starts the farm process and adds engines to it."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.engine_farm_process"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            if self._proc.poll() is not None:
                return {}
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
            answer = json.loads(self._proc.stdout.readline() or "{}")
        if "error" in answer:
            raise RuntimeError(f"fake engine farm: {answer['error']}")
        return answer

    def add_many(self, engines: list[tuple[dict[str, Any], dict[str, str] | None]]) -> list[RemoteEngine]:
        """Start engines, each (EngineConfig fields, TLS material or None), with one command."""
        command = {"op": "add", "engines": [{"config": config, "tls": tls} for config, tls in engines]}
        ports = self.call(command)["ports"]
        return [
            RemoteEngine(self, EngineConfig(**config), int(port), tls is not None)
            for (config, tls), port in zip(engines, ports, strict=True)
        ]

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _tls_files(folder: Path, hint: str, tls: dict[str, str]) -> dict[str, str]:
    """The engine's certificate files from the cluster's TLS material (see the module docstring)."""
    from core import tls as certs
    from core.private_files import private_file

    if tls.get("ca_cert_pem"):
        ca = certs.CertAuthority(cert_pem=tls["ca_cert_pem"], key_pem=tls["ca_key_pem"])
        cert, key = certs.issue_leaf(ca, ["127.0.0.1", "localhost"])
    else:
        cert, key = tls["cert_pem"], tls["key_pem"]
    files = {}
    for option, text in (("ssl_certfile", cert), ("ssl_keyfile", key)):
        path = private_file(folder / f"{hint}-{option}.pem")
        path.write_text(text)
        files[option] = str(path)
    return files


def main() -> int:
    farm = FakeEngineFarm()
    engines: dict[int, FakeEngine] = {}
    with tempfile.TemporaryDirectory(prefix="fake-engine-farm-") as tmp:
        for n, line in enumerate(sys.stdin):
            command = json.loads(line)
            try:
                if command["op"] == "add":
                    configs = []
                    for i, wanted in enumerate(command["engines"]):
                        config = dict(wanted["config"])
                        if wanted.get("tls"):
                            config.update(_tls_files(Path(tmp), f"{n}-{i}", wanted["tls"]))
                        configs.append(config)
                    started = farm.add_many(configs)
                    engines.update((engine.port, engine) for engine in started)
                    answer: dict[str, Any] = {"ports": [engine.port for engine in started]}
                else:
                    gone = engines.pop(int(command["port"]), None)
                    if gone is not None:
                        gone.close()
                    answer = {}
            except Exception as exc:  # the client raises it
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer), flush=True)
        farm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
