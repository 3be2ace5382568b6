"""The watchdog loop: every `settings.watchdog_interval`, scrape every READY engine, fold the figures into
the store, accrue cost, then send the reminders and start the teardowns the policy calls for.

One tick, in order:
1. read the scrape targets (READY endpoints with a URL) and scrape them concurrently, outside any
   transaction;
2. in ONE transaction, re-read every live endpoint (and terminal ones whose cost is not settled), fold
   in the scrape results (activity moves `last_activity_at`; a failed scrape counts as activity) and
   recompute cost;
   Rows are read with only their scalar columns (no JSON but what the counters write) as plain
   column dicts and written back as a few `executemany` UPDATEs (core.tables.update_changed); each
   endpoint's transitions are read from the audit log only when its `version` moved;
3. decide per endpoint (core.watchdog.policy) on that thin view; only the endpoints something is due for
   are read in full (options, lifecycle, TLS: the reminders' wording) and decided again, then acted
   on: every reminder and teardown is claimed in the `reminders` table before it is sent or started,
   so a restart or a second bot never repeats one;
   teardowns go through `EndpointService.down(actor="watchdog")`, whose state machine refuses a second;
4. relaunch LOST endpoints that asked for it (`relaunch=yes`).

Reminder DMs and thread posts go through the runtime's notifier: in the Slack bot that is the outbox
(core.outbox), so `deliver` only stores the message and a slow or rate-limited Slack never
holds up a tick.

`Watchdog.tick()` is synchronous and safe to call from tests with a `ManualClock`; `start()` runs it in a
daemon thread until `stop()`. A tick never raises: trouble is logged and counted in its `TickReport`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Select, Text, cast, insert, or_, select
from sqlalchemy.orm import Session

from core.clock import Clock, as_utc
from core.db import Database
from core.endpoints import store
from core.endpoints.models import Endpoint
from core.endpoints.records import options_from_json, tls_from_json
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.errors import UserFacingError
from core.notifier import Notifier, batched, deliver
from core.settings import Settings
from core.tables import update_changed
from core.units import format_money
from core.usage.cost import Transition, accrue_cost, load_transitions
from core.usage.counters import new_usage, record_scrape, record_scrape_failure
from core.usage.metrics import ScrapeResult, ScrapeTarget, merge_replicas
from core.usage.models import EndpointUsage
from core.usage.scraper import Collected, Scraper
from core.watchdog import messaging, policy, reminders

if TYPE_CHECKING:
    from core.endpoints.service import EndpointService

log = logging.getLogger(__name__)

ACTOR = "watchdog"
S = EndpointState
# After this many failed scrapes in a row the owner hears that idle teardown is paused for the endpoint.
SCRAPE_FAILURE_NOTICE_AFTER = 5
# A preempted endpoint is relaunched at most this many times (spot capacity can vanish again and again).
MAX_RELAUNCHES = 3
# LOST endpoints older than this are history, not news.
LOST_LOOKBACK = timedelta(hours=24)
SCRAPE_FAILING = "scrape"  # Reminder kind of the "cannot read metrics" notice
# Latency histograms are most of the parsing cost and feed only the usage figures, never a decision:
# at most this many are parsed per tick (those left over go first next tick), so a tick stays cheap
# when a whole fleet is busy. 1,000 busy endpoints get fresh percentiles within 4 ticks.
LATENCY_READS_PER_TICK = 250
# How long a tick waits for scrapes (at most the scrape timeout). An answer that comes later is used by
# the next tick; until then the endpoint has no data this tick, which counts as activity, never as idle.
SCRAPE_WAIT_S = 2.0


@dataclass
class TickReport:
    """What one tick did (for logs, tests and the benchmark)."""

    started_at: datetime | None = None
    endpoints: int = 0
    scraped: int = 0
    scrape_failures: int = 0
    scrape_pending: int = 0  # READY endpoints whose scrape was not back in time (no data this tick)
    active: int = 0
    notices: list[tuple[str, str, str]] = field(default_factory=list)  # (endpoint, kind, key)
    teardowns: list[tuple[str, str]] = field(default_factory=list)  # (endpoint, kind)
    relaunched: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step: scrape, record, act

    def timed(self, phase: str, began: float) -> float:
        """Add the time since `began` (perf_counter) to `phase`; the current perf_counter."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - began
        return now


@dataclass(frozen=True)
class _Seen:
    """One endpoint after step 2: its view and what the watchdog needs beyond the view."""

    view: EndpointView
    scrape_failures: int = 0
    scrape_error: str | None = None


@dataclass(eq=False, repr=False)
class Watchdog:
    """Wired once at start-up; `tick()` may also be called directly (tests, `endpoint-bot watchdog --once`)."""

    settings: Settings
    database: Database
    service: EndpointService
    notifier: Notifier
    clock: Clock
    # Tests may route scrapes through a custom transport.
    transport: httpx.AsyncBaseTransport | None = field(default=None, kw_only=True)
    # Long-lived (pooled connections, scrapes that outlive a tick); built at the first tick.
    scraper: Scraper | None = field(default=None, kw_only=True)
    last_report: TickReport | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    # A manual tick and the loop's never overlap.
    _tick_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    # Endpoints whose new histograms were left for a later tick.
    _latency_owed: set[int] = field(default_factory=set, init=False)
    # Services' replica URLs, read with this tick's targets (their scrapes are merged per endpoint).
    _replicas: dict[int, tuple[str, ...]] = field(default_factory=dict, init=False)
    _replica_of: dict[int, int] = field(
        default_factory=dict, init=False
    )  # a replica's scrape key -> endpoint
    # What a READY row's `options` JSON says about scraping it (replica URLs, private CA), by the JSON's
    # text: parsed once, not on every tick.
    _scrape_facts: dict[str, tuple[tuple[str, ...], str | None]] = field(default_factory=dict, init=False)
    # Each endpoint's transitions (the audit log's, for its cost) by the row's `version`, which every
    # transition bumps (core.endpoints.store.transition): read again only after a state change.
    _transitions: dict[int, tuple[int, list[Transition]]] = field(default_factory=dict, init=False)

    # --- the loop ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Run ticks in a daemon thread every `settings.watchdog_interval` until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the loop to end after the current tick and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._tick_lock:
            if self.scraper is not None:
                self.scraper.close()
                self.scraper = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        interval = max(self.settings.watchdog_interval.total_seconds(), 0.01)
        while not self._stop.is_set():
            began = time.monotonic()
            self.tick()
            self._stop.wait(max(interval - (time.monotonic() - began), 0.0))

    # --- one tick -----------------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """One pass over every endpoint. Never raises."""
        with self._tick_lock:
            report = TickReport(started_at=self.clock.now())
            began = time.perf_counter()
            try:
                self._tick(report)
            except Exception as exc:  # the loop must survive anything (a database hiccup, a bug)
                log.exception("watchdog tick failed")
                report.errors.append(f"tick: {type(exc).__name__}: {exc}")
            report.seconds = time.perf_counter() - began
            self.last_report = report
            return report

    def _tick(self, report: TickReport) -> None:
        now = report.started_at or self.clock.now()
        began = time.perf_counter()
        collected = self._scrape()
        began = report.timed("scrape", began)
        seen = self._record(now=now, results=collected.results, pending=collected.pending, report=report)
        began = report.timed("record", began)
        live = [s for s in seen if s.view.state in S.live()]
        sent = reminders.sent_reminders(database=self.database, endpoint_ids=[s.view.id for s in live])
        notices: list[tuple[EndpointView, policy.Notice]] = []
        for item in self._with_full_views(self._due(live, now=now, sent=sent)):
            try:
                notices.extend(self._act(item, now=now, sent=sent.get(item.view.id, {}), report=report))
            except Exception as exc:
                log.exception("watchdog could not act on %s", item.view.name)
                report.errors.append(f"{item.view.name}: {type(exc).__name__}: {exc}")
        self._send_all(notices, now=now, report=report)
        self._relaunch_lost(now=now, report=report)
        report.timed("act", began)

    def _scrape(self) -> Collected:
        """Step 1: what the READY engines' `/metrics` say (waiting at most SCRAPE_WAIT_S for them)."""
        targets = self._scrape_targets()
        timeout = self.settings.scrape_timeout.total_seconds()
        if self.scraper is None:
            self.scraper = Scraper(
                timeout=timeout, concurrency=self.settings.scrape_concurrency, transport=self.transport
            )
        collected = self._merge_replicas(
            self.scraper.collect(
                targets, wait=min(timeout, SCRAPE_WAIT_S), histogram_budget=LATENCY_READS_PER_TICK
            )
        )
        results = collected.results
        read = {i for i, r in results.items() if r.ok}
        owed = {self._replica_of.get(t.endpoint_id, t.endpoint_id) for t in targets if t.latency_owed}
        self._latency_owed = {i for i, r in results.items() if r.latency_deferred} | (owed - read)
        return collected

    def _merge_replicas(self, collected: Collected) -> Collected:
        """A service's figures are the sum of its replicas' (core.usage.metrics.merge_replicas), each replica
        scraped under a key of its own; one replica with no data yet leaves the whole service pending."""
        if not self._replica_of:
            return collected
        results: dict[int, ScrapeResult] = {}
        parts: dict[int, list[ScrapeResult]] = {}
        for key, result in collected.results.items():
            endpoint_id = self._replica_of.get(key)
            if endpoint_id is None:
                results[key] = result
            else:
                parts.setdefault(endpoint_id, []).append(result)
        pending = {self._replica_of.get(key, key) for key in collected.pending}
        for endpoint_id, found in parts.items():
            if endpoint_id not in pending:
                results[endpoint_id] = merge_replicas(endpoint_id, found)
        return Collected(results=results, pending=pending, stragglers=collected.stragglers)

    def _scrape_targets(self) -> list[ScrapeTarget]:
        with self.database.session() as session:
            rows = session.execute(
                select(
                    Endpoint.id,
                    Endpoint.url,
                    Endpoint.engine,
                    EndpointUsage.raw_requests,
                    cast(Endpoint.options, Text),  # the JSON's text: parsed only when it changed
                )
                .outerjoin(EndpointUsage, EndpointUsage.endpoint_id == Endpoint.id)
                .where(Endpoint.state == S.READY, Endpoint.url.is_not(None))
            ).all()
        facts = {text: self._scrape_facts.get(text) or _scrape_facts(text) for *_, text in rows}
        self._scrape_facts = facts  # only the current rows' texts are kept
        self._replicas = {i: facts[text][0] for i, *_, text in rows}
        targets = [
            ScrapeTarget(
                endpoint_id=i,
                url=url,
                engine=engine,
                known_requests=known,
                latency_owed=i in self._latency_owed,
                ca_pem=facts[text][1],  # an https engine is verified with its CA
            )
            for i, url, engine, known, text in rows
            if not self._replicas[i]
        ]
        # A service's figures are its replicas' sum (core.usage.metrics.merge_replicas): each replica's
        # engine is read directly, never through the load balancer (which would pick one at random).
        # SkyServe proxies replicas over plain HTTP, so replicas are scraped without TLS.
        self._replica_of = {}
        for i, _, engine, _, _ in rows:
            for n, replica in enumerate(self._replicas[i]):
                key = _replica_key(i, n)
                self._replica_of[key] = i
                targets.append(
                    ScrapeTarget(
                        endpoint_id=key, url=replica, engine=engine, latency_owed=i in self._latency_owed
                    )
                )
        # Owed histograms first: the parsing budget goes to them before newer news.
        return sorted(targets, key=lambda t: not t.latency_owed)

    def _record(
        self, *, now: datetime, results: dict[int, ScrapeResult], pending: set[int], report: TickReport
    ) -> list[_Seen]:
        """Step 2: one transaction over every endpoint that is live or not yet settled. Rows are read and
        written with Core as plain column dicts (no ORM objects: thousands of them cost seconds a tick)."""
        seen: list[_Seen] = []
        with self.database.session() as session:
            live = _plain(session, select(*_ENDPOINT_COLUMNS).where(Endpoint.state.in_(S.live())))
            unsettled = _plain(session, _unsettled())
            endpoints = live + unsettled
            ids = [e.id for e in endpoints]
            usages = {
                u.endpoint_id: u
                for u in _plain(session, select(*_USAGE_COLUMNS).where(EndpointUsage.endpoint_id.in_(ids)))
            }
            loaded = {id(row): dict(vars(row)) for row in (*endpoints, *usages.values())}
            history = self._history(session, endpoints)
            report.endpoints = len(live)
            created = []
            for endpoint in endpoints:
                usage = usages.get(endpoint.id)
                if usage is None:
                    usage = SimpleNamespace(**_columns_of(new_usage(endpoint.id)))
                    created.append(usage)
                # The counters and the cost take any object with the rows' attributes.
                error = self._fold(endpoint, usage, results.get(endpoint.id), pending, now=now, report=report)  # type: ignore[arg-type]
                accrue_cost(endpoint, usage, history[endpoint.id], now=now)  # type: ignore[arg-type]
                if endpoint.state.is_terminal and endpoint.stopped_at is not None:
                    usage.cost_accrued_until = endpoint.stopped_at  # settled, even if it never billed
                seen.append(
                    _Seen(
                        view=store.to_thin_view(endpoint),  # type: ignore[arg-type]  # full views where due
                        scrape_failures=usage.consecutive_scrape_failures or 0,
                        scrape_error=error,
                    )
                )
            # A few executemany statements instead of one per changed row.
            update_changed(session, Endpoint.__table__, ((loaded[id(e)], vars(e)) for e in endpoints))
            update_changed(
                session, EndpointUsage.__table__, ((loaded[id(u)], vars(u)) for u in usages.values())
            )
            if created:
                session.execute(insert(EndpointUsage.__table__), [vars(u) for u in created])
        return seen

    def _history(self, session: Session, endpoints: list[SimpleNamespace]) -> dict[int, list[Transition]]:
        """The endpoints' transitions, read from the audit log only for those whose `version` moved."""
        cached = self._transitions
        stale = [e.id for e in endpoints if cached.get(e.id, (None,))[0] != e.version]
        loaded = load_transitions(session=session, endpoint_ids=stale)
        fresh = {e.id: (e.version, loaded[e.id]) if e.id in loaded else cached[e.id] for e in endpoints}
        self._transitions = fresh  # endpoints settled and gone are forgotten
        return {i: transitions for i, (_, transitions) in fresh.items()}

    @staticmethod
    def _fold(
        endpoint: Endpoint,
        usage: EndpointUsage,
        result: ScrapeResult | None,
        pending: set[int],
        *,
        now: datetime,
        report: TickReport,
    ) -> str | None:
        """One READY endpoint's scrape into its usage row and activity; the scrape's error, if any."""
        if endpoint.state != S.READY:
            return None
        error = None
        if result is None:
            if endpoint.id not in pending:
                return None
            # No data this tick (the scrape is not back yet): never idle, and not a failure either.
            report.scrape_pending += 1
            active = True
        elif result.snapshot is not None:
            active = record_scrape(usage, result.snapshot, now=now).active
            report.scraped += 1
        else:
            active = record_scrape_failure(usage, now=now).active
            error = result.error
            report.scrape_failures += 1
            # Said once per streak; a dead engine would otherwise log every minute.
            level = logging.INFO if usage.consecutive_scrape_failures == 1 else logging.DEBUG
            log.log(level, "metrics of %s unreadable: %s", endpoint.name, result.error)
        if active:
            report.active += result is not None
            last = as_utc(endpoint.last_activity_at)
            endpoint.last_activity_at = now if last is None else max(last, now)
        return error

    # --- acting -------------------------------------------------------------------------------------

    def _due(
        self, live: list[_Seen], *, now: datetime, sent: dict[int, dict[tuple[str, str], datetime]]
    ) -> list[_Seen]:
        """The endpoints something is due for. Whether `policy.decide` calls for anything depends only on
        the row's scalar columns (the thin view); only its wording needs the full view."""
        due = []
        for item in live:
            if item.scrape_error is not None and item.scrape_failures == SCRAPE_FAILURE_NOTICE_AFTER:
                due.append(item)
                continue
            try:
                decision = policy.decide(
                    view=item.view, now=now, settings=self.settings, sent=sent.get(item.view.id, {})
                )
            except Exception:  # the full view's pass below reports it
                decision = policy.Decision(teardown=policy.Teardown(kind="?", key="?", reason="?"))
            if decision.teardown is not None or decision.notices:
                due.append(item)
        return due

    def _with_full_views(self, due: list[_Seen]) -> list[_Seen]:
        """`due` with the full views (options, lifecycle, TLS, usage: the reminders' wording), read in one
        query after the tick's writes; an endpoint gone since is left out."""
        if not due:
            return []
        ids = [item.view.id for item in due]
        with self.database.session() as session:
            rows = session.execute(
                select(Endpoint, EndpointUsage)
                .outerjoin(EndpointUsage, EndpointUsage.endpoint_id == Endpoint.id)
                .where(Endpoint.id.in_(ids))
            ).all()
            views = {endpoint.id: store.to_view(endpoint, usage) for endpoint, usage in rows}
        return [replace(item, view=views[item.view.id]) for item in due if item.view.id in views]

    def _act(
        self, item: _Seen, *, now: datetime, sent: policy.SentReminders, report: TickReport
    ) -> list[tuple[EndpointView, policy.Notice]]:
        """Start the teardown the policy calls for, or answer the reminders it calls for (sent by `_send_all`)."""
        view = item.view
        decision = policy.decide(view=view, now=now, settings=self.settings, sent=sent)
        if decision.teardown is not None:
            self._tear_down(view, decision.teardown, now=now, report=report)
            return []
        notices = [(view, notice) for notice in decision.notices]
        if item.scrape_error is not None and item.scrape_failures == SCRAPE_FAILURE_NOTICE_AFTER:
            notice = policy.Notice(
                kind=SCRAPE_FAILING,
                key=now.isoformat(timespec="seconds"),
                text=messaging.metrics_unreadable(
                    view, failures=item.scrape_failures, error=item.scrape_error, now=now
                ),
                actions=(messaging.stop_action(view),),
            )
            notices.append((view, notice))
        return notices

    def _send_all(
        self, notices: list[tuple[EndpointView, policy.Notice]], *, now: datetime, report: TickReport
    ) -> None:
        """Claim every reminder, with its audit line, in ONE transaction, then hand the messages to the
        notifier in one batch (the outbox stores them in one more): Slack is never called on the tick."""
        if not notices:
            return
        try:
            with self.database.session() as session:
                won = reminders.claim_many(
                    session=session, claims=[(v.id, n.kind, n.key) for v, n in notices], now=now
                )
                marks = [
                    (v.id, kind, key)
                    for v, n in notices
                    if (v.id, n.kind, n.key) in won
                    for kind, key in n.also_marks
                ]
                reminders.claim_many(session=session, claims=marks, now=now)
                store.record_events(
                    session=session,
                    events=[
                        (v.id, ACTOR, n.kind, f"{n.kind} reminder sent")
                        for v, n in notices
                        if (v.id, n.kind, n.key) in won
                    ],
                    now=now,
                )
        except Exception as exc:  # nothing claimed: the next tick decides again
            log.exception("watchdog could not record %d reminders", len(notices))
            report.errors.append(f"reminders: {type(exc).__name__}: {exc}")
            return
        with batched(self.notifier):
            for view, notice in notices:
                if (view.id, notice.kind, notice.key) not in won:
                    continue  # sent before (this process or another)
                won.discard((view.id, notice.kind, notice.key))
                report.notices.append((view.name, notice.kind, notice.key))
                deliver(self.notifier.direct_message, view.owner_id, notice.text, actions=notice.actions)
                if notice.thread:
                    deliver(self.notifier.thread_post, view, notice.text)
                if notice.kind in (policy.COST, policy.COST_CAP):
                    deliver(
                        self.notifier.endpoint_changed, view
                    )  # the card's cost figure is worth refreshing now

    def _tear_down(
        self, view: EndpointView, teardown: policy.Teardown, *, now: datetime, report: TickReport
    ) -> None:
        key = teardown.claim_key
        if not self._claim(view, policy.TEARDOWN, key, now=now, audit=f"teardown decided: {teardown.reason}"):
            return  # decided before (this process or another); the state machine has it in hand
        try:
            # down() formats its reason with str.format: keep braces in names literal.
            reason = teardown.reason.replace("{", "{{").replace("}", "}}")
            self.service.down(name=view.name, actor=ACTOR, reason=reason)
        except Exception as exc:
            # Not started: forget the claim so the next tick decides again.
            reminders.release(database=self.database, endpoint_id=view.id, kind=policy.TEARDOWN, key=key)
            log.error("watchdog could not stop %s (%s): %s", view.name, teardown.kind, exc)
            report.errors.append(f"{view.name}: down failed: {exc}")
            return
        log.info("watchdog stopped %s: %s", view.name, teardown.reason)
        report.teardowns.append((view.name, teardown.kind))

    def _relaunch_lost(self, *, now: datetime, report: TickReport) -> None:
        """Reconcile marks a vanished cluster LOST (and tells the owner); relaunch those that asked for it."""
        with self.database.session() as session:
            rows = session.scalars(
                select(Endpoint).where(Endpoint.state == S.LOST, Endpoint.stopped_at >= now - LOST_LOOKBACK)
            ).all()
            lost = [view for view in map(store.to_view, rows) if view.wants_relaunch]
        for view in lost:
            key = (as_utc(view.stopped_at) or now).isoformat(timespec="seconds")
            if not self._claim(view, policy.LOST, key, now=now, audit="cluster lost; relaunch considered"):
                continue
            refused = self._relaunch_refusal(view, now=now)
            if refused is None:
                try:
                    self.service.relaunch(name=view.name, actor=ACTOR)
                    report.relaunched.append(view.name)
                except UserFacingError as exc:
                    refused = str(exc)
                except Exception as exc:
                    log.exception("relaunch of %s failed", view.name)
                    refused = f"the relaunch could not be started ({type(exc).__name__})."
            text = messaging.cluster_lost(view, relaunching=refused is None, relaunch_refused=refused)
            deliver(self.notifier.thread_post, view, text)
            deliver(self.notifier.direct_message, view.owner_id, text, actions=())

    def _relaunch_refusal(self, view: EndpointView, *, now: datetime) -> str | None:
        """Why a LOST endpoint must not be relaunched, or None."""
        if not callable(getattr(self.service, "relaunch", None)):
            return "this bot's service cannot relaunch endpoints yet."
        if now >= view.expires_at:
            return "its lifetime is over."
        if view.max_cost is not None and view.cost_so_far >= view.max_cost:
            return f"it has reached its cost cap ({format_money(view.max_cost)})."
        done = reminders.count(database=self.database, endpoint_id=view.id, kind=policy.LOST)
        if done > MAX_RELAUNCHES:
            return f"it was already relaunched {MAX_RELAUNCHES} times; spot capacity keeps vanishing. Try `spot=no`."
        return None

    # --- plumbing -----------------------------------------------------------------------------------

    def _claim(self, view: EndpointView, kind: str, key: str, *, now: datetime, audit: str) -> bool:
        if not reminders.claim(database=self.database, endpoint_id=view.id, kind=kind, key=key, now=now):
            return False
        try:
            with self.database.session() as session:
                store.record_event_for(
                    session=session, endpoint_id=view.id, actor=ACTOR, kind=kind, message=audit, now=now
                )
        except Exception:
            log.warning("could not audit %s %s of %s", kind, key, view.name, exc_info=True)
        return True


# A tick reads every live row: only the columns its decisions and its writes need (no JSON but `latency`,
# which it only writes). The full rows are read for the few endpoints something is due for.
_ENDPOINT_COLUMNS = tuple(getattr(Endpoint, name) for name in store.THIN_COLUMNS)
_USAGE_COLUMNS = tuple(c for c in EndpointUsage.__table__.columns if c.key != "latency")


def _plain(session: Session, statement: Select[Any]) -> list[SimpleNamespace]:
    """The statement's rows as plain mutable objects, one attribute per column."""
    return [SimpleNamespace(**row._asdict()) for row in session.execute(statement)]


def _columns_of(usage: EndpointUsage) -> dict[str, Any]:
    return {c.key: getattr(usage, c.key) for c in EndpointUsage.__table__.columns}


def _unsettled() -> Select[Any]:
    """Terminal endpoints whose cost has not been brought up to their `stopped_at`."""
    return (
        select(*_ENDPOINT_COLUMNS)
        .outerjoin(EndpointUsage, EndpointUsage.endpoint_id == Endpoint.id)
        .where(
            Endpoint.state.in_(S.terminal()),
            Endpoint.stopped_at.is_not(None),
            or_(
                EndpointUsage.endpoint_id.is_(None),
                EndpointUsage.cost_accrued_until.is_(None),
                # != rather than <: a tick that raced the teardown may have run past stopped_at
                EndpointUsage.cost_accrued_until != Endpoint.stopped_at,
            ),
        )
    )


def _scrape_facts(options_text: str | None) -> tuple[tuple[str, ...], str | None]:
    """What a row's `options` JSON text says about scraping it: its replicas' URLs (a service) and the
    private CA its engine is verified with (None: plain HTTP or the system's CAs)."""
    data = json.loads(options_text) if options_text else None
    data = data if isinstance(data, dict) else None
    return options_from_json(data)[1].replica_urls, tls_from_json(data).ca_cert_pem


def _replica_key(endpoint_id: int, replica: int) -> int:
    """The scrape key of a service's `replica`-th replica: negative, so it never meets an endpoint id, and
    distinct for every (endpoint, replica) pair (the scraper keeps one scrape in flight per key)."""
    return -(endpoint_id * 4096 + replica + 1)
