"""The service layer the chat adapters call: up, down, extend, keep_alive, status, list, fit.

Methods are keyword-only. They validate before any side effect, record intent in the store before
acting, hand slow work (launch, readiness, teardown) to the bot's own worker pool, and report
progress through the `Notifier`. They raise only `core.errors.UserFacingError` subclasses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core.clock import Clock, SystemClock, as_utc
from core.echo import shown
from core.endpoints import cold_stats, flows, https, messaging, records, service_flow, store
from core.endpoints import reconcile as reconcile_module
from core.endpoints.cold_stats import LaunchHistory
from core.endpoints.flows import FlowContext, SharesFlows
from core.endpoints.models import StopRequest
from core.endpoints.records import EndpointOptions, Lifecycle
from core.endpoints.states import EndpointState
from core.endpoints.validation import UpRequest, refuse_local_model, validate_up
from core.endpoints.views import EndpointPage, EndpointView, HomeSnapshot
from core.errors import (
    BudgetExceeded,
    CloudUnreachable,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    UserFacingError,
)
from core.facts import ModelFacts
from core.fit.plan import FitOptions, Plan
from core.fit.service import FitRequest
from core.fit.service import fit as fit_check
from core.gpus import AcceleratorRequest
from core.hub import load_model_facts
from core.launcher.base import Launcher, LaunchSpec
from core.notifier import Notifier, deliver
from core.policy.gate import PolicyGate
from core.policy.loader import PolicySource
from core.pricing import price_per_hour
from core.settings import Settings
from core.units import format_duration, format_money
from core.usage.cost import team_spend_today
from core.usage.models import EndpointUsage
from core.workers import WorkerPool

log = logging.getLogger(__name__)

S = EndpointState
# The bot's own components may stop any endpoint (idle, lifetime, cost cap); chat user ids never look like these.
SYSTEM_ACTORS = frozenset({"watchdog", "reconcile"})

FactsLoader = Callable[..., ModelFacts]


@dataclass(frozen=True)
class _Prepared:
    engine: str
    accelerators: str
    plan: Plan
    ttl: timedelta
    idle: timedelta
    options: EndpointOptions
    lifecycle: Lifecycle
    price_per_hour: float
    price_is_estimate: bool


class DoesNotFit(Exception):
    """`up` refused because the plan does not fit; carries the plan (reasons, suggestions)."""

    def __init__(self, plan: Plan) -> None:
        super().__init__("; ".join(plan.reasons) or "does not fit")
        self.plan = plan


def _default_facts_loader(model: str, *, settings: Settings) -> ModelFacts:
    return load_model_facts(model, settings=settings)


class EndpointService(SharesFlows):
    """Wired once at start-up with settings, a session factory, a launcher, a notifier and a worker pool."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Any,
        launcher: Launcher,
        notifier: Notifier,
        workers: WorkerPool,
        clock: Clock | None = None,
        facts_loader: FactsLoader = _default_facts_loader,
        live_prices: bool | None = None,
        flow_options: dict[str, Any] | None = None,
    ) -> None:
        tuning: dict[str, Any] = {
            "claim_ttl": settings.claim_ttl,
            "heartbeat_every": max(settings.claim_ttl.total_seconds() / 3, 0.05),
        }
        tuning.update(flow_options or {})
        self.flows = FlowContext(
            settings=settings,
            database=database,
            launcher=launcher,
            notifier=notifier,
            workers=workers,
            clock=clock or SystemClock(),
            **tuning,
        )
        self.facts_loader = facts_loader
        # The team policy (ENDPOINT_BOT_POLICY_FILE): a bad file refuses the start here.
        self.policy = PolicyGate(PolicySource(settings.policy_file), settings_admins=settings.admin_user_ids)
        # Live catalogue prices import SkyPilot: only worth it when SkyPilot launches.
        self.live_prices = (launcher.name == "skypilot") if live_prices is None else live_prices

    # --- fit ----------------------------------------------------------------------------------------

    def fit(self, *, model: str, accelerators: str | None, options: dict) -> list[Plan]:
        """One plan for ACCEL, or the cheapest fitting shapes when ACCEL is None (core.fit.service)."""
        request = FitRequest(model, accelerators, self._fit_options(options))
        result = fit_check(request, settings=self.settings, load_facts=self._facts)
        if result.accel is None and not result.plans and result.yarn_hint:
            raise InvalidRequest(result.yarn_hint)  # beyond the native context: say what would reach it
        return result.plans

    def _fit_options(self, options: dict) -> FitOptions:
        known = set(FitOptions.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise InvalidRequest(
                f"Unknown fit option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            )
        values = {k: v for k, v in options.items() if v is not None}
        values.setdefault("engine", self.settings.default_engine)
        return FitOptions(**values)

    def _refuse_local_model(self, model: str | None) -> None:
        refuse_local_model(model, self.settings)

    def _facts(self, model: str) -> ModelFacts:
        self._refuse_local_model(model)  # before anything touches the disk
        try:
            return self.facts_loader(model, settings=self.settings)
        except UserFacingError:
            raise
        except Exception as exc:
            log.warning("could not load facts for %s", model, exc_info=True)
            raise InvalidRequest(
                f"Could not read `{model}`'s configuration ({type(exc).__name__}). Check the model id "
                "(`org/name` as on huggingface.co) and try again."
            ) from exc

    # --- up -----------------------------------------------------------------------------------------

    def up(self, *, request: UpRequest) -> EndpointView:
        """Validate, fit-check, record REQUESTED, announce the card, schedule the launch; return at once."""
        if self.cloud_problem is not None:
            raise CloudUnreachable(self.cloud_problem)
        service_flow.check_service_request(request, self.launcher)  # replicas need SkyServe (not `render`)
        request = self.policy.before_fit(request, default_ttl=self.settings.default_ttl,
                                         default_idle=self.settings.idle_timeout, default_spot=self.settings.use_spot)  # fmt: skip
        try:
            prepared = self._prepare(request)
        except DoesNotFit as exc:  # "what would fit" names only shapes the policy allows
            raise DoesNotFit(self.policy.allowed_suggestions(exc.plan, user=request.owner_id)) from None
        self.policy.after_fit(request, prepared.plan)
        now = self.clock.now()
        self._check_budget(now)
        # Intent first: the row (and its reserved cluster name) exists before anything else happens.
        with self.database.session() as session:
            endpoint = store.create_endpoint(
                session=session,
                model=request.model,
                accelerators=prepared.accelerators,
                engine=prepared.engine,
                launcher=self.launcher.name,
                owner_id=request.owner_id,
                channel_id=request.channel_id,
                options=prepared.options,
                lifecycle=prepared.lifecycle,
                plan=prepared.plan,
                idle_timeout_s=int(prepared.idle.total_seconds()),
                expires_at=now + prepared.ttl,
                max_cost=request.max_cost,
                price_per_hour=prepared.price_per_hour,
                price_is_estimate=prepared.price_is_estimate,
                now=now,
                name=request.name,
                cluster_prefix=self.settings.cluster_prefix,
                admission=self.policy.admit(
                    request,
                    accelerators=prepared.accelerators,
                    price_per_hour=prepared.price_per_hour,
                    now=now,
                ),
            )
            view = store.to_view(endpoint)

        ref = deliver(self.notifier.announce, view).answer
        if ref is not None:
            with self.database.session() as session:
                endpoint = self._get(session, view.name)
                endpoint.channel_id = ref.channel_id
                endpoint.message_ts = ref.message_ts
                view = store.to_view(endpoint)
        self._say_typical(view)
        self._schedule_launch(view)
        return view

    def _say_typical(self, view: EndpointView) -> None:
        """The thread's first line, when launches like this one have history: what they took."""

        def read() -> LaunchHistory | None:
            with self.database.session() as session:
                return cold_stats.typical(
                    session, model=view.model, accelerators=view.accelerators, engine=view.engine
                )

        try:
            past = self.flows.typical.get((view.model, view.accelerators, view.engine), read)
        except Exception:
            log.warning("could not read the cold-start history", exc_info=True)
            return
        if past is not None:
            deliver(self.notifier.thread_post, view, messaging.similar_launches(past.total_s, past.launches))

    def _schedule_launch(self, view: EndpointView) -> None:
        """Hand the launch to the pool; say so in its thread when it has to wait for a free thread."""
        if not self.flows.schedule(flows.LAUNCH, view.id, flows.launch):
            return
        ahead = self.flows.queued_ahead(view.id)
        if ahead is not None:
            deliver(
                self.notifier.thread_post,
                view,
                messaging.queued(view, ahead=ahead, threads=self.workers.size),
            )

    def preview(self, *, request: UpRequest) -> tuple[Plan, LaunchSpec]:
        """What `up` would launch, without recording anything: the plan (its `engine_command` the launch's
        argv) and the LaunchSpec with every secret replaced by `<redacted>` (for `render`)."""
        # No live price: the YAML carries none, and a live look-up would reach SkyPilot's catalogue
        # (downloads, and AWS's identity probe of the instance-metadata address) just to print a file.
        prepared = self._prepare(request, live_price=False)
        name = request.name or store.derive_name(request.model)
        # TLS as a launch would have it: a throwaway CA's certificate shows where it goes; its key is
        # redacted like every secret (a launch makes a new CA each time).
        tls = https.launch_tls(self.settings, prepared.options, name)
        secrets = {k: "<redacted>" for k in (*flows.launch_secrets(self.settings, "x"), *tls.secrets)}
        spec = flows.build_launch_spec(
            settings=self.settings,
            cluster_name=store.make_cluster_name(prefix=self.settings.cluster_prefix, name=name),
            model=request.model,
            engine=prepared.engine,
            plan=prepared.plan,
            options=prepared.options,
            secrets=secrets,
            autostop_minutes=int(prepared.ttl.total_seconds() // 60),
            tls=tls.spec,
        )
        return replace(prepared.plan, engine_command=list(spec.engine_argv)), spec  # the argv it would run

    def _prepare(self, request: UpRequest, *, live_price: bool = True) -> _Prepared:
        """Validation, fit check and price: everything `up` decides before touching the store. The engine's
        argv is not built here: `flows.build_launch_spec` builds it from the plan at launch.
        `live_price=False` takes the bundled price table even where live prices are on."""
        settings = self.settings
        engine = validate_up(request, settings, name_taken=self._name_taken)
        ttl = request.ttl or settings.default_ttl
        idle = request.idle_timeout or settings.idle_timeout
        spot = settings.use_spot if request.spot is None else request.spot
        cloud = (request.cloud or settings.default_cloud or "").lower() or None
        region = request.region or (settings.default_region if not request.cloud else None)
        # The options as asked (same names as the request's), with this deployment's defaults filled in.
        options = replace(
            EndpointOptions(**records.same_named(EndpointOptions, request)),
            engine=engine,
            spot=spot,
            ttl_s=int(ttl.total_seconds()),
            cloud=cloud,
            region=region,
        )
        accel, plan = self._checked_plan(request, options)
        # The endpoint's one price (its spot/cloud/region offer); the stored plan carries the same figure.
        # A service's price counts every replica it may run (core.endpoints.service_flow).
        replicas = service_flow.replica_multiplier(options)
        price = price_per_hour(
            accel.gpu,
            accel.count,
            cloud=cloud,
            region=region,
            spot=spot,
            live=self.live_prices and live_price,
        )
        return _Prepared(
            engine=engine,
            accelerators=str(accel),
            plan=replace(plan, price_per_hour=price.per_hour),
            ttl=ttl,
            idle=idle,
            options=options,
            lifecycle=Lifecycle(relaunch=request.relaunch),
            price_per_hour=price.per_hour * replicas,
            price_is_estimate=price.is_estimate,
        )

    def _checked_plan(self, request: UpRequest, options: EndpointOptions) -> tuple[AcceleratorRequest, Plan]:
        """The fit check for `up` (core.fit.service); `DoesNotFit` (with the plan's reasons and suggestions)
        when it does not."""
        fit_options = FitOptions(**records.same_named(FitOptions, options))  # the engine is checked by now
        checked = fit_check(
            FitRequest(request.model, request.accelerators, fit_options),
            settings=self.settings,
            load_facts=self._facts,
        )
        accel, plan = checked.accel, checked.plan
        assert accel is not None and plan is not None  # `up` always names its GPUs
        if not plan.fits:
            raise DoesNotFit(plan)
        return accel, plan

    def _name_taken(self, name: str) -> bool:
        with self.database.session() as session:
            return store.name_taken(session=session, name=name)

    def _check_budget(self, now: datetime) -> None:
        budget = self.settings.team_daily_budget
        if budget is None:
            return
        spent = self.spent_today(now=now)
        if spent >= budget:
            raise BudgetExceeded(
                f"The team has spent {format_money(spent)} today, at or over its daily budget of "
                f"{format_money(budget)}. New launches are refused until 00:00 UTC; stop idle endpoints, or "
                "ask an admin to raise ENDPOINT_BOT_TEAM_DAILY_BUDGET."
            )

    def spent_today(self, *, now: datetime | None = None) -> float:
        """Dollars spent since 00:00 UTC across every endpoint: the watchdog's one definition of team
        spend (price x the billed part of each endpoint's life that falls inside today)."""
        with self.database.session() as session:
            return team_spend_today(session=session, now=now or self.clock.now())

    # --- acting on one endpoint ---------------------------------------------------------------------

    def _get(self, session: Any, name: str) -> Any:
        endpoint = store.get_by_name(session=session, name=name)
        if endpoint is None:
            raise NotFound(f"No endpoint called `{shown(name)}`. `list` shows the running ones.")
        return endpoint

    def _authorize(self, endpoint: Any, actor: str, verb: str) -> None:
        if actor == endpoint.owner_id or actor in SYSTEM_ACTORS or self.policy.is_admin(actor):
            return
        raise PermissionDenied(
            f"Only <@{endpoint.owner_id}> (who launched `{endpoint.name}`) or an admin may {verb}."
        )

    def request_stop(self, *, name: str, actor: str) -> bool:
        """Record that `actor` asked to stop `name`, before the chat tells them "Stopping" (one small insert).

        `down` marks it done; a process that dies in between leaves it for the next start's
        `resume_stops`. False (logged) when it could not be recorded: the stop itself still runs."""
        try:
            with self.database.session() as session:
                session.add(
                    StopRequest(
                        endpoint_name=name.strip().lower()[:64],
                        actor=actor[:64],
                        requested_at=self.clock.now(),
                    )
                )
            return True
        except Exception:
            log.warning("could not record the stop of %s asked by %s", name, actor, exc_info=True)
            return False

    def resume_stops(self) -> int:
        """Carry out the stops a previous process acknowledged but never ran (on start); how many."""
        with self.database.session() as session:
            pending = [
                (r.endpoint_name, r.actor)
                for r in session.scalars(
                    select(StopRequest).where(StopRequest.done_at.is_(None)).order_by(StopRequest.id)
                ).all()
            ]
        for name, actor in dict.fromkeys(pending):
            try:
                view = self.down(name=name, actor=actor)
                log.info(
                    "carried out the stop of %s asked by %s before a restart (%s)", name, actor, view.state
                )
            except UserFacingError as exc:
                log.info("stop of %s asked by %s before a restart: %s", name, actor, exc)
            except Exception:
                log.exception("could not carry out the stop of %s asked by %s", name, actor)
        return len(pending)

    def _stops_done(self, name: str, actor: str) -> None:
        try:
            with self.database.session() as session:
                session.execute(
                    update(StopRequest)
                    .where(
                        StopRequest.endpoint_name == name.strip().lower()[:64],
                        StopRequest.actor == actor[:64],
                        StopRequest.done_at.is_(None),
                    )
                    .values(done_at=self.clock.now())
                )
        except Exception:
            log.warning("could not mark the stop of %s as done", name, exc_info=True)

    def down(self, *, name: str, actor: str, reason: str = "stopped by {mention}") -> EndpointView:
        """Owner or admin only. Record STOPPING and schedule teardown; idempotent on terminal endpoints.
        A stop recorded by `request_stop` is marked done once this ran (or refused with a sentence)."""
        try:
            return self._down(name=name, actor=actor, reason=reason)
        finally:
            self._stops_done(name, actor)

    def _down(self, *, name: str, actor: str, reason: str) -> EndpointView:
        with self.database.session() as session:
            endpoint = self._get(session, name)
            self._authorize(endpoint, actor, "stop it")
            if endpoint.state.is_terminal:
                self._cancel_relaunch(session, endpoint, actor)
                return store.to_view(
                    endpoint
                )  # already stopped: the view says so (messaging.already_stopped)
            # A person is named as a Slack mention (`<@U123>`: Slack shows their name, the shell `@U123`).
            mention = actor if actor in SYSTEM_ACTORS else f"<@{actor}>"
            stopping = flows.stop_whatever_its_state(
                session=session,
                endpoint=endpoint,
                actor=actor,
                reason=reason.format(actor=actor, mention=mention),
                clock=self.clock,
            )
            view = store.to_view(endpoint)
        if not stopping:
            return view
        deliver(self.notifier.thread_post, view, messaging.stopping(view))
        deliver(self.notifier.endpoint_changed, view)
        self.flows.schedule(flows.TEARDOWN, view.id, flows.teardown)
        return view

    def _cancel_relaunch(self, session: Any, endpoint: Any, actor: str) -> None:
        """A LOST endpoint told "it is launched again shortly": a stop now means "do not relaunch it"."""
        view = store.to_view(endpoint)
        if view.state != S.LOST or not view.wants_relaunch:
            return
        store.set_lifecycle(endpoint, replace(view.lifecycle, relaunch=False, relaunch_cancelled_by=actor))
        _audit(
            session,
            endpoint,
            actor=actor,
            kind="relaunch_cancelled",
            message=f"relaunch cancelled by {actor}",
            now=self.clock.now(),
        )

    def relaunch(self, *, name: str, actor: str) -> EndpointView:
        """Owner, admin or the watchdog. Launch a LOST endpoint again (same name, cluster name, lifetime
        and options; a new API key). Refused past its lifetime or the team budget."""
        now = self.clock.now()
        with self.database.session() as session:
            endpoint = self._get(session, name)
            self._authorize(endpoint, actor, "relaunch it")
            if endpoint.state != S.LOST:
                raise InvalidRequest(
                    f"`{name}` is {endpoint.state.value.lower()}; only an endpoint whose cluster was lost can be "
                    "relaunched. Run `up` for a new one."
                )
            if as_utc(endpoint.expires_at) <= now:
                raise InvalidRequest(f"`{name}` is past its lifetime; run `up` for a new one.")
            if actor in SYSTEM_ACTORS and store.to_view(endpoint).lifecycle.relaunch_cancelled_by:
                raise InvalidRequest(f"`{name}` was stopped by its owner after the cluster was lost.")
        self._check_budget(now)
        already = InvalidRequest(f"`{name}` is already being relaunched; its thread says how it goes.")
        with self.database.session() as session:
            endpoint = self._get(session, name)
            if endpoint.state != S.LOST:  # relaunched (by the watchdog or a second press) meanwhile
                raise already
            # It holds GPUs again: the team policy's limits, in the transaction that moves it.
            again = UpRequest(
                model=endpoint.model,
                accelerators=endpoint.accelerators,
                owner_id=endpoint.owner_id,
                channel_id=endpoint.channel_id,
            )
            self.policy.admit(again, accelerators=endpoint.accelerators,
                              price_per_hour=endpoint.price_per_hour or 0.0, now=now)(session)  # fmt: skip
            try:
                flows.relaunch_lost(session=session, endpoint=endpoint, actor=actor, now=now)
            except store.TransitionConflict:
                raise already from None
            view = store.to_view(endpoint)
        deliver(self.notifier.endpoint_changed, view)
        self._schedule_launch(view)
        return view

    def extend(self, *, name: str, actor: str, by: timedelta) -> EndpointView:
        """Owner or admin only. Push expiry (never past the ceiling), reset the cluster-side deadline, audit."""
        if by <= timedelta(0):
            raise InvalidRequest("Extend by a positive duration, e.g. `extend NAME 2h`.")
        with self.database.session() as session:
            endpoint = self._get(session, name)
            self._authorize(endpoint, actor, "extend it")
            if endpoint.state.is_terminal or endpoint.state == S.STOPPING:
                raise InvalidRequest(
                    f"`{name}` is {endpoint.state.value.lower()}; there is nothing to extend. Run `up` for a new one."
                )
            now = self.clock.now()
            span = self.policy.ttl_ceiling(
                owner=endpoint.owner_id, actor=actor, ceiling=self.settings.max_ttl
            )
            ceiling = store.to_view(endpoint).first_requested_at + span
            current = as_utc(endpoint.expires_at)
            if current >= ceiling:
                raise InvalidRequest(
                    f"`{name}` already runs to the {format_duration(span)} ceiling "
                    f"({ceiling:%Y-%m-%d %H:%M} UTC); it cannot be extended further."
                )
            wanted = max(current, now) + by
            new_expiry = min(wanted, ceiling)
            capped = wanted > ceiling
            endpoint.expires_at = new_expiry
            _audit(
                session,
                endpoint,
                actor=actor,
                kind="extend",
                message=f"extended by {format_duration(by)} to {new_expiry.isoformat()}"
                + (" (capped at the ceiling)" if capped else ""),
                now=now,
            )
            view = store.to_view(endpoint)
            cluster_up = endpoint.state in (S.STARTING, S.READY)
        deliver(
            self.notifier.thread_post,
            view,
            messaging.extended(view, by=by, capped=capped, ceiling=ceiling, span=span),
        )
        deliver(self.notifier.endpoint_changed, view)
        # While provisioning, the launch flow sets the deadline once the cluster is up; a service has none.
        if cluster_up and not view.is_service:
            self.workers.submit(self._reset_deadline, view, task_name=f"deadline:{view.id}")
        return view

    def _reset_deadline(self, view: EndpointView) -> None:
        minutes = flows.minutes_left(view.expires_at, self.clock.now())
        try:
            self.launcher.set_deadline(view.cluster_name, minutes)
        except Exception as exc:
            log.error("could not reset the hard deadline of %s: %s", view.cluster_name, exc)
            with self.database.session() as session:
                store.record_event_for(
                    session=session,
                    endpoint_id=view.id,
                    actor=flows.ACTOR,
                    kind="deadline_failed",
                    message=f"could not reset the cluster's deadline to {minutes} min: {type(exc).__name__}",
                    now=self.clock.now(),
                )

    def keep_alive(self, *, name: str, actor: str) -> EndpointView:
        """Owner or admin only. Reset the idle clock (last_activity_at = now), audit."""
        with self.database.session() as session:
            endpoint = self._get(session, name)
            self._authorize(endpoint, actor, "keep it alive")
            if endpoint.state not in S.live() or endpoint.state == S.STOPPING:
                raise InvalidRequest(
                    f"`{name}` is {endpoint.state.value.lower()}; there is nothing to keep alive."
                )
            now = self.clock.now()
            endpoint.last_activity_at = now
            _audit(session, endpoint, actor=actor, kind="keep_alive", message="idle clock reset", now=now)
            view = store.to_view(endpoint)
        deliver(self.notifier.endpoint_changed, view)
        return view

    # --- reading --------------------------------------------------------------------------------

    def status(self, *, name: str) -> EndpointView:
        with self.database.session() as session:
            endpoint = self._get(session, name)
            usage = _usage_of(session, endpoint.id)
            return store.to_view(endpoint, usage)

    def list(self, *, include_terminal: bool = False, owner_id: str | None = None) -> list[EndpointView]:
        states = None if include_terminal else S.live()
        with self.database.session() as session:
            return store.list_views(session=session, states=states, owner_id=owner_id)

    def list_page(
        self, *, limit: int, include_terminal: bool = False, owner_id: str | None = None
    ) -> EndpointPage:
        """The first `limit` endpoints `list` would return and how many it would: a screen's worth,
        read without loading every row (issue 12: the ack must not wait for 1,000 rows' JSON)."""
        states = None if include_terminal else S.live()
        with self.database.session() as session:
            return _page(session, limit=limit, states=states, owner_id=owner_id)

    def home(self, *, user_id: str, limit: int) -> HomeSnapshot:
        """Live endpoints for `user_id`'s App Home: up to `limit` of theirs and of everybody else's."""
        with self.database.session() as session:
            return HomeSnapshot(
                mine=_page(session, limit=limit, states=S.live(), owner_id=user_id),
                others=_page(session, limit=limit, states=S.live(), exclude_owner=user_id),
                spend_per_hour=store.spend_rate(session=session, states=S.live()),
            )

    def stats(self, *, contains: str | None = None) -> list[LaunchHistory]:
        """Median cold starts per model, GPUs and engine from finished launches (`/endpoint stats`)."""
        with self.database.session() as session:
            return cold_stats.history(session, contains=contains)

    def events(self, *, name: str) -> list[dict[str, Any]]:
        """The endpoint's audit log, oldest first (for `status --events` and tests)."""
        with self.database.session() as session:
            endpoint = self._get(session, name)
            return [
                {"at": e.at, "actor": e.actor, "kind": e.kind, "message": e.message}
                for e in store.list_events(session=session, endpoint_id=endpoint.id)
            ]

    # --- background ---------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """Compare the store with the launcher's clusters and fix what differs (see reconcile module).

        When the cloud cannot be listed, `cloud_problem` says so (a sentence) until a sweep succeeds, and
        `up` refuses with it instead of launching into an unreachable cloud."""
        try:
            report = reconcile_module.reconcile(self.flows)
        except Exception as exc:
            self.cloud_problem = cloud_unreachable(self.launcher.name, exc)
            raise
        self.cloud_problem = None
        if any(asdict(report)[k] for k in asdict(report) if k != "clusters_seen"):
            log.info("reconcile: %s", report)
        self.last_reconcile = report

    last_reconcile: reconcile_module.ReconcileReport | None = None
    cloud_problem: str | None = None  # why the last sweep could not reach the cloud, until one can


def cloud_unreachable(launcher: str, exc: BaseException) -> str:
    """A sentence for a cloud (launcher) that could not be listed: what failed and what to try."""
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    what = "the SkyPilot API server" if launcher == "skypilot" else f"the {launcher} launcher"
    return (
        f"The cloud is unreachable right now: {what} did not answer ({type(exc).__name__}"
        f"{': ' + detail if detail else ''}). Nothing was launched. The bot checks again every few minutes; "
        "try again then, or ask an admin to check the API server (`sky api status`)."
    )


def _audit(session: Any, endpoint: Any, *, actor: str, kind: str, message: str, now: datetime) -> None:
    """A person changed the row outside a transition: stamp it and record who did what."""
    endpoint.updated_at = now
    store.record_event(session=session, endpoint=endpoint, actor=actor, kind=kind, message=message, now=now)


def _usage_of(session: Any, endpoint_id: int) -> Any:
    usage = session.get(EndpointUsage, endpoint_id)
    # Only a baseline so far (taken after readiness): nothing has been read that could be shown.
    return usage if usage is not None and usage.last_scrape_at is not None else None


def _page(session: Any, *, limit: int, **filters: Any) -> EndpointPage:
    views = store.list_views(session=session, limit=limit, **filters)
    total = len(views) if len(views) < limit else store.count_endpoints(session=session, **filters)
    return EndpointPage(views=views, total=total)
