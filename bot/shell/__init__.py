"""The shell adapter: the bot at a text prompt, through the same service path as Slack.

What plain `endpoint-bot` runs when no Slack token is set, and `endpoint-bot shell` (started by
`bot.cli.shell`, which builds the runtime and ends the process). Modelled on errbot's text backend and
Hubot's shell adapter: a terminal backend that is a real adapter, not a toy.

- Input (`terminal`): standard input, line by line (readline with history when interactive, so
  `printf ... | endpoint-bot shell` works too). Lines are the `/endpoint ...` commands Slack takes (the
  `/endpoint` is optional), parsed by `bot.commands`; plus `help`, a choice's number (`1` or `/1`),
  `wait [NAME]`, `quit`/`exit`/EOF. Lines starting with `#` are comments (handy in piped scripts).
- Output (`notifier`, `console`): `ShellNotifier` implements the `core.notifier.Notifier` port. Cards, thread
  replies and DMs print as labelled lines (`[card #qwen-7b]`, `[thread #qwen-7b]`, `[DM to U_SHELL]`)
  rendered by `bot.text`, whole lines under one lock, because launch flows post from worker threads while
  the prompt waits.
- Buttons are numbered choices (`choices`), stable for the session: `(action, endpoint)` keeps its number,
  so a card re-printed by a worker thread never renumbers what you are about to type. Pressing one runs
  the same service call as the Slack button, under the same owner/admin rule; Stop asks y/N first.
- The conversation (`session`): who you are is `settings.shell_user` (ENDPOINT_BOT_SHELL_USER); admins:
  `settings.admin_user_ids`. A `UserFacingError` prints its sentence, `DoesNotFit` its reasons and
  suggestions with $/hour, anything else a one-line apology; tracebacks go to the log (standard error
  or `--log-file`), never stdout.
- Leaving (`leaving`): a teardown in flight is always waited for (it is what stops the bill). Launches in
  flight are waited for with `--wait` / ENDPOINT_BOT_SHELL_WAIT; otherwise the process leaves them, as a
  crash would: the next start's reconcile tears down a launch whose API key died with this process, and
  until then the cluster's own deadline caps the bill.

Not here: parsing (`bot.commands`), the service call behind each command and button (`bot.outcomes`, shared
with Slack), wording of cards and plans (`bot.text`), any decision (core), building the runtime and
ending the process (`bot.cli.shell`).
"""
