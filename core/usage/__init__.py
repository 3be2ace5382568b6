"""Usage and cost, shared by the endpoint flows and the watchdog (neither owns them).

- `models`: the `EndpointUsage` table.
- `metrics`: scrape and parse an engine's `/metrics` (vLLM and SGLang names), latency percentiles.
- `counters`: fold scrapes into `EndpointUsage`; `usage_view` reads it back.
- `cost`: price x billed time from the audit log (`accrue_cost`, `settle_cost`, `team_spend_today`).
- `baseline`: the counters taken by the launch flow right after readiness.

Deliberately empty: import the module you need (importing a submodule runs this file first).
"""
