"""A local stand-in for the Hugging Face Hub, reached by the real huggingface_hub client over HTTP.

It serves what `HfApi().model_info(repo, files_metadata=True)` and `hf_hub_download(repo, "config.json")`
ask for, with the response shapes and headers of the real Hub as huggingface_hub 1.16 parses them:

- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}`: model info JSON (`id`, `sha`,
  `gated`, `siblings` with sizes and LFS blocks, `safetensors.parameters`/`total`, a `config` excerpt).
- `HEAD`/`GET /{repo}/resolve/{rev}/{file}`: like the real Hub, a 307 to the same-host
  `/api/resolve-cache/models/{repo}/{sha}/{file}?...`, which answers the bytes with `ETag` (the git blob
  id), `X-Repo-Commit`, `Content-Length`. Only small files with content are served (config.json); LFS
  shards are listed in `siblings` but not downloadable.
- Errors as the Hub sends them: gated repos answer downloads with 401 (no token) or 403 (token without
  access) and `X-Error-Code: GatedRepo`; unknown repos 401 (no token) or 404 (token) with
  `X-Error-Code: RepoNotFound`; a token the Hub does not know gets 401 "Invalid credentials in
  Authorization header"; unknown revisions `RevisionNotFound`; missing files `EntryNotFound`.
- `mode`: "ok", "error" (every request answers 503) or "drop" (connections closed with no response).
- `requests`: a log of every request; `model_requests()` leaves out telemetry-ish routes.

Default repos come from `hub_models.json` next to this file, plus any `tests/fixtures/configs/*.json`
(either `{"model_id": ..., "config": {...}}` or a bare config.json named `org--name.json`).

Run it by hand with `python -m tests.fakes.fake_hub` and point `HF_ENDPOINT` at the printed URL.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

Gated = Literal[False, "auto", "manual"]
Mode = Literal["ok", "error", "drop"]

_HERE = Path(__file__).resolve().parent
DEFAULT_MODELS_FILE = _HERE / "hub_models.json"
EXTRA_CONFIGS_DIR = _HERE.parent / "fixtures" / "configs"

# Bytes per stored element, by the dtype names safetensors (and the Hub's `parameters`) use.
DTYPE_BYTES = {
    "F64": 8, "I64": 8, "U64": 8,
    "F32": 4, "I32": 4, "U32": 4,
    "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1, "BOOL": 1,
}  # fmt: skip
_SHARD_BYTES = 5 * 1024**3  # the Hub's usual shard size
_TELEMETRY_PREFIXES = ("/api/telemetry", "/api/agent-harnesses")
_RESOLVE_CACHE = "/api/resolve-cache/models/"


def git_blob_id(content: bytes) -> str:
    """What the Hub puts in `ETag`/`blobId` for a non-LFS file: the git blob sha1."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakeRepo:
    """One model repository on the fake Hub."""

    repo_id: str
    config: dict[str, Any] | None  # None: the repo has no config.json
    dtype_params: dict[str, int] | None = None  # None: no safetensors metadata (e.g. .bin only)
    gated: Gated = False
    private: bool = False
    sha: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # downloadable small files

    def __post_init__(self) -> None:
        if self.config is not None and "config.json" not in self.files:
            self.files["config.json"] = json.dumps(self.config, indent=2).encode()
        if not self.sha:
            seed = self.repo_id.encode() + b"".join(self.files.get(name, b"") for name in sorted(self.files))
            self.sha = hashlib.sha1(seed).hexdigest()

    def siblings(self, *, with_metadata: bool) -> list[dict[str, Any]]:
        """`siblings` as the Hub lists them; sizes and LFS blocks only with `blobs=True`."""
        entries: list[dict[str, Any]] = []
        for name in sorted(self.files):
            entry: dict[str, Any] = {"rfilename": name}
            if with_metadata:
                entry.update(size=len(self.files[name]), blobId=git_blob_id(self.files[name]))
            entries.append(entry)
        for name, size in self._shards():
            entry = {"rfilename": name}
            if with_metadata:
                digest = hashlib.sha256(f"{self.repo_id}/{name}".encode()).hexdigest()
                entry.update(
                    size=size,
                    blobId=hashlib.sha1(digest.encode()).hexdigest(),
                    lfs={"size": size, "sha256": digest, "pointerSize": 135},
                )
            entries.append(entry)
        return entries

    def _shards(self) -> list[tuple[str, int]]:
        if not self.dtype_params:
            return []
        total = sum(count * DTYPE_BYTES.get(dtype, 2) for dtype, count in self.dtype_params.items())
        count = max(1, -(-total // _SHARD_BYTES))
        if count == 1:
            return [("model.safetensors", total)]
        size = -(-total // count)
        names = [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
        return [(name, min(size, total - i * size)) for i, name in enumerate(names)]

    def info(self, *, with_metadata: bool) -> dict[str, Any]:
        """The JSON body of `GET /api/models/{repo}`."""
        author = self.repo_id.split("/")[0] if "/" in self.repo_id else None
        body: dict[str, Any] = {
            "_id": hashlib.md5(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": author,
            "sha": self.sha,
            "lastModified": "2025-01-15T10:00:00.000Z",
            "createdAt": "2024-09-16T11:55:40.000Z",
            "private": self.private,
            "disabled": False,
            "gated": self.gated,
            "downloads": 1000,
            "likes": 10,
            "library_name": "transformers",
            "pipeline_tag": "text-generation",
            "tags": ["transformers", "safetensors", "text-generation"],
            "siblings": self.siblings(with_metadata=with_metadata),
            "spaces": [],
        }
        if self.config is not None:
            # The Hub's `config` is an excerpt, never the whole config.json.
            body["config"] = {k: self.config[k] for k in ("architectures", "model_type") if k in self.config}
        if self.dtype_params:
            body["safetensors"] = {
                "parameters": dict(self.dtype_params),
                "total": sum(self.dtype_params.values()),
            }
        if with_metadata:
            body["usedStorage"] = sum(entry.get("size", 0) for entry in body["siblings"])
        return body


@dataclass(frozen=True)
class HubRequest:
    """One request the fake Hub received."""

    method: str
    path: str
    query: dict[str, list[str]]
    token: str | None  # the bearer token sent, if any

    @property
    def is_telemetry(self) -> bool:
        return self.path.startswith(_TELEMETRY_PREFIXES)


def default_repos() -> list[FakeRepo]:
    """The repos every fresh (or reset) fake Hub serves."""
    repos: dict[str, FakeRepo] = {}
    for entry in json.loads(DEFAULT_MODELS_FILE.read_text())["models"]:
        repos[entry["model_id"]] = FakeRepo(
            repo_id=entry["model_id"],
            config=entry["config"],
            dtype_params=entry.get("safetensors_parameters"),
            gated=entry.get("gated", False),
        )
    if EXTRA_CONFIGS_DIR.is_dir():
        for path in sorted(EXTRA_CONFIGS_DIR.glob("*.json")):
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "config" in data and "model_id" in data:
                repo_id, config = data["model_id"], data["config"]
            else:
                repo_id, config = path.stem.replace("--", "/", 1), data
            if repo_id not in repos and isinstance(config, dict):
                repos[repo_id] = FakeRepo(repo_id=repo_id, config=config, dtype_params=None)
    return list(repos.values())


class FakeHub:
    """The fake Hub server. `FakeHub.start()` serves on 127.0.0.1 in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.repos: dict[str, FakeRepo] = {}
        self.tokens: dict[str, set[str]] = {}  # valid token -> gated repos it was granted
        self.mode: Mode = "ok"
        self.requests: list[HubRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # --- lifecycle -------------------------------------------------------------------------
    @classmethod
    def start(cls, port: int = 0) -> FakeHub:
        hub = cls()
        hub._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(hub))
        hub._server.daemon_threads = True
        hub._thread = threading.Thread(target=hub._server.serve_forever, name="fake-hub", daemon=True)
        hub._thread.start()
        return hub

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake Hub is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Back to the default repos, no tokens, mode "ok", empty request log."""
        with self._lock:
            self.repos = {repo.repo_id: repo for repo in default_repos()}
            self.tokens = {}
            self.mode = "ok"
            self.requests = []

    # --- state for tests -------------------------------------------------------------------
    def add_model(
        self,
        repo_id: str,
        config: dict[str, Any] | None,
        *,
        dtype_params: dict[str, int] | None = None,
        gated: Gated = False,
        private: bool = False,
        sha: str = "",
    ) -> FakeRepo:
        repo = FakeRepo(repo_id, config, dtype_params=dtype_params, gated=gated, private=private, sha=sha)
        with self._lock:
            self.repos[repo_id] = repo
        return repo

    def grant(self, token: str, *repo_ids: str) -> None:
        """Make `token` valid, with access to the given gated/private repos."""
        with self._lock:
            self.tokens.setdefault(token, set()).update(repo_ids)

    def clear_log(self) -> None:
        with self._lock:
            self.requests = []

    def model_requests(self) -> list[HubRequest]:
        """Requests about models (telemetry-ish routes left out): what a fit check costs."""
        with self._lock:
            return [request for request in self.requests if not request.is_telemetry]

    # --- request handling (called from the server threads) ---------------------------------
    def _record(self, request: HubRequest) -> Mode:
        with self._lock:
            self.requests.append(request)
            return self.mode

    def _answer(self, request: HubRequest) -> _Answer:
        """Decide the response for one request (no I/O)."""
        path = request.path
        if request.is_telemetry:
            return _Answer(200, {"Content-Type": "application/json"}, b"{}")
        if request.token is not None and request.token not in self.tokens:
            return _error(401, None, "Invalid credentials in Authorization header")
        if path.startswith("/api/models/"):
            repo_id, _, revision = path.removeprefix("/api/models/").partition("/revision/")
            repo, failure = self._visible_repo(unquote(repo_id), request.token)
            if failure:
                return failure
            assert repo is not None
            if revision and unquote(revision) not in ("main", repo.sha):
                return _error(404, "RevisionNotFound", "Invalid rev id", repo)
            with_metadata = request.query.get("blobs", ["false"])[0].lower() == "true"
            body = json.dumps(repo.info(with_metadata=with_metadata)).encode()
            return _Answer(200, {"Content-Type": "application/json; charset=utf-8"}, body)
        if path.startswith(_RESOLVE_CACHE):
            # Where the Hub's /resolve/ redirects: `/api/resolve-cache/models/{repo}/{sha}/{file}`.
            rest = unquote(path.removeprefix(_RESOLVE_CACHE))
            with self._lock:
                repo_id = next((r for r in self.repos if rest.startswith(r + "/")), rest.rpartition("/")[0])
            sha, _, filename = rest.removeprefix(repo_id + "/").partition("/")
            return self._file(repo_id, sha, filename, request, redirect=False)
        if "/resolve/" in path:
            repo_id, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, filename = rest.partition("/")
            return self._file(unquote(repo_id), unquote(revision), unquote(filename), request, redirect=True)
        return _error(404, None, "Not Found")

    def _file(
        self, repo_id: str, revision: str, filename: str, request: HubRequest, *, redirect: bool
    ) -> _Answer:
        """A file download: the checks of the real Hub, then a 307 to the resolve cache or the bytes."""
        repo, failure = self._visible_repo(repo_id, request.token)
        if failure:
            return failure
        assert repo is not None
        if repo.gated and not self._granted(request.token, repo):
            status = 401 if request.token is None else 403
            message = f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in."
            return _error(status, "GatedRepo", message, repo)
        if revision not in ("main", repo.sha):
            return _error(404, "RevisionNotFound", "Invalid rev id", repo)
        content = repo.files.get(filename)
        if content is None:
            return _error(404, "EntryNotFound", f"{filename} does not exist", repo)
        etag = f'"{git_blob_id(content)}"'
        if redirect:
            original = quote(f"/{repo.repo_id}/resolve/{revision}/{filename}", safe="")
            location = f"{_RESOLVE_CACHE}{repo.repo_id}/{repo.sha}/{quote(filename)}?{original}=&etag={quote(etag, safe='')}"
            body = f"Temporary Redirect. Redirecting to {location}".encode()
            headers = {
                "Location": location,
                "X-Repo-Commit": repo.sha,
                "Content-Type": "text/plain; charset=utf-8",
            }
            return _Answer(307, headers, body)
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "ETag": etag,
            "X-Repo-Commit": repo.sha,
            "Accept-Ranges": "bytes",
        }
        return _Answer(200, headers, content)

    def _visible_repo(self, repo_id: str, token: str | None) -> tuple[FakeRepo | None, _Answer | None]:
        with self._lock:
            repo = self.repos.get(repo_id)
        if repo is None or (repo.private and not self._granted(token, repo)):
            # Without a token the Hub cannot tell "missing" from "private": 401 either way.
            status = 401 if token is None else 404
            return None, _error(status, "RepoNotFound", "Repository not found")
        return repo, None

    def _granted(self, token: str | None, repo: FakeRepo) -> bool:
        with self._lock:
            return token is not None and repo.repo_id in self.tokens.get(token, set())


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _error(status: int, code: str | None, message: str, repo: FakeRepo | None = None) -> _Answer:
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    if repo is not None:
        headers["X-Repo-Commit"] = repo.sha
    return _Answer(status, headers, json.dumps({"error": message}).encode())


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from the Hub

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self, *, with_body: bool) -> None:
            parts = urlsplit(self.path)
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            request = HubRequest(self.command, parts.path, parse_qs(parts.query), token)
            mode = hub._record(request)
            if mode == "drop" and not request.is_telemetry:
                self.close_connection = True  # no status line at all: the client sees a dropped connection
                return
            if mode == "error" and not request.is_telemetry:
                answer = _Answer(503, {"Content-Type": "text/plain"}, b"Service Unavailable")
            else:
                answer = hub._answer(request)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if with_body:
                self.wfile.write(answer.body)

        def do_GET(self) -> None:
            self._serve(with_body=True)

        def do_HEAD(self) -> None:
            self._serve(with_body=False)

    return Handler


if __name__ == "__main__":
    import time

    server = FakeHub.start(port=0)
    print(f"fake Hub at {server.url} serving: {', '.join(sorted(server.repos))}", flush=True)
    print(
        f"try: HF_ENDPOINT={server.url} .venv/bin/endpoint-bot fit Qwen/Qwen2.5-7B-Instruct L4:1", flush=True
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
