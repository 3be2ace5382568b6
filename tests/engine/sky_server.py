"""SkyPilot's own API server (the installed skypilot), started for tests in a private HOME, loopback only.

`SkyServer(home, proxy=...)` runs `sky api start --foreground` on a free loopback port in its own
process group (stopped with it), with no cloud credentials and nothing that leaves the machine:

- every HTTP(S) request goes to `proxy`, a loopback address (a closed port, or a `BlackHole` that
  accepts and never answers); only loopback bypasses it (NO_PROXY);
- the cloud SDKs' instance-metadata probes are off (AWS_EC2_METADATA_DISABLED, NO_GCE_CHECK);
- usage reporting is off.
`seed_catalog(home)` writes the small catalogue files SkyPilot reads to validate `L4:1`, so a test
that wants to get past the catalogue does not download it.
`client_env(...)` is the environment for a bot process that talks to this server. It names the server
by URL only (no SKYPILOT_API_SERVER_LOCAL_PORT), so SkyPilot's client never starts a server by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

SKY = Path(sys.executable).parent / "sky"
START_TIMEOUT_S = 180.0

# The catalogue rows SkyPilot reads to canonicalise and size the GPUs these tests ask for.
ACCELERATORS_CSV = "AcceleratorName,Clouds\nL4,\"['GCP', 'AWS']\"\nA100,\"['GCP', 'AWS']\"\n"
METADATA_CSV = "GPU,MemoryGB,Manufacturer\nL4,24,NVIDIA\nA100,40,NVIDIA\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _queue_manager_port(server_port: int) -> int:
    """The second port a server on `server_port` binds: its request-queue manager's, derived from it
    (sky.server.requests.queues.mp_queue.get_queue_manager_port)."""
    from sky.server import common as server_common
    from sky.server.requests.queues import mp_queue

    offset = server_port - server_common.DEFAULT_SERVER_PORT
    base = mp_queue.DEFAULT_QUEUE_MANAGER_PORT
    return base if offset == 0 else 50000 + (base - 50000 + offset) % 10000


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _server_port() -> int:
    """A free port whose derived queue-manager port is free too (other processes hold random ports)."""
    for _ in range(50):
        port = free_port()
        if _bindable(_queue_manager_port(port)):
            return port
    raise RuntimeError("no free pair of ports for a SkyPilot API server")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


class BlackHole:
    """A loopback TCP listener that accepts connections and never answers: a download through it hangs."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self.accepted = 0  # connections taken so far (each a download now hanging)
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted += 1

    def wait_for_new(self, after: int, timeout: float = 120) -> bool:
        """True once more than `after` connections were accepted."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.accepted > after:
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self._stop.set()
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()
        with contextlib.suppress(OSError):
            self._sock.close()


def offline_env(home: Path, proxy_port: int) -> dict[str, str]:
    """HOME, the loopback-only proxy and the probes off: shared by the server and its clients."""
    proxy = f"http://127.0.0.1:{proxy_port}"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SKYPILOT_", "HTTP_", "HTTPS_"))}
    env.update(
        HOME=str(home),
        SKYPILOT_DISABLE_USAGE_COLLECTION="1",
        AWS_EC2_METADATA_DISABLED="true",
        NO_GCE_CHECK="True",
        HTTP_PROXY=proxy,
        HTTPS_PROXY=proxy,
        http_proxy=proxy,
        https_proxy=proxy,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def seed_catalog(home: Path) -> None:
    """Plant SkyPilot's common catalogue files (no `.meta/*.md5` beside them: never re-fetched)."""
    common = home / ".sky" / "catalogs" / "v8" / "common"
    common.mkdir(parents=True, exist_ok=True)
    (common / "accelerators.csv").write_text(ACCELERATORS_CSV)
    (common / "metadata.csv").write_text(METADATA_CSV)


class SkyServer:
    """`sky api start --foreground` in its own process group; `url` once it answers /api/health."""

    def __init__(self, home: Path, *, proxy_port: int, port: int | None = None) -> None:
        self.home = home
        self.proxy_port = proxy_port
        self.port = port or _server_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "sky-api-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {**offline_env(self.home, self.proxy_port), "SKYPILOT_API_SERVER_LOCAL_PORT": str(self.port)}

    def start(self) -> SkyServer:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(SKY), "api", "start", "--foreground", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env(),
                cwd=str(self.home),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sky api server exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"sky api server did not answer in {START_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL what is left after a few seconds."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait)
            if not _group_alive(pgid):
                break
        self.proc = None

    def kill(self) -> None:
        """The server dies at once (SIGKILL to its whole process group), as on a crash."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None


def client_env(home: Path, server_url: str, **extra: str) -> dict[str, str]:
    """An `endpoint-bot` process on the SkyPilot launcher, talking to the server at `server_url` only.

    Its own downloads (the live price reads the catalogue) go to a closed loopback port: they fail fast.
    """
    env = offline_env(home, closed_port())
    env = {k: v for k, v in env.items() if not k.startswith(("ENDPOINT_BOT_", "SLACK_", "HF_TOKEN"))}
    env.update(
        SKYPILOT_API_SERVER_ENDPOINT=server_url,
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        ENDPOINT_BOT_LAUNCHER="skypilot",
        ENDPOINT_BOT_ALLOW_LOCAL_MODELS="true",
        ENDPOINT_BOT_DB_PATH=str(home / "bot.db"),
        ENDPOINT_BOT_FACTS_CACHE_DIR=str(home / "facts"),
    )
    env.update(extra)
    return env


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
