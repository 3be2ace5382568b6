"""Multi-step work on one endpoint, run on the bot's worker pool: launch, teardown, resume after a restart.

Each flow holds a claim (core.claims) on its endpoint for as long as it works, so a second bot process
(or a restarted one) never follows the same launch twice; ONE heartbeat thread renews every claim this
process holds. Each step opens its own short session, re-reads the row and moves the state only through
`store.transition`; the intent of every cloud call is in the store before the call is made:

    REQUESTED (cluster name reserved by `up`)
      -> PROVISIONING (launch claim taken, API key hash + provisioning start recorded: one transaction)
      -> launcher.submit -> request id persisted at once (one UPDATE)
      -> followed (ctx.follower polls it with every other launch)
      -> STARTING (URL persisted) -> readiness probes, one at a time, then a real completion with the key
      -> READY (one transaction: usage baseline, READY, the key owed to the outbox, the cold-start
         timings, the launch claim released) -> URL and key posted once.
    Any failure: failure_reason (a sentence), STOPPING, teardown, FAILED.

A launch holds no thread while the cloud provisions or the engine loads: it is a few short steps on the
worker pool (`_LaunchRun`); between them the request follower (core.launcher.following: one batched
status call per round for all launches in flight) or the pool's timer (the next readiness probe) brings
the next step. A thousand launches in flight cost the pool's threads, one timer thread and one
heartbeat thread. The API key lives in `ctx.launches` (this process's memory) until the launch ends.

Teardown (`launcher.down`) is idempotent and retried with backoff; STOPPED/FAILED only once the cluster
is confirmed gone. A teardown that keeps failing leaves the endpoint STOPPING with a `teardown_failed`
event and an ERROR log line; reconcile retries it. Never silently STOPPED.

What happens to a launch interrupted by a bot restart (`resume_launch`): the endpoint's API key exists
only in the memory of the process that generated it (the store keeps a hash, by design). A new process
therefore cannot prove readiness with a real authenticated completion, nor give the key to the owner.
Relaunching on the same cluster would need the engine restarted with a new key while the old server may
still be starting, and silently doubling a launch spends the user's money on a guess. So the safer
choice is taken: a REQUESTED endpoint (nothing was asked of the cloud yet) is simply launched; one that
was PROVISIONING or STARTING has its launch request cancelled, its cluster torn down and ends FAILED
with "the bot restarted during the launch; please run up again", posted in its thread.

Crash safety: flows catch `Exception` and turn it into states; anything else (the process dying, or the
`BaseException` a crash test raises) leaves the store exactly as it was at that step, claim included,
which is what reconcile after a restart expects.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from core import claims, outbox
from core import tls as certs
from core.apikeys import hash_api_key, new_api_key, redact_api_keys
from core.clock import Clock, as_utc
from core.endpoints import cold_stats, https, messaging, records, service_flow, store, timings
from core.endpoints.models import Endpoint
from core.endpoints.records import EndpointOptions
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.engines import build_engine_command
from core.errors import InvalidRequest, UserFacingError
from core.fit.plan import Plan
from core.gpus import parse_accelerators
from core.launcher.base import Launcher, LaunchSpec, TlsSpec
from core.launcher.errors import explain_launch_error
from core.launcher.following import RequestFollower, RequestOutcome
from core.notifier import Notifier, deliver
from core.readiness import PROBE_TIMEOUT_S, ReadinessCheck
from core.settings import Settings
from core.usage.baseline import scrape_baseline
from core.usage.cost import settle_cost
from core.usage.counters import load_usage, record_baseline
from core.usage.metrics import EngineSnapshot
from core.usage.models import EndpointUsage
from core.workers import WorkerPool

log = logging.getLogger(__name__)

S = EndpointState
API_KEY_ENV = "ENDPOINT_API_KEY"  # the secret env var the engine reads its key from (see core.engines)
ACTOR = "bot"
LAUNCH = "launch"
TEARDOWN = "teardown"
_IN_FLIGHT_REQUEST = {"PENDING", "WAITING", "RUNNING"}
CONTINUES = (
    object()
)  # what a scheduled flow returns when it goes on in later steps (see FlowContext.schedule)


@dataclass
class FlowContext:
    """Everything a flow needs, plus this process's bookkeeping of the flows it is running."""

    settings: Settings
    database: Any  # core.db.Database
    launcher: Launcher
    notifier: Notifier
    workers: WorkerPool
    clock: Clock
    owner: str = field(default_factory=lambda: claims.process_identity())
    claim_ttl: timedelta = timedelta(minutes=3)
    heartbeat_every: float = 30.0  # seconds of real time between claim renewals
    teardown_delays: tuple[float, ...] = (2.0, 10.0, 30.0)  # real seconds between teardown attempts
    sleep: Callable[[float], None] = time.sleep
    readiness_options: dict[str, Any] = field(default_factory=dict)  # e.g. first_delay for tests
    request_poll_every: float | None = None  # seconds between request poll rounds; None: the setting
    state_check_every: float = 10.0  # seconds between a loading engine's re-reads of its state (a stop)
    _active: set[tuple[int, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Claims some thread of this process holds right now: `claims.acquire` lets the same owner take
    # its own claim again, so without this two threads here (a failed launch's teardown and a
    # person's stop) would both do the same work.
    _claimed: set[tuple[int, str]] = field(default_factory=set)
    _renewing: set[tuple[int, str]] = field(default_factory=set)  # held claims the heartbeat renews
    _beater: threading.Thread | None = None  # the ONE heartbeat thread, while any claim is held
    _unstarted: set[int] = field(default_factory=set)  # launches whose first step waits for a thread
    # The launches this process follows, by endpoint id: each holds its API key (in memory only).
    launches: dict[int, Any] = field(default_factory=dict)
    _follower: RequestFollower | None = None
    _http: httpx.Client | None = None
    _by_ca: dict[str, httpx.Client] = field(default_factory=dict)  # launches' clients, by private CA
    # "Similar launches took ~N min" for `up`, kept a few seconds (a launch here forgets its key at READY).
    typical: cold_stats.TypicalCache = field(default_factory=cold_stats.TypicalCache)

    def close(self) -> None:
        """After the worker pool has stopped: the launches still in flight are left to the next start
        (their keys dropped, their claims released, so its reconcile resumes them at once), and the
        readiness probes' HTTP client is closed."""
        with self._lock:
            left = list(self.launches)
            self.launches.clear()
            http, self._http = self._http, None
            by_ca, self._by_ca = list(self._by_ca.values()), {}
            self._renewing.clear()  # the heartbeat thread ends at its next round
        for endpoint_id in left:
            log.info("endpoint %s: launch in flight left to the next start", endpoint_id)
            self.drop_claim(endpoint_id, LAUNCH)
            self.finished(LAUNCH, endpoint_id)
        for client in [http, *by_ca]:
            if client is not None:
                client.close()

    # --- flows in this process ------------------------------------------------------------------
    def schedule(self, kind: str, endpoint_id: int, fn: Callable[..., Any]) -> bool:
        """Run `fn(self, endpoint_id=...)` on the pool unless this process already runs that work. A flow
        that goes on in later steps returns CONTINUES and calls `finished(kind, endpoint_id)` at its end."""
        key = (endpoint_id, kind)
        with self._lock:
            if key in self._active:
                return False
            self._active.add(key)
            if kind == LAUNCH:
                self._unstarted.add(endpoint_id)

        def task() -> None:
            goes_on = False
            with self._lock:
                self._unstarted.discard(endpoint_id)
            try:
                goes_on = fn(self, endpoint_id=endpoint_id) is CONTINUES
            finally:
                if not goes_on:
                    self.finished(kind, endpoint_id)

        try:
            # Teardowns have their own lane so a burst of launch steps never delays a stop.
            self.workers.submit(task, task_name=f"{kind}:{endpoint_id}", lane=kind)
        except RuntimeError:
            self.finished(kind, endpoint_id)
            raise
        return True

    def finished(self, kind: str, endpoint_id: int) -> None:
        """The `kind` flow of `endpoint_id` ended in this process."""
        with self._lock:
            self._active.discard((endpoint_id, kind))
            self._unstarted.discard(endpoint_id)

    def queued_ahead(self, endpoint_id: int, kind: str = LAUNCH) -> int | None:
        """When `endpoint_id`'s launch waits for a free worker thread to take its first step (record,
        submit): how many other launches wait too (0 = it starts next); None when it gets a thread at once.
        Only that first step queues: a launch in the cloud holds no thread (the follower polls it)."""
        with self._lock:
            others = sum(1 for eid in self._unstarted if eid != endpoint_id)
            waiting = endpoint_id in self._unstarted
        ahead = others - self.workers.free_threads(kind)
        return ahead if waiting and ahead >= 0 else None

    def is_active(self, endpoint_id: int, kind: str | None = None) -> bool:
        with self._lock:
            if kind is not None:
                return (endpoint_id, kind) in self._active
            return any(eid == endpoint_id for eid, _ in self._active)

    @property
    def follower(self) -> RequestFollower:
        """The one follower of this process's launch requests (one status call per round for all)."""
        with self._lock:
            if self._follower is None:
                every = self.request_poll_every or self.settings.request_poll_seconds
                self._follower = RequestFollower(launcher=self.launcher, workers=self.workers, every=every)
            return self._follower

    @property
    def http(self) -> httpx.Client:
        """The HTTP client readiness probes share (thread-safe; connections reused); it verifies HTTPS
        with the system's trust store (a team certificate)."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=PROBE_TIMEOUT_S, verify=certs.client_context(None))
            return self._http

    def http_for(self, ca_pem: str | None) -> httpx.Client:
        """The client for an engine whose certificate is signed by the endpoint's own CA `ca_pem` (that CA
        only, host name included); the shared one without a private CA. Closed with `drop_http`."""
        if ca_pem is None:
            return self.http
        with self._lock:
            client = self._by_ca.get(ca_pem)
            if client is None:
                client = httpx.Client(timeout=PROBE_TIMEOUT_S, verify=certs.client_context(ca_pem))
                self._by_ca[ca_pem] = client
            return client

    def drop_http(self, ca_pem: str | None) -> None:
        """Close the private CA's client once its launch has ended."""
        if ca_pem is None:
            return
        with self._lock:
            client = self._by_ca.pop(ca_pem, None)
        if client is not None:
            client.close()

    # --- claims -----------------------------------------------------------------------------------
    @contextmanager
    def claim(self, endpoint_id: int, kind: str) -> Iterator[bool]:
        """Hold the (endpoint, kind) claim while the block runs; yields False when another holds it.

        Released when the block ends normally or with an Exception; a crash (BaseException) leaves it to
        expire, as a dead process would.
        """
        if not self.take_claim(endpoint_id, kind):
            yield False
            return
        try:
            yield True
        except Exception:
            self.drop_claim(endpoint_id, kind)
            raise
        except BaseException:
            self.drop_claim(endpoint_id, kind, release=False)  # crashed: the claim stays until it expires
            raise
        else:
            self.drop_claim(endpoint_id, kind)

    def take_claim(self, endpoint_id: int, kind: str, *, session: Any = None) -> bool:
        """Acquire the (endpoint, kind) claim for this process and have the heartbeat renew it (until
        `drop_claim`); False when another process (or another flow here) holds it. With `session`, the
        claim is taken in that transaction (it holds once it commits: the launch's first step takes it
        with PROVISIONING), else in a session of its own."""
        key = (endpoint_id, kind)
        with self._lock:
            if key in self._claimed:
                return False
            self._claimed.add(key)
        won = False
        try:
            if session is None:
                won = self._hold(claims.acquire, endpoint_id, kind)
            else:
                won = self._acquire_in(session, endpoint_id, kind)
        finally:
            with self._lock:
                if won:
                    self._renewing.add(key)
                    self._start_heartbeat()
                else:
                    self._claimed.discard(key)
        return won

    def drop_claim(self, endpoint_id: int, kind: str, *, release: bool = True) -> None:
        """Stop renewing a held claim and release it; `release=False` (a crash) leaves it to expire."""
        with self._lock:
            self._renewing.discard((endpoint_id, kind))
        if release:
            self._release(endpoint_id, kind)
        with self._lock:
            self._claimed.discard((endpoint_id, kind))

    def _start_heartbeat(self) -> None:
        """(lock held) One thread renews every claim this process holds; it ends when none is held."""
        if self._beater is None:
            self._beater = threading.Thread(
                target=self._heartbeat, name=f"epb-claims-heartbeat({self.owner})", daemon=True
            )
            self._beater.start()

    def _heartbeat(self) -> None:
        while True:
            time.sleep(self.heartbeat_every)
            with self._lock:
                held = list(self._renewing)
                if not held:
                    self._beater = None
                    return
            for endpoint_id, kind in held:
                with self._lock:
                    if (endpoint_id, kind) not in self._renewing:
                        continue  # dropped meanwhile
                try:
                    if not self._hold(claims.renew, endpoint_id, kind):
                        log.warning("lost the %s claim on endpoint %s to another process", kind, endpoint_id)
                except Exception:
                    log.warning(
                        "could not renew the %s claim on endpoint %s", kind, endpoint_id, exc_info=True
                    )

    def _hold(self, how: Callable[..., bool], endpoint_id: int, kind: str) -> bool:
        """`claims.acquire` or `claims.renew` for this process, for `claim_ttl` from now, in its own session."""
        with self.database.session() as session:
            return how(
                session=session,
                endpoint_id=endpoint_id,
                kind=kind,
                owner=self.owner,
                ttl=self.claim_ttl,
                now=self.clock.now(),
            )

    def _acquire_in(self, session: Any, endpoint_id: int, kind: str) -> bool:
        return claims.acquire(session=session, endpoint_id=endpoint_id, kind=kind, owner=self.owner,
                              ttl=self.claim_ttl, now=self.clock.now())  # fmt: skip

    def stop_renewing(self, endpoint_id: int, kind: str) -> None:
        """The heartbeat leaves this claim alone from now on (its holder is about to release it)."""
        with self._lock:
            self._renewing.discard((endpoint_id, kind))

    def _release(self, endpoint_id: int, kind: str) -> None:
        try:
            with self.database.session() as session:
                claims.release(session=session, endpoint_id=endpoint_id, kind=kind, owner=self.owner)
        except Exception:
            log.warning("could not release the %s claim on endpoint %s", kind, endpoint_id, exc_info=True)

    # --- telling people (never changes state) ---------------------------------------------------
    def post(self, view: EndpointView, text: str) -> None:
        deliver(self.notifier.thread_post, view, text)

    def changed(self, view: EndpointView) -> None:
        deliver(self.notifier.endpoint_changed, view)

    def dm(self, user_id: str, text: str) -> None:
        deliver(self.notifier.direct_message, user_id, text)


def _from_flows(name: str) -> Any:
    return property(lambda owner: getattr(owner.flows, name), doc=f"The flows' `{name}` (read-only).")


class SharesFlows:
    """For classes that hold a `FlowContext` as `flows`: what the flows share, read from them (one object
    each, never a copy)."""

    settings = _from_flows("settings")  # Settings
    database = _from_flows("database")  # core.db.Database
    launcher = _from_flows("launcher")  # Launcher
    notifier = _from_flows("notifier")  # Notifier
    workers = _from_flows("workers")  # WorkerPool
    clock = _from_flows("clock")  # Clock


# --- building the launch ---------------------------------------------------------------------------


def minutes_left(expires_at: datetime, now: datetime) -> int:
    """Whole minutes until expiry, at least one (the cluster-side hard deadline)."""
    return max(1, math.ceil((as_utc(expires_at) - now).total_seconds() / 60))


def build_launch_spec(
    *,
    settings: Settings,
    cluster_name: str,
    model: str,
    engine: str,
    plan: Plan | None,
    options: EndpointOptions,
    secrets: dict[str, str],
    autostop_minutes: int | None,
    tls: TlsSpec | None = None,
) -> LaunchSpec:
    """The LaunchSpec for an endpoint: the engine argv built here, from the plan and the settings (the one
    place a launch's argv is made), pinned image, secrets as given."""
    if plan is None:
        raise UserFacingError(
            f"The plan recorded for `{cluster_name}` cannot be read, so there is nothing to launch; run `up` again."
        )
    argv = build_engine_command(plan, served_model_name=model, port=settings.engine_port)
    accel = parse_accelerators(plan.accelerators)
    image = settings.sglang_image if engine == "sglang" else settings.vllm_image
    return LaunchSpec(
        cluster_name=cluster_name,
        model=model,
        engine=engine,
        engine_argv=argv,
        accelerators=accel.per_node_specs,  # several names for one part: any of them will do
        num_nodes=accel.nodes,
        port=settings.engine_port,
        image=image,
        envs={},
        secrets=secrets,
        use_spot=settings.use_spot if options.spot is None else bool(options.spot),
        disk_size_gb=settings.disk_size_gb,
        cloud=options.cloud or settings.default_cloud,
        region=options.region or settings.default_region,
        autostop_minutes=autostop_minutes,
        weights_bucket=settings.weights_bucket,
        service=service_flow.service_spec(settings, engine, options),
        tls=tls,
    )


def launch_secrets(settings: Settings, api_key: str) -> dict[str, str]:
    secrets = {API_KEY_ENV: api_key}
    if settings.hf_token is not None:
        secrets["HF_TOKEN"] = settings.hf_token.get_secret_value()
    return secrets


def _scrub(text: str, secrets: dict[str, str]) -> str:
    """Remove any secret value from a sentence that will be stored and shown."""
    for value in secrets.values():
        if value:
            text = text.replace(value, "<redacted>")
    return redact_api_keys(text)


def _explain(exc: BaseException, spec: LaunchSpec | None, *, submitted: bool = False) -> str:
    if isinstance(exc, UserFacingError):
        return str(exc)
    try:
        return str(explain_launch_error(exc, spec=spec, submitted=submitted))
    except Exception:
        log.warning("could not explain a launch error", exc_info=True)
        return f"The launch failed ({type(exc).__name__}). Check the bot's logs, then try `up` again."


# --- launch ----------------------------------------------------------------------------------------


class _Abandon(Exception):
    """The endpoint left the launching states under us (stopped by a person); stop following it."""


class _ShuttingDown(Exception):
    """The worker pool refuses the launch's next step: this process is stopping. The launch is left as
    the store has it; the next start's reconcile resumes it (`resume_launch`)."""


def _view(endpoint: Endpoint) -> EndpointView:
    return store.to_view(endpoint)


def _move(
    session: Any,
    endpoint: Endpoint,
    to: EndpointState,
    message: str,
    *,
    now: datetime,
    changes: dict[str, Any] | None = None,
) -> None:
    """A state change the bot's own flow makes (`store.transition` by ACTOR)."""
    store.transition(
        session=session, endpoint=endpoint, to=to, actor=ACTOR, message=message, now=now, changes=changes
    )


def _load(session: Any, endpoint_id: int) -> Endpoint:
    endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
    if endpoint is None:
        raise _Abandon(f"endpoint {endpoint_id} is gone from the store")
    return endpoint


def launch(ctx: FlowContext, *, endpoint_id: int) -> object:
    """Follow a REQUESTED endpoint to READY (or to FAILED with the cluster gone): the first step runs
    here; CONTINUES when the launch goes on in later steps (see `_LaunchRun`)."""
    return _start_launch(ctx, endpoint_id, claimed=False)  # the claim is taken with PROVISIONING


def _run_claimed(
    ctx: FlowContext, endpoint_id: int, kind: str, work: Callable[[FlowContext, int], None], *, busy: str
) -> None:
    """`work(ctx, endpoint_id)` while holding the (endpoint, kind) claim; nothing (but a log line) when
    another holds it."""
    with ctx.claim(endpoint_id, kind) as held:
        if not held:
            log.info("endpoint %s: %s", endpoint_id, busy)
            return
        work(ctx, endpoint_id)


@dataclass
class _LaunchRun:
    """One launch this process follows, between its steps. Each step is a short task on the worker pool;
    between steps nothing holds a thread: the request follower (ctx.follower) polls the cloud request
    with every other launch's, and the pool's timer thread brings the next readiness probe. The API key
    lives here, in this process's memory only (ctx.launches), and is dropped when the launch ends.

        submit:   PROVISIONING recorded -> launcher.submit -> request id persisted -> followed
        cluster:  (request finished) its result -> STARTING with the URL -> first probe
        probe:    one readiness probe; again after the backoff, or on to the completion -> READY
    """

    endpoint_id: int
    api_key: str
    secrets: dict[str, str]
    spec: LaunchSpec | None = None
    submitted: bool = False  # the launcher holds a request: a failure from here on may have started machines
    request_id: str | None = None
    view: EndpointView | None = None
    check: ReadinessCheck | None = None
    state_seen_at: float = field(default_factory=time.monotonic)  # the store last read by a probe step
    claimed: bool = True  # this process holds the launch claim (False until the first step takes it)
    claim_released: bool = False  # released with READY, in its transaction
    provisioning_at: datetime | None = None  # cold-start marks, kept here and stored with READY
    healthy_at: datetime | None = None


Step = Callable[[FlowContext, _LaunchRun], bool]  # True: the launch goes on in a later step


def _start_launch(ctx: FlowContext, endpoint_id: int, *, claimed: bool = True) -> object:
    """A new key, then the first step (submit), which takes the launch claim unless `claimed` (held)."""
    api_key = new_api_key()
    run = _LaunchRun(
        endpoint_id=endpoint_id,
        api_key=api_key,
        secrets=launch_secrets(ctx.settings, api_key),
        claimed=claimed,
    )
    ctx.launches[endpoint_id] = run
    return _launch_step(ctx, run, _submit)


def _launch_step(ctx: FlowContext, run: _LaunchRun, step: Step) -> object:
    """Run one step; any failure ends in `fail_launch`, a stop by a person in `_after_abandon`. When the
    step does not go on, the launch ends here: key dropped, claim released, flow finished."""
    try:
        if step(ctx, run):
            return CONTINUES
    except (_Abandon, service_flow.Abandoned, store.TransitionConflict) as why:
        log.info("endpoint %s: launch abandoned (%s)", run.endpoint_id, why)
        _after_abandon(ctx, run.endpoint_id)
    except _ShuttingDown:
        log.info("endpoint %s: the bot is stopping; the launch is left to the next start", run.endpoint_id)
    except Exception as exc:
        reason = _scrub(_explain(exc, run.spec, submitted=run.submitted), run.secrets)
        # The sentence at WARNING (a CLI user's terminal shows it); the raw exception only in the log.
        log.warning("endpoint %s: launch failed: %s", run.endpoint_id, reason)
        log.info("endpoint %s: launch failure cause: %s", run.endpoint_id, _scrub(repr(exc), run.secrets))
        fail_launch(ctx, endpoint_id=run.endpoint_id, reason=reason)
    except BaseException:
        _end_launch(ctx, run, crashed=True)  # the process dies here: the claim is left to expire
        raise
    _end_launch(ctx, run)
    return None


def _end_launch(ctx: FlowContext, run: _LaunchRun, *, crashed: bool = False) -> None:
    ctx.launches.pop(run.endpoint_id, None)  # the key goes with it
    if run.view is not None:
        ctx.drop_http(run.view.tls.ca_cert_pem)
    if run.claimed:
        ctx.drop_claim(run.endpoint_id, LAUNCH, release=not (crashed or run.claim_released))
    if not crashed:
        ctx.finished(LAUNCH, run.endpoint_id)


def _later(ctx: FlowContext, run: _LaunchRun, step: Step, delay: float = 0.0) -> bool:
    """The launch's next step, on the pool once `delay` seconds passed (no thread held meanwhile)."""
    name = f"launch-step:{run.endpoint_id}"
    try:
        if delay > 0:
            ctx.workers.submit_later(delay, _launch_step, ctx, run, step, task_name=name)
        else:
            ctx.workers.submit(_launch_step, ctx, run, step, task_name=name)
    except RuntimeError as exc:  # the pool is shut down
        raise _ShuttingDown(str(exc)) from None
    return True


def _submit(ctx: FlowContext, run: _LaunchRun) -> bool:
    """Steps 1-2: PROVISIONING recorded, the request submitted and its id persisted at once; then the
    follower polls it with every other launch in flight."""
    run.spec = _begin_provisioning(ctx, run)
    if run.spec is None:
        return False
    request_id = service_flow.submit(ctx.launcher, run.spec)  # a cluster, or a SkyServe service
    run.submitted, run.request_id = True, request_id
    _record_request(ctx, run.endpoint_id, request_id)

    def cluster_done(outcome: RequestOutcome) -> None:
        _launch_step(ctx, run, lambda ctx, run: _await_cluster(ctx, run, outcome))

    ctx.follower.follow(
        request_id,
        cluster_done,
        timeout=ctx.settings.readiness_deadline.total_seconds(),
        name=str(run.endpoint_id),
    )
    return True


def _begin_provisioning(ctx: FlowContext, run: _LaunchRun) -> LaunchSpec | None:
    """Step 1: the launch claim (unless held), the spec, and PROVISIONING (with the key's hash) recorded
    in one transaction before the cloud is asked for anything. None when another process holds the claim
    or the endpoint is not REQUESTED any more."""
    endpoint_id, api_key, secrets = run.endpoint_id, run.api_key, run.secrets
    with ctx.database.session() as session:
        if not run.claimed:
            run.claimed = ctx.take_claim(endpoint_id, LAUNCH, session=session)
            if not run.claimed:
                log.info("endpoint %s: another process follows its launch", endpoint_id)
                return None
        endpoint = _load(session, endpoint_id)
        if endpoint.state != S.REQUESTED:
            log.info("endpoint %s is %s, not launching it", endpoint.name, endpoint.state)
            return None
        now = ctx.clock.now()
        recorded = _view(endpoint)
        tls = https.launch_tls(ctx.settings, recorded.options, recorded.name)
        secrets.update(tls.secrets)  # the CA key: in memory for this launch only, scrubbed from errors
        spec = build_launch_spec(
            settings=ctx.settings,
            cluster_name=recorded.cluster_name,
            model=recorded.model,
            engine=recorded.engine,
            plan=recorded.plan,
            options=recorded.options,
            secrets=secrets,
            autostop_minutes=minutes_left(endpoint.expires_at, now),
            tls=tls.spec,
        )
        submitted = f"launch submitted for cluster {endpoint.cluster_name}"
        changes = {
            "api_key_hash": hash_api_key(api_key),
            "options": store.options_with_tls(endpoint, tls.record),  # public part only (the CA cert)
        }
        _move(session, endpoint, S.PROVISIONING, submitted, now=now, changes=changes)
        view = _view(endpoint)
    run.provisioning_at = now
    where = "/".join(p for p in (spec.cloud, spec.region) if p) or None
    ctx.post(view, messaging.provisioning(view, where=where))
    if not view.tls.enabled and not records.is_service(view.options):  # a service's notes say it its way
        ctx.post(view, messaging.plain_http_warning())
    ctx.changed(view)
    return spec


def _record_request(ctx: FlowContext, endpoint_id: int, request_id: str) -> None:
    """Step 2 (after the submit): the request id is persisted the moment it exists."""
    with ctx.database.session() as session:
        # One guarded UPDATE (no read first): the id is stored whatever the state, for the cancel.
        table = Endpoint.__table__  # a Core statement: no ORM bookkeeping
        state = session.execute(
            update(table)
            .where(table.c.id == endpoint_id)
            .values(sky_request_id=request_id)
            .returning(table.c.state)
        ).scalar_one_or_none()
    if state is None:
        raise _Abandon(f"endpoint {endpoint_id} is gone from the store")
    if state != S.PROVISIONING:
        raise _Abandon("stopped while submitting")


def _await_cluster(ctx: FlowContext, run: _LaunchRun, outcome: RequestOutcome) -> bool:
    """Step 3 (the request finished): STARTING with the URL (a cluster's, or a service's load balancer),
    then the first readiness probe."""
    settings = ctx.settings
    assert run.spec is not None and run.request_id is not None
    if outcome.error is not None:
        raise outcome.error  # the poll rounds kept failing: the launcher's own error explains it
    if outcome.timed_out:
        timeout = settings.readiness_deadline.total_seconds()
        raise TimeoutError(f"launch request {run.request_id} is still {outcome.status} after {timeout:.0f}s")
    if run.spec.service is not None:
        # A SkyServe service: `serve up` finished; its replicas are followed here (SkyServe's own path).
        view = service_flow.await_service(ctx, run.endpoint_id, run.spec, run.request_id)
    else:
        view = _cluster_up(ctx, run)
    run.view = view
    ctx.post(view, messaging.weights_loading(view))
    run.check = _readiness_check(ctx, run, view)
    return _later(ctx, run, _probe)


def _cluster_up(ctx: FlowContext, run: _LaunchRun) -> EndpointView:
    """The cluster's request finished: its result, then STARTING with the URL."""
    settings, launcher = ctx.settings, ctx.launcher
    assert run.spec is not None and run.request_id is not None
    # Finished: returns at once, or raises the request's own error (no capacity, quota, ...).
    launcher.wait(run.request_id, timeout=settings.readiness_deadline.total_seconds())
    # No transaction held meanwhile; `https://` when the engine serves TLS.
    url = launcher.endpoint_url(run.spec.cluster_name, settings.engine_port, tls=run.spec.tls is not None)
    with ctx.database.session() as session:
        endpoint = _load(session, run.endpoint_id)
        if endpoint.state != S.PROVISIONING:
            raise _Abandon("stopped while provisioning")
        up = f"cluster up; engine starting at {url}"
        _move(session, endpoint, S.STARTING, up, now=ctx.clock.now(), changes={"url": url})
        view = _view(endpoint)
        deadline_minutes = minutes_left(endpoint.expires_at, ctx.clock.now())
    ctx.post(view, messaging.engine_starting(view))
    ctx.changed(view)
    # The lifetime may have been extended while provisioning: keep the cluster's timer in step.
    try:
        launcher.set_deadline(view.cluster_name, deadline_minutes)
    except Exception:
        log.warning("could not reset the hard deadline of %s", view.cluster_name, exc_info=True)
    return view


def _probe(ctx: FlowContext, run: _LaunchRun) -> bool:
    """Step 4: one readiness probe; the next after its backoff, or (the route answered) the completion."""
    assert run.check is not None
    assert run.view is not None
    delay = run.check.probe(ctx.http_for(run.view.tls.ca_cert_pem))
    if delay is None:
        return _engine_ready(ctx, run)
    if time.monotonic() - run.state_seen_at >= ctx.state_check_every:
        run.state_seen_at = time.monotonic()
        with ctx.database.session() as session:
            if _load(session, run.endpoint_id).state != S.STARTING:
                raise _Abandon("stopped while starting")  # a person's stop: no more probes
    return _later(ctx, run, _probe, delay)


def _engine_ready(ctx: FlowContext, run: _LaunchRun) -> bool:
    """Step 5: a real completion with the key, the usage baseline scraped, then READY (see `_make_ready`)."""
    assert run.check is not None and run.view is not None
    view = run.view
    http = ctx.http_for(view.tls.ca_cert_pem)
    run.check.complete(http, api_key=run.api_key)
    # Usage counts from here: the readiness completion above was the bot's, not a user's. Scraped now,
    # stored with READY.
    baseline = scrape_baseline(
        endpoint_id=view.id,
        url=view.url or "",
        engine=view.engine,
        replica_urls=view.lifecycle.replica_urls,  # a service: the sum over its replicas
        ca_pem=view.tls.ca_cert_pem,
        client=http,
    )
    _make_ready(ctx, run, baseline=baseline)
    return False


def _make_ready(ctx: FlowContext, run: _LaunchRun, *, baseline: EngineSnapshot | None) -> None:
    """Step 5: ONE transaction: the usage baseline, READY, the key owed to the outbox, the cold-start
    timings and the launch claim released; then the URL and key are posted once."""
    launcher_facts = timings.launcher_marks(ctx.launcher, run.view) if run.view is not None else (None, None)
    ctx.stop_renewing(run.endpoint_id, LAUNCH)  # released below, with READY
    with ctx.database.session() as session:
        endpoint = _load(session, run.endpoint_id)
        if endpoint.state != S.STARTING:
            raise _Abandon("stopped while starting")
        now = ctx.clock.now()
        if baseline is not None:
            record_baseline(load_usage(session, run.endpoint_id), baseline, now=now)
        # The idle clock starts when it can first be used.
        _move(session, endpoint, S.READY, "answered a completion", now=now, changes={"last_activity_at": now})
        # The key is owed from this commit on: a crash before it is delivered leaves this row,
        # and the next start tears the endpoint down (core.outbox) instead of leaving it unusable.
        key_message = outbox.record_key(
            session=session,
            endpoint_id=run.endpoint_id,
            owner=ctx.owner,
            now=now,
            deliver_by=now + ctx.settings.key_delivery_deadline,
            lease=ctx.claim_ttl,
        )
        timings.record_ready(session, endpoint, launcher=ctx.launcher, provisioning_at=run.provisioning_at,
                             healthy_at=run.healthy_at, launcher_facts=launcher_facts)  # fmt: skip
        claims.release(session=session, endpoint_id=run.endpoint_id, kind=LAUNCH, owner=ctx.owner)
        view = _view(endpoint)
    run.claim_released = True
    ctx.typical.forget((view.model, view.accelerators, view.engine))  # its cold start is history now
    took = (as_utc(view.ready_at) - as_utc(view.requested_at)) if view.ready_at else None
    _hand_over_key(ctx, key_message, view, run.api_key)
    ctx.post(view, messaging.ready(view, took=took))
    ctx.changed(view)


def _hand_over_key(ctx: FlowContext, message_id: int, view: EndpointView, api_key: str) -> None:
    """Give the key to the outbox (retried off this thread), or deliver it here with a plain notifier."""
    if isinstance(ctx.notifier, outbox.Outbox):
        ctx.notifier.hand_over_key(message_id, view, api_key)
        return
    delivered = deliver(ctx.notifier.endpoint_ready, view, api_key=api_key).delivered
    with ctx.database.session() as session:
        outbox.settle(session=session, message_id=message_id, delivered=delivered, now=ctx.clock.now())


def key_lost(ctx: FlowContext, *, endpoint_id: int, reason: str) -> None:
    """The endpoint's API key can never reach its owner (core.outbox gave up): nobody can use the endpoint,
    so it is torn down, ending FAILED with `reason`, as an interrupted launch is."""

    def give_up(ctx: FlowContext, *, endpoint_id: int) -> None:
        fail_launch(ctx, endpoint_id=endpoint_id, reason=reason, also_from=(S.READY,))

    ctx.schedule(TEARDOWN, endpoint_id, give_up)  # on the pool: never on the outbox's sender thread


def _readiness_check(ctx: FlowContext, run: _LaunchRun, view: EndpointView) -> ReadinessCheck:
    def progress(step: str) -> None:
        if step.startswith("engine answers ") and run.healthy_at is None:
            run.healthy_at = ctx.clock.now()  # a cold-start mark, stored with READY (core.endpoints.timings)
        ctx.post(view, messaging.readiness_step(step))

    deadline = as_utc(view.requested_at) + ctx.settings.readiness_deadline
    # What is left of the launch's readiness budget (at least a minute: the engine just came up).
    remaining = max(deadline - ctx.clock.now(), timedelta(minutes=1))
    options: dict[str, Any] = {
        "first_delay": ctx.settings.readiness_poll_first,
        "max_delay": ctx.settings.readiness_poll_max,
        "gone": _engine_gone(ctx.launcher, view.cluster_name),
        **ctx.readiness_options,
    }
    return ReadinessCheck(
        url=view.url or "",
        engine=view.engine,
        model_name=view.model,
        deadline=remaining,
        progress=progress,
        check_server=_server_check(ctx.launcher, view.cluster_name),
        **options,
    )


def _server_check(launcher: Launcher, cluster_name: str) -> Callable[[], None] | None:
    """The launcher's own "is the server on the port really the engine?" check, where it has one."""
    check = getattr(launcher, "check_serving", None)
    return None if check is None else (lambda: check(cluster_name))


def _engine_gone(launcher: Launcher, cluster_name: str) -> Callable[[], str | None] | None:
    """For launchers that can see the engine process (the local one): why it exited, asked between
    readiness probes, so a crashed start fails with the engine's own reason instead of a timeout."""
    exit_reason = getattr(launcher, "engine_exit_reason", None)
    if exit_reason is None:
        return None
    return lambda: exit_reason(cluster_name)


def _after_abandon(ctx: FlowContext, endpoint_id: int) -> None:
    """Someone stopped the endpoint mid-launch. Their teardown may already have run before our request
    created the cluster, so this flow cleans up what it started itself (cancel, down: both idempotent)
    and makes sure a STOPPING endpoint gets its teardown."""
    with ctx.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        if endpoint is None:
            return
        state, cluster, request_id = endpoint.state, endpoint.cluster_name, endpoint.sky_request_id
        service = _view(endpoint).is_service
    if request_id:
        _cancel_if_running(ctx.launcher, request_id)
    try:
        service_flow.take_down(ctx.launcher, cluster, service=service)
    except Exception as exc:
        log.error(
            "cluster %s may be left behind by a stopped launch (%s); reconcile will retry", cluster, exc
        )
    if state == S.STOPPING:
        ctx.schedule(TEARDOWN, endpoint_id, teardown)


def fail_launch(
    ctx: FlowContext,
    *,
    endpoint_id: int,
    reason: str,
    actor: str = ACTOR,
    also_from: tuple[EndpointState, ...] = (),
) -> None:
    """Record why the launch failed, move to STOPPING, tell the thread, tear down (-> FAILED)."""
    with ctx.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        if endpoint is None:
            return
        if endpoint.state not in (*S.launching(), *also_from):
            # Stopped by a person (or reconcile) meanwhile: their teardown owns the cluster.
            log.info("endpoint %s failed while %s; leaving it to that", endpoint.name, endpoint.state)
            proceed = endpoint.state == S.STOPPING
            view = None
        else:
            mark_stopping(
                session=session,
                endpoint=endpoint,
                actor=actor,
                reason=reason,
                now=ctx.clock.now(),
                failed=True,
            )
            view = _view(endpoint)
            proceed = True
    if view is not None:
        ctx.post(view, messaging.launch_failed(view, reason=reason))
        ctx.changed(view)
    if proceed:
        teardown(ctx, endpoint_id=endpoint_id)


def mark_stopping(
    *, session: Any, endpoint: Endpoint, actor: str, reason: str, now: datetime, failed: bool = False
) -> None:
    """Move to STOPPING with its reason: `failure_reason` for a failed launch (it ends FAILED),
    `stop_reason` for a stop someone (or the watchdog) asked for (it ends STOPPED)."""
    store.transition(
        session=session,
        endpoint=endpoint,
        to=S.STOPPING,
        actor=actor,
        message=reason,
        now=now,
        changes={"failure_reason" if failed else "stop_reason": reason},
    )


# --- teardown --------------------------------------------------------------------------------------


def teardown(ctx: FlowContext, *, endpoint_id: int) -> None:
    """Tear a STOPPING endpoint's cluster down (retried with backoff); STOPPED/FAILED once it is gone."""
    _run_claimed(ctx, endpoint_id, TEARDOWN, _teardown_claimed, busy="another process is tearing it down")


def _teardown_claimed(ctx: FlowContext, endpoint_id: int) -> None:
    launcher = ctx.launcher
    with ctx.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        if endpoint is None or endpoint.state != S.STOPPING:
            return
        cluster, request_id = endpoint.cluster_name, endpoint.sky_request_id
        service = _view(endpoint).is_service
    if request_id:
        _cancel_if_running(launcher, request_id)

    attempts = 0
    error: Exception | None = None
    for delay in (0.0, *ctx.teardown_delays):
        if delay:
            ctx.sleep(delay)
        attempts += 1
        try:
            service_flow.take_down(launcher, cluster, service=service)
            error = None
            break
        except Exception as exc:
            error = exc
            log.warning("teardown of %s failed (attempt %d): %s", cluster, attempts, exc)

    if error is not None:
        text = _explain(error, None)
        with ctx.database.session() as session:
            endpoint = _load(session, endpoint_id)
            store.record_event(
                session=session,
                endpoint=endpoint,
                actor=ACTOR,
                kind="teardown_failed",
                message=f"{attempts} attempts: {text}",
                now=ctx.clock.now(),
            )
            view = _view(endpoint)
        log.error(
            "CLUSTER MAY BE LEAKING: teardown of %s (endpoint %s) failed %d times: %s; reconcile will retry",
            cluster,
            view.name,
            attempts,
            text,
        )
        ctx.post(view, messaging.teardown_failed(view, error=text, attempts=attempts))
        return

    with ctx.database.session() as session:
        endpoint = _load(session, endpoint_id)
        if endpoint.state != S.STOPPING:
            return
        now = ctx.clock.now()
        final = S.FAILED if endpoint.failure_reason else S.STOPPED
        _move(session, endpoint, final, f"cluster {cluster} is gone", now=now)
        # Close the books in the same transaction: price x every billed span of the audit log (from
        # entering PROVISIONING to now), the watchdog's one definition, so the summary is exact.
        settle_cost(session=session, endpoint_id=endpoint_id, now=now)
        usage = session.get(EndpointUsage, endpoint_id)
        scraped = usage is not None and usage.last_scrape_at is not None  # token figures are known
        view = store.to_view(endpoint, usage if scraped else None)
    ctx.post(view, messaging.stopped_summary(view, now=now))
    ctx.changed(view)


def _cancel_if_running(launcher: Launcher, request_id: str) -> None:
    try:
        status = launcher.request_status(request_id)
        if status is not None and status.upper() in _IN_FLIGHT_REQUEST:
            launcher.cancel(request_id)
    except Exception:
        log.warning("could not cancel launch request %s", request_id, exc_info=True)


# --- resume after a restart ------------------------------------------------------------------------


def resume_launch(ctx: FlowContext, *, endpoint_id: int) -> object:
    """Pick up a launch whose process died (see the module docstring for why it ends FAILED); a REQUESTED
    one (nothing reached the cloud) is launched now: CONTINUES then, as `launch`."""
    if not ctx.take_claim(endpoint_id, LAUNCH):
        return None
    try:
        state = _interrupted(ctx, endpoint_id)
    except Exception:
        ctx.drop_claim(endpoint_id, LAUNCH)
        raise
    except BaseException:
        ctx.drop_claim(endpoint_id, LAUNCH, release=False)  # crashed: left to expire
        raise
    if state == S.REQUESTED:
        return _start_launch(ctx, endpoint_id)  # the launch holds the claim from here
    ctx.drop_claim(endpoint_id, LAUNCH)
    if state in (S.PROVISIONING, S.STARTING):
        fail_launch(
            ctx, endpoint_id=endpoint_id, reason=messaging.restarted_during_launch(), actor="reconcile"
        )
    return None


def _interrupted(ctx: FlowContext, endpoint_id: int) -> EndpointState | None:
    """The state of a launch nobody follows; one that reached the cloud has its request cancelled."""
    with ctx.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        if endpoint is None:
            return None
        state, request_id, cluster = endpoint.state, endpoint.sky_request_id, endpoint.cluster_name
    if state not in (S.PROVISIONING, S.STARTING):
        return state
    if request_id:
        _cancel_if_running(ctx.launcher, request_id)
        found = f"following request {request_id}"
    else:
        names = {c.name for c in _safe_list(ctx)}
        found = "cluster found by name" if cluster in names else "no cluster found by name"
    log.warning("endpoint %s: launch interrupted by a restart (%s); tearing it down", endpoint_id, found)
    return state


def _safe_list(ctx: FlowContext) -> list:
    try:
        return ctx.launcher.list_clusters(ctx.settings.cluster_prefix)
    except Exception:
        log.warning("could not list clusters", exc_info=True)
        return []


# --- a person's stop and relaunch ------------------------------------------------------------------


def stop_whatever_its_state(
    *, session: Any, endpoint: Endpoint, actor: str, reason: str, clock: Clock
) -> bool:
    """Move a live endpoint to STOPPING. A launch step (or reconcile) may move the row between our read
    and our write: the conflict refreshes it, and a stop still wins from whatever live state it is in
    now. False when it became terminal meanwhile (nothing left to stop)."""
    for _attempt in range(len(S)):
        if endpoint.state == S.STOPPING:
            return True
        try:
            mark_stopping(session=session, endpoint=endpoint, actor=actor, reason=reason, now=clock.now())
            return True
        except store.TransitionConflict:
            if endpoint.state.is_terminal:
                return False
    raise InvalidRequest(
        f"`{endpoint.name}` kept changing state while it was being stopped; try `down {endpoint.name}` again."
    )


def relaunch_lost(*, session: Any, endpoint: Endpoint, actor: str, now: datetime) -> None:
    """LOST -> REQUESTED for a launch again (same name, cluster name and options; the run's own facts
    cleared). `requested_at` restarts with the run; the extend ceiling stays anchored to the first
    request. Raises `store.TransitionConflict` when it is no longer LOST."""
    view = _view(endpoint)
    lifecycle = replace(
        view.lifecycle,
        first_requested_at=view.first_requested_at,
        replicas_ready=None,
        replica_urls=(),
        cold_start=None,
    )
    store.transition(
        session=session,
        endpoint=endpoint,
        to=S.REQUESTED,
        actor=actor,
        message="relaunch after the cluster was lost",
        now=now,
        changes={
            "url": None,
            "sky_request_id": None,
            "api_key_hash": None,
            "failure_reason": None,
            "stop_reason": None,
            "options": records.options_to_json(view.options, lifecycle),
        },
    )
