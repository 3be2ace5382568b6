"""The local launcher: an engine as a process on this host (single-GPU boxes, demos, and tests).

A local "cluster" is one engine process in its own process group, started with the same shell line
SkyPilot would run (`core.engines.launch_script`), so the API-key handling is the same path. With
`settings.local_engine_command` set (e.g. `python -m tests.fakes.fake_engine`), that command replaces
the engine executable (`vllm` / `python -m sglang.launch_server`) and the rest of the argv is kept.

- Secrets reach the child only through its environment (`ENDPOINT_API_KEY`, `VLLM_API_KEY`, `HF_TOKEN`);
  nothing secret is written to the state file or the log file names.
- The spec's port is used when free, otherwise a free one is picked; `endpoint_url` reports the real one.
- State (pid, process start time, port, deadline) lives in a small JSON file under the state directory,
  so a restarted bot still knows its clusters; a pid only counts as alive if its start time matches
  (pids are reused).
- `set_deadline` starts a detached reaper process (`python -m core.launcher.processes reap ...`) that kills
  the engine's process group at the deadline even if the bot is gone: the local twin of SkyPilot's
  autostop `wait_for=none, down=True`.
- `down` sends SIGTERM to the process group, SIGKILL after a grace period; idempotent.
- Each cluster's stdout/stderr go to `<state_dir>/logs/<cluster>.log`.
- TLS: the engine runs on this host, so the leaf is made here: signed by the endpoint's CA for
  127.0.0.1, localhost and `public_host` (or the team certificate as it is), written 0600 under
  `<state_dir>/tls/<cluster>/` and handed to the engine with `--ssl-keyfile/--ssl-certfile`. The CA key
  is used in memory and never reaches the engine's environment, the state file or a log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from core import tls as certs
from core.engines import launch_script
from core.engines.script import API_KEY_ENV, VLLM_API_KEY_ENV
from core.engines.tls_script import TLS_CA_KEY_ENV, TLS_KEY_ENV
from core.errors import LaunchFailed
from core.launcher import listeners
from core.launcher.base import ClusterInfo, LaunchSpec
from core.launcher.engine_env import engine_environment
from core.launcher.engine_log import engine_error, read_tail
from core.launcher.errors import scrub_secrets
from core.launcher.log_redactor import SECRET_VARIABLES
from core.launcher.processes import (
    MARK_CLUSTER,
    MARK_ENGINE,
    MARK_STATE_DIR,
    is_alive,
    kill_group,
    log_tail,
    port_of,
    start_time_of,
    tagged_processes,
)
from core.private_files import open_private, private_dir, private_file
from core.settings import Settings

log = logging.getLogger(__name__)


def default_state_dir() -> Path:
    """~/.cache/endpoint-bot/local, resolved when a launcher is made (HOME may change in tests)."""
    return Path.home() / ".cache" / "endpoint-bot" / "local"


_ENGINE_LOG_HEAD_BYTES = 4 * 1024 * 1024  # an engine's start-up lines come first; requests follow
_EARLY_EXIT_WINDOW_S = 0.5  # a process that dies this fast never started (bad command, bad flag)


class ClusterDoesNotExist(LookupError):
    """No live local cluster by that name (same class name as SkyPilot's, so errors explain it alike)."""


class LocalLaunchError(LaunchFailed):
    """A local launch that did not work, already said as a sentence; `kind` as in ExplainedLaunchFailure
    ("invalid": retrying unchanged will not help; "cancelled"; "other")."""

    def __init__(self, message: str, *, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class LocalCluster:
    """What the state file remembers about one local cluster (no secrets)."""

    name: str
    pid: int
    start_time: str | None  # /proc/<pid>/stat starttime: tells a reused pid apart
    port: int
    launched_at: str  # ISO UTC
    log_path: str
    engine: str
    deadline_at: float | None = None  # epoch seconds
    reaper_pid: int | None = None
    reaper_start_time: str | None = None


class LocalLauncher:
    """Engines as local processes. Thread-safe; state shared between processes through a locked file."""

    name = "local"
    provisions = False  # no machines to wait for: a cold start here has no provisioning phase

    def __init__(
        self,
        settings: Settings,
        *,
        state_dir: Path | None = None,
        grace_seconds: float = 10.0,
        public_host: str = "127.0.0.1",
    ) -> None:
        self.settings = settings
        self.state_dir = Path(state_dir or settings.local_state_dir or default_state_dir())
        self.grace_seconds = grace_seconds
        self.public_host = public_host
        private_dir(self.state_dir)  # 0700: state and engine logs are for the bot's user only
        private_dir(self.state_dir / "logs")
        self._state_path = self.state_dir / "clusters.json"
        self._lock_path = self.state_dir / "clusters.lock"
        self._thread_lock = threading.RLock()
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._requests: dict[str, str] = {}  # request id -> "SUCCEEDED" | "FAILED" | "CANCELLED"
        self._failures: dict[str, LocalLaunchError] = {}
        self._redactors: dict[str, subprocess.Popen[bytes]] = {}  # cluster name -> its log redactor

    # -- the Launcher port ------------------------------------------------------------------------

    def submit(self, spec: LaunchSpec) -> str:
        request_id = f"local:{spec.cluster_name}:{uuid.uuid4().hex[:8]}"
        with self._state() as state:
            self._adopt_strays(state)
            existing = state.get(spec.cluster_name)
            if existing is not None and is_alive(existing.pid, existing.start_time):
                self._requests[request_id] = "SUCCEEDED"  # sky.launch on an UP cluster is a no-op too
                return request_id
            taken = {c.port for c in state.values() if self._is_alive(c)}
            port = _free_port(spec.port, taken=taken)
            argv = self.engine_argv(spec, port=port) + self._tls_files(spec)
            script = launch_script(
                argv, engine=spec.engine, api_key_env=API_KEY_ENV, key_file=self._key_file(spec)
            )
            log_path = self.state_dir / "logs" / f"{spec.cluster_name}.log"
            private_file(log_path)
            child_env = self._child_env(spec)
            process = subprocess.Popen(
                [_shell(), "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,  # read by the log redactor, never by the bot
                stderr=subprocess.STDOUT,
                env=child_env,
                start_new_session=True,  # own process group: down kills the engine and its children
                close_fds=True,
            )
            self._children[process.pid] = process
            self._redactors[spec.cluster_name] = self._start_log_redactor(process, log_path, child_env)
            cluster = LocalCluster(
                name=spec.cluster_name,
                pid=process.pid,
                start_time=start_time_of(process.pid),
                port=port,
                launched_at=datetime.now(UTC).isoformat(),
                log_path=str(log_path),
                engine=spec.engine,
            )
            state[spec.cluster_name] = cluster
        self._requests[request_id] = "SUCCEEDED"
        log.info("local cluster %s: pid %s on port %s", spec.cluster_name, process.pid, port)
        if spec.autostop_minutes is not None:
            # If it exited at once there is nothing to guard: wait() reports why, with its last log lines.
            with contextlib.suppress(ClusterDoesNotExist):
                self.set_deadline(spec.cluster_name, spec.autostop_minutes)
        return request_id

    def engine_argv(self, spec: LaunchSpec, *, port: int) -> list[str]:
        """The argv to run: `local_engine_command` in place of the engine executable, the chosen port."""
        argv = list(spec.engine_argv)
        if self.settings.local_engine_command:
            argv = shlex.split(self.settings.local_engine_command) + _engine_args(argv)
        return _with_port(argv, port)

    def wait(self, request_id: str, *, timeout: float | None = None) -> None:
        cluster_name = _cluster_of(request_id)
        status = self._requests.get(request_id)
        if status == "CANCELLED":
            raise LocalLaunchError(f"The launch of {cluster_name} was cancelled.", kind="cancelled")
        cluster = self._read().get(cluster_name)
        if cluster is None:
            raise ClusterDoesNotExist(f"Local cluster {cluster_name!r} does not exist.")
        # Give a broken command the chance to fail here, where its log tail can be reported.
        end = time.monotonic() + min(
            _EARLY_EXIT_WINDOW_S, timeout if timeout is not None else _EARLY_EXIT_WINDOW_S
        )
        while time.monotonic() < end:
            if not self._is_alive(cluster):
                break
            time.sleep(0.05)
        if not self._is_alive(cluster):
            error = self._exit_error(cluster)
            self._requests[request_id] = "FAILED"
            self._failures[request_id] = error
            self._forget(cluster_name)
            raise error

    def request_status(self, request_id: str) -> str | None:
        status = self._requests.get(request_id)
        if status is not None:
            return status
        # A request from before a restart: answer from the cluster itself.
        try:
            cluster = self._read().get(_cluster_of(request_id))
        except ValueError:
            return None
        if cluster is not None and self._is_alive(cluster):
            return "SUCCEEDED"
        return None

    def request_statuses(self, request_ids: list[str]) -> dict[str, str | None]:
        return {rid: self.request_status(rid) for rid in request_ids}  # all local: no call to save

    def endpoint_url(self, cluster_name: str, port: int, *, tls: bool = False) -> str:
        cluster = self._read().get(cluster_name)
        if cluster is None or not self._is_alive(cluster):
            raise ClusterDoesNotExist(f"Local cluster {cluster_name!r} does not exist.")
        return f"{'https' if tls else 'http'}://{self.public_host}:{cluster.port}"

    def list_clusters(self, prefix: str) -> list[ClusterInfo]:
        out = []
        with self._state() as state:
            self._adopt_strays(state)
            for name, cluster in list(state.items()):
                if not self._is_alive(cluster):
                    del state[name]  # it died on its own: the cluster is gone
                    self._release(cluster)
                    continue
                if name.startswith(prefix):
                    out.append(
                        ClusterInfo(
                            name=name,
                            status="UP",
                            launched_at=datetime.fromisoformat(cluster.launched_at),
                            cloud="local",
                            region=None,
                        )
                    )
        return out

    def down(self, cluster_name: str) -> None:
        with self._state() as state:
            self._adopt_strays(state)
            cluster = state.get(cluster_name)
        if cluster is None:
            return
        self._stop_reaper(cluster)
        if self._is_alive(cluster):
            kill_group(cluster.pid, signal.SIGTERM)
            end = time.monotonic() + self.grace_seconds
            while self._is_alive(cluster) and time.monotonic() < end:
                time.sleep(0.05)
            if self._is_alive(cluster):
                log.warning(
                    "local cluster %s ignored SIGTERM for %.0fs: SIGKILL", cluster_name, self.grace_seconds
                )
                kill_group(cluster.pid, signal.SIGKILL)
                end = time.monotonic() + 5
                while self._is_alive(cluster) and time.monotonic() < end:
                    time.sleep(0.02)
        if self._is_alive(cluster):
            raise LocalLaunchError(
                f"The engine of local cluster {cluster_name} (pid {cluster.pid}) survived SIGKILL; "
                "stop it by hand (`kill -9`)."
            )
        self._forget(cluster_name)

    def set_deadline(self, cluster_name: str, minutes: int) -> None:
        at = time.time() + minutes * 60
        with self._state() as state:
            cluster = state.get(cluster_name)
            if cluster is None or not self._is_alive(cluster):
                raise ClusterDoesNotExist(f"Local cluster {cluster_name!r} does not exist.")
            self._stop_reaper(cluster)
            reaper = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "core.launcher.processes",
                    "reap",
                    "--pid",
                    str(cluster.pid),
                    "--start-time",
                    cluster.start_time or "",
                    "--at",
                    repr(at),
                    "--grace",
                    repr(self.grace_seconds),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives the bot: the deadline holds even if we are gone
                close_fds=True,
                cwd=_project_root(),
                env=_reaper_env(),
            )
            self._children[reaper.pid] = reaper
            cluster.deadline_at = at
            cluster.reaper_pid = reaper.pid
            cluster.reaper_start_time = start_time_of(reaper.pid)
            state[cluster_name] = cluster

    def check_serving(self, cluster_name: str) -> None:
        """Raise LaunchFailed unless the server on the cluster's port is the engine this launcher started.

        Called right before readiness sends the endpoint's API key: a program that took the port while
        the engine was loading (or after it died) must neither get the key nor make the endpoint READY.
        """
        cluster = self._read().get(cluster_name)
        if cluster is None:
            raise ClusterDoesNotExist(f"Local cluster {cluster_name!r} does not exist.")
        if not listeners.available():
            log.warning("cannot tell who listens on port %s here (no /proc/net/tcp)", cluster.port)
            return
        alive = self._is_alive(cluster)
        if alive and listeners.serves_port(cluster.pid, cluster.port):
            return
        message = foreign_server_message(cluster.port, listeners.listener_pids(cluster.port))
        if not alive:  # e.g. it could not bind the port the other program holds
            message = f"The engine process has exited. {message}"
        raise LaunchFailed(message)

    def cancel(self, request_id: str) -> None:
        # Local launches finish inside submit(); a cancel that arrives later stops the cluster instead
        # of leaving it running unobserved.
        if self._requests.get(request_id) in (None, "SUCCEEDED"):
            with contextlib.suppress(ValueError):
                self.down(_cluster_of(request_id))
            self._requests[request_id] = "CANCELLED"

    # -- helpers -------------------------------------------------------------------------------

    def cluster(self, name: str) -> LocalCluster | None:
        """The recorded state of one cluster (for tests and the CLI)."""
        return self._read().get(name)

    def _adopt_strays(self, state: dict[str, LocalCluster]) -> None:
        """Record engines that carry this state dir's tag but are missing from the state file.

        That happens when the bot died between starting a process and writing it down: without this,
        the engine would run (and hold a GPU) with nobody knowing about it.
        """
        for name, (leader, engine) in tagged_processes(self.state_dir.resolve()).items():
            known = state.get(name)
            if known is not None and self._is_alive(known):
                continue
            log.warning("local cluster %s (pid %s) was running unrecorded: adopting it", name, leader)
            state[name] = LocalCluster(
                name=name,
                pid=leader,
                start_time=start_time_of(leader),
                port=port_of(leader),
                launched_at=datetime.now(UTC).isoformat(),
                log_path=str(self.state_dir / "logs" / f"{name}.log"),
                engine=engine,
            )

    def _child_env(self, spec: LaunchSpec) -> dict[str, str]:
        env = engine_environment(os.environ, self.settings.local_engine_env)  # an allow-list: no bot secrets
        env.update(spec.envs)
        # Every secret but the TLS keys: the engine reads its certificate from files (see _tls_files).
        env.update({k: v for k, v in spec.secrets.items() if k not in (TLS_CA_KEY_ENV, TLS_KEY_ENV)})
        # The cluster's tag: finds the process even if the bot died before recording it (see _adopt_strays).
        env[MARK_CLUSTER] = spec.cluster_name
        env[MARK_STATE_DIR] = str(self.state_dir.resolve())
        env[MARK_ENGINE] = spec.engine
        if spec.engine == "vllm" and API_KEY_ENV in spec.secrets:
            env.setdefault(VLLM_API_KEY_ENV, spec.secrets[API_KEY_ENV])
        if self.settings.local_engine_command:
            # Lets `python -m tests.fakes.fake_engine` (or any module of this project) import from anywhere.
            root = str(_project_root())
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        return env

    def _start_log_redactor(
        self, engine: subprocess.Popen[bytes], log_path: Path, engine_env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        """Copy the engine's output into `log_path` (0600) with its secrets removed.

        A detached process of its own (it outlives the bot, like the engine) that ends when the engine's
        output closes. It gets the secrets to remove through its environment, never its argv.
        """
        assert engine.stdout is not None
        env = engine_environment(engine_env)  # the allow-listed base, without the cluster tags
        env.update({k: engine_env[k] for k in SECRET_VARIABLES if engine_env.get(k)})
        env["PYTHONPATH"] = str(_project_root())
        redactor = subprocess.Popen(
            [sys.executable, "-m", "core.launcher.log_redactor", str(log_path)],
            stdin=engine.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            close_fds=True,
            cwd=_project_root(),
        )
        engine.stdout.close()  # the redactor holds the read end now
        return redactor

    def _tls_files(self, spec: LaunchSpec) -> list[str]:
        """With TLS, write the server certificate and key (0600) and return the engine's `--ssl-*` flags."""
        if spec.tls is None:
            return []
        if spec.tls.ca_cert_pem:
            ca = certs.CertAuthority(cert_pem=spec.tls.ca_cert_pem, key_pem=spec.secrets[TLS_CA_KEY_ENV])
            cert, key = certs.issue_leaf(ca, [self.public_host, "127.0.0.1", "localhost"])
        else:
            cert, key = spec.tls.cert_pem or "", spec.secrets[TLS_KEY_ENV]
        folder = private_dir(self.state_dir / "tls" / spec.cluster_name)
        paths = {"server.pem": cert, "server.key": key}
        for name, text in paths.items():
            with os.fdopen(open_private(folder / name, os.O_WRONLY | os.O_TRUNC), "w") as out:
                out.write(text)
        return ["--ssl-keyfile", str(folder / "server.key"), "--ssl-certfile", str(folder / "server.pem")]

    def _key_file(self, spec: LaunchSpec) -> str | None:
        """Where SGLang's 0600 `--config` key file goes (a 0700 folder of ours; removed with the cluster)."""
        if spec.engine != "sglang":
            return None
        return str(private_dir(self.state_dir / "keys") / f"{spec.cluster_name}.yaml")

    def _is_alive(self, cluster: LocalCluster) -> bool:
        child = self._children.get(cluster.pid)
        if child is not None and child.poll() is not None:
            return False  # our own child, reaped
        return is_alive(cluster.pid, cluster.start_time)

    def _exit_error(self, cluster: LocalCluster) -> LocalLaunchError:
        """Why the engine exited right after it started, from its exit code and last log lines."""
        child = self._children.get(cluster.pid)
        code = child.returncode if child is not None else None
        self._flush_log(cluster)
        self._redactors.pop(cluster.name, None)
        tail = scrub_secrets(log_tail(Path(cluster.log_path))) or "(none)"
        if code in (126, 127):  # the shell could not run the program at all: a retry cannot help
            return LocalLaunchError(
                f"The engine program could not be started (exit code {code}): {tail}. Install the engine "
                "on this host (`vllm`, or SGLang for `python -m sglang.launch_server`) or fix "
                "ENDPOINT_BOT_LOCAL_ENGINE_COMMAND, then run `up` again.",
                kind="invalid",
            )
        how = f"with exit code {code}" if code is not None else "at once"
        said = (
            "it printed nothing"
            if tail == "(none)"
            else f"its last log lines: {tail}. Fix what they say (a flag, the model, memory)"
        )
        return LocalLaunchError(
            f"The engine process exited right after it started, {how}; {said}, then run `up` again.",
            kind="invalid",
        )

    def engine_exit_reason(self, cluster_name: str) -> str | None:
        """None while the cluster's engine runs (or the cluster is not ours); once its process has
        exited, why, in the engine's own words from its log. Asked between readiness probes
        (core.endpoints.flows), so an engine that dies while loading fails the launch at once."""
        cluster = self._read().get(cluster_name)
        if cluster is None or self._is_alive(cluster):
            return None
        child = self._children.get(cluster.pid)
        code = child.returncode if child is not None else None
        self._flush_log(cluster)
        reason = engine_error(read_tail(Path(cluster.log_path)))
        if reason:
            if not reason.endswith((".", "!", "?")):
                reason += "."
            how = f"code {code}" if code is not None else "at once"
            return scrub_secrets(
                f"The engine exited while starting ({how}): {reason} "
                f"The whole log is {cluster.log_path} on the bot's host."
            )
        how = f"with code {code}" if code is not None else "at once"
        tail = log_tail(Path(cluster.log_path))
        return scrub_secrets(
            f"the engine process exited {how} while starting; last log lines: {tail or '(none)'}"
        )

    def engine_log(self, cluster_name: str) -> str:
        """The start of the cluster's engine log (already redacted), where its start-up lines are
        (core.launcher.startup_log reads the weights figures from it); '' when there is none."""
        cluster = self._read().get(cluster_name)
        if cluster is None:
            return ""
        try:
            with open(cluster.log_path, "rb") as f:
                return f.read(_ENGINE_LOG_HEAD_BYTES).decode("utf-8", "replace")
        except OSError:
            return ""

    def _flush_log(self, cluster: LocalCluster) -> None:
        """Let the log redactor write the engine's last words before the log is read."""
        redactor = self._redactors.get(cluster.name)
        if redactor is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                redactor.wait(timeout=5)

    def _stop_reaper(self, cluster: LocalCluster) -> None:
        if not cluster.reaper_pid:
            return
        if is_alive(cluster.reaper_pid, cluster.reaper_start_time):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(cluster.reaper_pid, signal.SIGTERM)
        child = self._children.pop(cluster.reaper_pid, None)
        if child is not None:  # ours: wait for it even if it already exited, or it stays a zombie
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)

    def _forget(self, cluster_name: str) -> None:
        with self._state() as state:
            cluster = state.pop(cluster_name, None)
        if cluster is not None:
            self._release(cluster)

    def _release(self, cluster: LocalCluster) -> None:
        """Collect what a gone cluster leaves in this process: its reaper is stopped, and the engine,
        reaper and log redactor are waited for, so none of them stays behind as a zombie."""
        self._stop_reaper(cluster)
        (self.state_dir / "keys" / f"{cluster.name}.yaml").unlink(missing_ok=True)
        shutil.rmtree(self.state_dir / "tls" / cluster.name, ignore_errors=True)
        for child in (self._children.pop(cluster.pid, None), self._redactors.pop(cluster.name, None)):
            if child is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=1)

    def _read(self) -> dict[str, LocalCluster]:
        with self._state() as state:
            return dict(state)

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, LocalCluster]]:
        """Read-modify-write of the state file under a thread lock and an inter-process file lock."""
        with self._thread_lock, open(private_file(self._lock_path), "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                state = _load(self._state_path)
                before = {k: asdict(v) for k, v in state.items()}
                yield state
                after = {k: asdict(v) for k, v in state.items()}
                if after != before:
                    tmp = self._state_path.with_suffix(".tmp")
                    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as out:
                        out.write(json.dumps(after, indent=1, sort_keys=True))
                    os.replace(tmp, self._state_path)
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


# --- process helpers ----------------------------------------------------------------------------


def _load(path: Path) -> dict[str, LocalCluster]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        log.warning("local launcher state %s is unreadable; starting empty", path)
        return {}
    return {name: LocalCluster(**data) for name, data in raw.items()}


def _engine_args(argv: list[str]) -> list[str]:
    """argv without the engine executable: `vllm serve M ...` -> `serve M ...`; SGLang's module dropped."""
    if argv and os.path.basename(argv[0]) == "vllm":
        return argv[1:]
    if len(argv) >= 3 and argv[1] == "-m" and argv[2] == "sglang.launch_server":
        return argv[3:]
    return argv


def _with_port(argv: list[str], port: int) -> list[str]:
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--port" and i + 1 < len(out):
            out[i + 1] = str(port)
            return out
        if arg.startswith("--port="):
            out[i] = f"--port={port}"
            return out
    return [*out, "--port", str(port)]


def _free_port(preferred: int, *, taken: Collection[int] = ()) -> int:
    """`preferred` if nothing listens there (and no local cluster of ours holds it), else a free port."""
    for port in (preferred, 0, 0, 0):
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            chosen = sock.getsockname()[1]
            if chosen not in taken:
                return chosen
    raise OSError("no free port")


def foreign_server_message(port: int, pids: set[int]) -> str:
    """The sentence for a port answered by a program that is not the launched engine."""
    who = "another program"
    if pids:
        pid = min(pids)
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
            who = f"another program (pid {pid}, `{' '.join(a for a in argv if a)[:80]}`)"
        except OSError:
            who = f"another program (pid {pid})"
    return (
        f"Port {port} is answered by {who}, not by the engine this launch started, so the endpoint's API "
        "key was not sent to it. Stop that program or free the port, then run `up` again."
    )


def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _reaper_env() -> dict[str, str]:
    # The reaper needs nothing secret: a minimal environment.
    root = str(_project_root())
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": root}


def _cluster_of(request_id: str) -> str:
    parts = request_id.split(":")
    if len(parts) != 3 or parts[0] != "local":
        raise ValueError(f"{request_id!r} is not a local launcher request id")
    return parts[1]
