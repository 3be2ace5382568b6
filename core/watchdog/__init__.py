"""The watchdog: reads every engine's metrics, keeps usage and cost, warns owners, tears endpoints down.

- `metrics`: scrape and parse `/metrics` (vLLM and SGLang names), latency percentiles from histograms.
- `usage`: fold scrapes into `EndpointUsage`, cost from the audit log, `usage_view`, `team_spend_today`.
- `policy`: pure rules (idle, lifetime, cost) deciding reminders and teardowns.
- `reminders`: the `Reminder` rows that make every reminder and teardown happen once.
- `messaging`: what the watchdog says to people.
- `runner`: `Watchdog(settings, database, service, notifier, clock)` with `tick()`, `start()`, `stop()`.

Other packages use `usage_view`, `team_spend_today` and `settle_cost`, re-exported here.
"""

from __future__ import annotations

from core.watchdog.usage import settle_cost, team_spend_today, usage_view

__all__ = ["settle_cost", "team_spend_today", "usage_view"]
