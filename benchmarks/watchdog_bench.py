"""Watchdog speed: ticks over 1,000 (or `--endpoints N`) live endpoints served by fake engines on loopback.

Run: `.venv/bin/python -m benchmarks.watchdog_bench [--endpoints N] [--engine vllm|sglang] [--db URL]`.

The fake engines (tests/fakes/fake_engine.FakeEngineFarm, one event loop) run in a CHILD process, so
their memory and CPU do not count as the bot's. The bot side is real: a migrated SQLite store (or the
`--db` URL) holding N READY endpoints with their audit logs, the real EndpointService (on the in-memory
FakeCloud, which is never asked for anything here) and a Watchdog whose notifier is the real outbox
(core.outbox) in front of the real Slack notifier and WebClient, talking to the fake Slack Web API
(tests/fakes/fake_slack.py) on loopback, its sender thread running as in the bot. Then:
- tick 1: first sight of every engine, each with traffic already served (usage rows created, counters
  taken as baselines, every latency histogram parsed: the most expensive tick);
- tick 2, a minute later: every engine served traffic again (the steady-state worst case);
- tick 3: half the engines served traffic, so half are active;
- tick 4: a tenth of the engines are dead (connection refused: scrapes fail fast);
- tick 5: another tenth hang (accept the connection, never answer): first sight of them;
- tick 6: the same engines still hang (the tick no longer waits for them);
- tick 7: every endpoint is 10 minutes from the end of its lifetime: an expiry DM to each owner
  (N DMs, through the outbox to the fake Slack; the tick only stores them).
Between ticks the benchmark lets the scrapes still in flight come back (at most DRAIN_LIMIT_S; hung
engines' are not waited for), as the watchdog's minute between ticks does: back to back (`--no-drain`),
each tick would also pay for the previous tick's late scrapes, which share the bot's one interpreter.
Each tick's line gives its wall-clock time, where it went (scrape/record/act) and the bot process's CPU
seconds over it (every thread: the scraper's, the tick's, the outbox's); the engines' CPU is not counted.
`--profile FILE` writes a cProfile of the ticks (the tick's thread only) to FILE.
Latency histograms are parsed for at most 250 endpoints a tick (runner.LATENCY_READS_PER_TICK); the rest
are owed and read first on the following ticks.
It prints each tick's duration, where it went, and the bot process's peak RSS (resource.getrusage), then
how long the outbox took to deliver the DMs. Targets: every tick under 5 s on 2 cores, peak RSS under
300 MB. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TICK_TARGET_S = 5.0
RSS_TARGET_MB = 300.0
DRAIN_LIMIT_S = 30.0


# --- the engines' process -------------------------------------------------------------------------


def _serve_engines(conn: Any, count: int, engine: str) -> None:
    """Child process: start `count` fake engines, send their URLs, then obey commands until told to stop."""
    sys.path.insert(0, str(ROOT))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count * 4 + 256)), hard))
    from tests.fakes.fake_engine import FakeEngineFarm

    with FakeEngineFarm(count, engine=engine, model="bench/model") as farm:
        conn.send([e.url for e in farm.engines])
        while True:
            command, arg = conn.recv()
            if command == "traffic":  # arg: indexes of engines that served a request
                for i in arg:
                    farm.engines[i].add_traffic(requests=1, prompt_tokens=100, generation_tokens=50)
            elif command == "die":
                for i in arg:
                    farm.engines[i].die()
            elif command == "hang":
                for i in arg:
                    farm.engines[i].hang()
            elif command == "stop":
                conn.send("stopped")
                return
            conn.send("ok")


# --- the bot's process ----------------------------------------------------------------------------


def _seed(database: Any, urls: list[str], engine: str, clock: Any) -> None:
    """N endpoints walked to READY through the store, as the launch flow leaves them."""
    from core.endpoints import store
    from core.endpoints.states import EndpointState as S
    from tests.db_fixtures import create_test_endpoint

    now = clock.now()
    with database.session() as session:
        for i, url in enumerate(urls):
            endpoint = create_test_endpoint(
                session,
                now=now,
                model="bench/model",
                engine=engine,
                owner_id=f"U{i % 50}",
                price_per_hour=0.8,
                name=f"bench-{i}",
            )
            for state in (S.PROVISIONING, S.STARTING, S.READY):
                store.transition(
                    session=session, endpoint=endpoint, to=state, actor="bench", message="", now=now
                )
            endpoint.url = url
            endpoint.last_activity_at = now


def _outbox(settings: Any, database: Any, clock: Any, slack: Any) -> Any:
    """The bot's notifier stack: outbox -> SlackNotifier -> WebClient -> the fake Slack."""
    from bot.slack.app import make_web_client
    from bot.slack.notifier import SlackNotifier
    from core.outbox import Outbox

    client = make_web_client(settings)
    sender = Outbox(
        notifier=SlackNotifier(client, clock=clock),
        database=database,
        clock=clock,
        key_deadline=settings.key_delivery_deadline,
        lease=settings.claim_ttl,
        poll=0.05,
    )
    sender.start()
    return sender


def _ticks(count: int) -> list[tuple[str, tuple[str, list[int]] | None]]:
    everyone = list(range(count))
    return [
        # Every engine has served traffic before the bot looks: the full parse everywhere (worst case).
        (f"tick 1 (first sight of {count:,} busy engines)", ("traffic", everyone)),
        ("tick 2 (every engine served traffic again)", ("traffic", everyone)),
        ("tick 3 (half the engines served traffic)", ("traffic", everyone[::2])),
        ("tick 4 (a tenth of the engines dead)", ("die", everyone[::10])),
        ("tick 5 (another tenth hang: first sight)", ("hang", everyone[5::10])),
        ("tick 6 (that tenth still hangs)", ("traffic", everyone[1::10])),
        (f"tick 7 ({count:,} endpoints 10 min from expiry: a DM each)", ("traffic", everyone)),
    ]


def _drain(watchdog: Any) -> float:
    """Wait until the scrapes the last tick left in flight are back (hung engines' excepted); seconds."""
    began = time.perf_counter()
    while watchdog.scraper is not None and watchdog.scraper.in_flight():
        if time.perf_counter() - began > DRAIN_LIMIT_S:
            break
        time.sleep(0.05)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--engine", choices=("vllm", "sglang"), default="vllm")
    parser.add_argument("--db", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--no-drain", action="store_true", help="ticks back to back (see above)")
    parser.add_argument("--profile", help="write a cProfile of the ticks to this file")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    ctx = mp.get_context("spawn")  # a clean child: nothing of the bot's imports in the engines' process
    parent_conn, child_conn = ctx.Pipe()
    child = ctx.Process(target=_serve_engines, args=(child_conn, args.endpoints, args.engine), daemon=True)
    child.start()
    urls = parent_conn.recv()

    from core.clock import ManualClock
    from core.db import Database
    from core.endpoints.service import EndpointService
    from core.settings import load_settings
    from core.watchdog.runner import Watchdog
    from core.workers import WorkerPool
    from tests.fakes.fake_cloud import FakeCloud
    from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack

    tmp = Path(tempfile.mkdtemp(prefix="watchdog-bench-"))
    database = Database(args.db or f"sqlite:///{tmp / 'bench.db'}")
    database.upgrade()
    clock = ManualClock()
    slack = FakeSlack.start()
    # The defaults (64 concurrent scrapes, 5 s timeout), with the fake Slack as Slack.
    settings = load_settings(_env_file=None, slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url)
    notifier = _outbox(settings, database, clock, slack)
    workers = WorkerPool(size=2)
    cloud = FakeCloud(now=clock.now)
    service = EndpointService(
        settings=settings, database=database, launcher=cloud, notifier=notifier, workers=workers, clock=clock
    )
    seed_began = time.perf_counter()
    seeded_at = clock.now()
    _seed(database, urls, args.engine, clock)
    print(f"seeded {len(urls)} READY endpoints in {time.perf_counter() - seed_began:.2f} s")

    watchdog = Watchdog(settings, database, service, notifier, clock)
    profiler = cProfile.Profile() if args.profile else None
    failures = 0
    figures = []
    delivered = None
    try:
        for label, before in _ticks(len(urls)):
            if before is not None:
                parent_conn.send(before)
                parent_conn.recv()
            if label.startswith("tick 7"):
                clock.set(seeded_at + settings.default_ttl - timedelta(minutes=10))
            else:
                clock.advance(timedelta(minutes=1))
            drained = 0.0 if args.no_drain else _drain(watchdog)
            cpu = time.process_time()
            if profiler is not None:
                profiler.enable()
            report = watchdog.tick()
            if profiler is not None:
                profiler.disable()
            cpu = time.process_time() - cpu
            figures.append(report.seconds)
            phases = ", ".join(f"{name} {seconds:.2f}" for name, seconds in report.phases.items())
            print(
                f"{label}: {report.seconds:.2f} s ({phases}; bot CPU {cpu:.2f} s; "
                f"{drained:.1f} s of late scrapes drained before); {report.endpoints} endpoints, "
                f"{report.scraped} scraped, {report.scrape_failures} failed, {report.scrape_pending} not back "
                f"in time, {report.active} active, {len(report.notices)} notices, "
                f"{len(report.teardowns)} teardowns, {len(report.errors)} errors"
            )
            if report.errors:
                print("  errors:", report.errors[:3])
                failures += 1
        began = time.perf_counter()
        slack.wait_for(
            lambda s: len(s.calls_to("chat.postMessage")) >= len(urls), timeout=300, what="every expiry DM"
        )
        delivered = time.perf_counter() - began
    finally:
        parent_conn.send(("stop", None))
        parent_conn.recv()
        child.join(10)
        watchdog.stop()
        notifier.stop()
        workers.shutdown(wait=True)
        database.dispose()
        slack.stop()

    if profiler is not None:
        profiler.dump_stats(args.profile)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    worst = max(figures)
    print(f"outbox: every expiry DM at the fake Slack {delivered:.1f} s after the tick ended (off the tick)")
    print(f"slowest tick: {worst:.2f} s (target < {TICK_TARGET_S:.0f} s)")
    print(
        f"bot peak RSS: {peak_mb:.0f} MB (target < {RSS_TARGET_MB:.0f} MB; the engines' process not counted)"
    )
    if worst >= TICK_TARGET_S or peak_mb >= RSS_TARGET_MB or failures:
        print("TARGET MISSED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
