"""A fake SkyPilot API server: the REST routes `SkyPilotLauncher` reaches through the real `sky` SDK.

What it is for: testing core/launcher/skypilot.py with SkyPilot's own client over real HTTP (set
`SKYPILOT_API_SERVER_ENDPOINT` to its URL), instead of patching `sky` functions. Requests and their
results are encoded with SkyPilot's own server-side classes (`sky.server.requests.requests.Request`),
so the client decodes return values and re-raises exceptions exactly as it would from a real server.
What it is not: a cloud. Launches finish at once (or when `finish()` is called) and record the task.

Routes: GET /api/health, POST /validate, POST /launch, POST /status, POST /endpoints, POST /down,
POST /autostop, POST /logs (a cluster's `job_log`, streamed as text), POST /api/cancel, GET /api/get,
GET /api/status; and what `sky.serve.up/status/down` reach: POST /optimize, GET /api/stream (no log lines, then the client fetches the result),
POST /serve/up (the service and its replicas, `{service}-{n}`, come up at once: READY with an endpoint),
POST /serve/status, POST /serve/down (the service is gone at once), and the upload routes the client
uses for files a task names (`service.tls` certificate and key): GET /upload_v2/blob, POST /upload_v2.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml


def _noop() -> None:
    """Stands in for the server-side entrypoint of a request (pickled by reference, never called)."""


@dataclass
class FakeSkyCluster:
    name: str
    status: str = "UP"
    launched_at: int = field(default_factory=lambda: int(time.time()))
    autostop: int = -1
    to_down: bool = False
    cloud: str = "GCP"
    region: str = "us-central1"
    ip: str = "34.1.2.3"
    job_log: str = ""  # what `sky.tail_logs` streams: the job's (the engine's) output


@dataclass
class FakeSkyService:
    name: str
    replicas: int
    tls: bool = False
    status: str = "READY"
    lb_ip: str = "35.9.8.7"
    lb_port: int = 30001


class FakeSkyApiServer:
    """Serve on 127.0.0.1:<free port>. Configure with `fail_next(...)`, `hold_launches`, `clusters`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.requests: dict[str, Any] = {}  # request id -> sky Request
        self.clusters: dict[str, FakeSkyCluster] = {}
        self.launched_tasks: list[dict[str, Any]] = []  # the task YAML of every launch, as sent
        self.launch_bodies: list[dict[str, Any]] = []
        self.autostops: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []  # (method, path)
        self.status_queries: list[dict[str, list[str]]] = []
        self.log_bodies: list[dict[str, Any]] = []
        self.hold_launches = False  # launches stay RUNNING until finish(rid)
        self.services: dict[str, FakeSkyService] = {}
        self.uploads: list[str] = []
        self.served_tasks: list[dict[str, Any]] = []  # the task YAML of every `serve up`, as sent
        self._failures: dict[str, list[BaseException]] = {}
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, name="fake-sky-api", daemon=True)
        self._thread.start()

    # -- configuration -------------------------------------------------------------------------

    def fail_next(self, route: str, exc: BaseException) -> None:
        """The next request to `route` ("launch", "down", "endpoints", ...) fails with `exc`."""
        with self._lock:
            self._failures.setdefault(route, []).append(exc)

    def finish(self, request_id: str, *, error: BaseException | None = None) -> None:
        """Finish a held launch: SUCCEEDED (cluster UP), or FAILED with `error`."""
        with self._lock:
            request = self.requests[request_id]
            self._complete(request, error=error)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSkyApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the service ---------------------------------------------------------------------------

    def _new_request(self, name: str, cluster_name: str | None) -> Any:
        from sky.server.requests import payloads
        from sky.server.requests.requests import Request, RequestStatus

        request = Request(
            request_id=str(uuid.uuid4()),
            name=f"sky.{name}",  # the real server's request names (encoders are looked up by them)
            entrypoint=_noop,
            request_body=payloads.RequestBody(),
            status=RequestStatus.RUNNING,
            created_at=time.time(),
            user_id="fake-user",
            cluster_name=cluster_name,
        )
        self.requests[request.request_id] = request
        return request

    def _complete(self, request: Any, *, value: Any = None, error: BaseException | None = None) -> None:
        from sky.server.requests.requests import RequestStatus

        if error is not None:
            request.set_error(error)
            request.status = RequestStatus.FAILED
            if request.name == "sky.launch" and request.cluster_name in self.clusters:
                del self.clusters[request.cluster_name]
        else:
            if request.name == "sky.launch":
                cluster = self.clusters.get(request.cluster_name)
                if cluster is not None:
                    cluster.status = "UP"
                value = (1, None)
            request.set_return_value(value)
            request.status = RequestStatus.SUCCEEDED
        request.finished_at = time.time()

    def _handle(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any, str | None]:
        """(status code, JSON body, request id header)."""
        from sky import exceptions
        from sky.server.requests.requests import RequestStatus

        with self._lock:
            self.calls.append((method, path))
            route = path.strip("/")
            if route == "api/health":
                import sky

                return 200, {"status": "healthy", "api_version": _api_version(), "version": sky.__version__,
                             "commit": "fake", "basic_auth_enabled": False}, None  # fmt: skip
            if route == "validate":
                return 200, None, None
            if route == "api/get":
                request = self.requests.get(query.get("request_id", [""])[0])
                if request is None:
                    return 404, {"detail": "Request not found"}, None
                return 200, json.loads(request.encode().model_dump_json()), None
            if route == "api/status":
                self.status_queries.append(query)
                return 200, self._api_status(query), None
            if route == "api/cancel":
                ids = body.get("request_ids") or []
                cancelled = []
                for rid in ids:
                    request = self.requests.get(rid)
                    if request is not None and request.status not in RequestStatus.finished_status():
                        request.status = RequestStatus.CANCELLED
                        cancelled.append(rid)
                result = self._new_request("api_cancel", None)
                self._complete(result, value=cancelled)
                return 200, None, result.request_id

            if route in ("upload_v2/blob", "upload_v2", "upload"):  # files a task names (TLS cert and key)
                self.uploads.append(route)
                return 200, {"exists": False, "status": "completed"}, None
            if route == "api/stream":
                request_id = query.get("request_id", [""])[0]
                if request_id not in self.requests:
                    return 404, {"detail": "Request not found"}, None
                return 200, "", f"stream:{request_id}"
            failures = self._failures.get(route)
            failure = failures.pop(0) if failures else None
            if route == "optimize":
                request = self._new_request("optimize", None)
                self._complete(request, error=failure)
                return 200, None, request.request_id
            if route.startswith("serve/"):
                return self._serve(route, body, failure)
            if route == "launch":
                cluster_name = body.get("cluster_name")
                self.launch_bodies.append(body)
                # The body carries the DAG as YAML: a header document, then the task.
                self.launched_tasks.append(list(yaml.safe_load_all(body["task"]))[-1])
                request = self._new_request("launch", cluster_name)
                if failure is None and cluster_name not in self.clusters:
                    self.clusters[cluster_name] = FakeSkyCluster(name=cluster_name, status="INIT")
                if failure is not None or not self.hold_launches:
                    self._complete(request, error=failure)
                return 200, None, request.request_id
            if route == "status":
                request = self._new_request("status", None)
                self._complete(request, error=failure, value=None if failure else self._status_records(body))
                return 200, None, request.request_id
            cluster_name = body.get("cluster_name") or body.get("cluster")
            request = self._new_request(route, cluster_name)
            cluster = self.clusters.get(cluster_name or "")
            if route == "logs" and failure is None and cluster is not None:
                self.log_bodies.append(body)
                self._complete(request, value=0)  # tail_logs' exit code: the job's log was sent
                return 200, cluster.job_log, request.request_id
            if failure is None and cluster is None and route in ("down", "autostop", "endpoints", "logs"):
                failure = exceptions.ClusterDoesNotExist(f"Cluster {cluster_name!r} does not exist.")
            if failure is not None:
                self._complete(request, error=failure)
            elif route == "down":
                del self.clusters[cluster_name]
                self._complete(request)
            elif route == "autostop":
                self.autostops.append(body)
                cluster.autostop = body.get("idle_minutes", -1)
                cluster.to_down = bool(body.get("down"))
                self._complete(request)
            elif route == "endpoints":
                port = body.get("port")
                self._complete(request, value={str(port): f"{cluster.ip}:{port}"})
            else:
                return 404, {"detail": f"no route {path}"}, None
            return 200, None, request.request_id

    def _serve(self, route: str, body: dict[str, Any], failure: BaseException | None) -> tuple[int, Any, str]:
        """`sky serve up / status / down` (called with the lock held)."""
        request = self._new_request(route.replace("/", "."), body.get("service_name"))
        if failure is not None:
            self._complete(request, error=failure)
        elif route == "serve/up":
            task = list(yaml.safe_load_all(body["task"]))[-1]
            self.served_tasks.append(task)
            service = task.get("service") or {}
            policy = service.get("replica_policy") or {}
            count = int(service.get("replicas") or policy.get("min_replicas") or 1)
            fake = FakeSkyService(name=body["service_name"], replicas=count, tls="tls" in service)
            self.services[fake.name] = fake
            for n in range(1, count + 1):
                name = f"{fake.name}-{n}"
                self.clusters[name] = FakeSkyCluster(name=name, ip=f"34.1.3.{n}")
            self._complete(request, value=[fake.name, self._endpoint(fake)])
        elif route == "serve/status":
            wanted = body.get("service_names")
            names = [wanted] if isinstance(wanted, str) else wanted
            records = [
                self._service_record(f) for f in self.services.values() if not names or f.name in names
            ]
            self._complete(request, value=records)
        elif route == "serve/down":
            wanted = body.get("service_names")
            for name in [wanted] if isinstance(wanted, str) else wanted or []:
                fake = self.services.pop(name, None)
                for n in range(1, (fake.replicas if fake else 0) + 1):
                    self.clusters.pop(f"{name}-{n}", None)
            self._complete(request)
        else:
            return 404, {"detail": f"no route {route}"}, ""
        return 200, None, request.request_id

    @staticmethod
    def _endpoint(fake: FakeSkyService) -> str:
        return f"{'https' if fake.tls else 'http'}://{fake.lb_ip}:{fake.lb_port}"

    def _service_record(self, fake: FakeSkyService) -> dict[str, Any]:
        """One record as `serve.status` returns it (SkyServe's own enums, encoded by its own encoder)."""
        from sky.serve import serve_state

        replicas = [
            {
                "replica_id": n,
                "name": f"{fake.name}-{n}",
                "status": serve_state.ReplicaStatus.READY,
                "version": 1,
                "launched_at": int(time.time()),
                "handle": None,
                "endpoint": f"34.1.3.{n}:8000",
            }
            for n in range(1, fake.replicas + 1)
            if f"{fake.name}-{n}" in self.clusters
        ]
        return {"name": fake.name, "active_versions": [1], "controller_job_id": 1, "uptime": 10,
                "status": serve_state.ServiceStatus(fake.status), "controller_port": 20001,
                "load_balancer_port": fake.lb_port, "endpoint": self._endpoint(fake), "policy": None,
                "requested_resources_str": "", "load_balancing_policy": "round_robin",
                "tls_encrypted": fake.tls, "replica_info": replicas}  # fmt: skip

    def _status_records(self, body: dict[str, Any]) -> list[Any]:
        from sky.schemas.api.responses import StatusResponse
        from sky.utils import status_lib

        wanted = body.get("cluster_names")
        records = []
        for cluster in self.clusters.values():
            if wanted and cluster.name not in wanted:
                continue
            records.append(
                StatusResponse(
                    name=cluster.name,
                    launched_at=cluster.launched_at,
                    status=status_lib.ClusterStatus(cluster.status),
                    autostop=cluster.autostop,
                    to_down=cluster.to_down,
                    cluster_hash="h",
                    cluster_ever_up=True,
                    user_hash="u",
                    user_name="fake",
                    workspace="default",
                    is_managed=False,
                    nodes=1,
                    cloud=cluster.cloud,
                    region=cluster.region,
                )
            )
        return records

    def _api_status(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        from sky.server.requests.requests import RequestStatus

        fields = query.get("fields")
        cluster = (query.get("cluster_name") or [None])[0]
        out = []
        for request in self.requests.values():
            if cluster and request.cluster_name != cluster:
                continue
            if query.get("all_status", ["false"])[0].lower() != "true" and (
                request.status in RequestStatus.finished_status()
            ):
                continue
            payload = json.loads(request.readable_encode().model_dump_json())
            if fields:  # what the real server does with `fields`: only those columns are read
                payload = {k: (v if k in fields else _blank(k)) for k, v in payload.items()}
            out.append(payload)
        return out

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, method: str) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                binary = self.headers.get("Content-Type") == "application/octet-stream"
                body = json.loads(raw) if raw and not binary else {}
                try:
                    status, data, request_id = fake._handle(method, parsed.path, parse_qs(parsed.query), body)
                except Exception as exc:  # a bug in the fake: say so instead of hanging up
                    status, data, request_id = 500, {"detail": f"fake sky api: {exc!r}"}, None
                text = isinstance(data, str)  # a streamed log, as the real server sends it
                stream = request_id is not None and request_id.startswith("stream:")
                body_text = data if text else json.dumps(data)
                payload = b"" if stream else body_text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                import sky

                self.send_header("X-SkyPilot-API-Version", str(_api_version()))
                self.send_header("X-SkyPilot-Version", sky.__version__)
                if stream:
                    self.send_header("X-SkyPilot-Stream-Request-ID", request_id.removeprefix("stream:"))
                elif request_id:
                    self.send_header("X-Skypilot-Request-ID", request_id)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def _api_version() -> int:
    from sky.server import constants

    return constants.API_VERSION


_BLANKS: dict[str, Any] = {
    "request_id": "",
    "name": "",
    "entrypoint": "",
    "request_body": "null",
    "status": "PENDING",
    "created_at": 0,
    "user_id": "",
    "return_value": "null",
    "error": "null",
    "schedule_type": "short",
    "should_retry": False,
}


def _blank(key: str) -> Any:
    """What the real server puts in a column that `fields=` did not ask for."""
    return _BLANKS.get(key)
