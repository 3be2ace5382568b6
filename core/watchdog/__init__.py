"""The watchdog: reads every engine's metrics, keeps usage and cost, warns owners, tears endpoints down.

- `policy`: pure rules (idle, lifetime, cost) deciding reminders and teardowns.
- `reminders`: the `Reminder` table, whose rows make every reminder and teardown happen once.
- `messaging`: what the watchdog says to people.
- `runner`: `Watchdog(settings, database, service, notifier, clock)` with `tick()`, `start()`, `stop()`.

Scraping, usage counters and cost live in `core.usage`, which the endpoint flows use too; nothing in
`core.endpoints` imports this package.
"""
