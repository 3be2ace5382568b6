"""`Shell`: reads lines, runs them against the service as the shell's user, prints the replies."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import outcomes as oc
from bot import text as tx
from bot.commands import COMMAND, Command, help_text, parse_command
from bot.shell.console import Console
from bot.shell.notifier import ShellNotifier
from core.clock import Clock
from core.endpoints import messaging
from core.endpoints.service import DoesNotFit, EndpointService
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.errors import PermissionDenied, UserFacingError
from core.notifier import Action

log = logging.getLogger(__name__)

S = EndpointState
SORRY = "Something went wrong on my side and nothing was changed (details are in the log). Please try again."
QUIT_WORDS = frozenset({"quit", "exit", r"\q"})
SHELL_HELP = (
    "In the shell: type a choice's number (`1` or `/1`) to press that button · `wait [NAME]` waits for "
    "launches and teardowns in flight (or NAME's) · `quit`, `exit` or Ctrl-D leaves · lines starting "
    "with `#` are comments."
)
_CHOICE = re.compile(r"/?(\d+)")
_WAIT_POLL = 0.1  # seconds between looks at the store while waiting (a person is watching, not a test)


@dataclass
class Shell:
    """Reads lines, runs them against the service as `user_id`, prints the replies."""

    service: EndpointService
    notifier: ShellNotifier
    user_id: str
    channel_id: str
    reader: Callable[[str], str | None]  # prompt -> line (None at end of input)
    clock: Clock

    @property
    def console(self) -> Console:
        return self.notifier.console

    def say(self, text: str) -> None:
        self.console.lines([tx.plain(line) for line in text.splitlines() or [""]])

    def run(self) -> None:
        """Read and handle lines until `quit` or the end of input."""
        while True:
            try:
                line = self.console.read(self.reader)
            except KeyboardInterrupt:  # Ctrl-C at the prompt leaves, like `quit`
                self.console.line("")
                return
            if line is None or not self.handle(line):
                return

    def handle(self, line: str) -> bool:
        """Handle one line; False when it asks to leave. Never raises for a bad or failing command."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        words = line.split()
        if words[0] == COMMAND:
            words = words[1:]
        if words and words[0].lower() in QUIT_WORDS and len(words) == 1:
            return False
        try:
            if len(words) == 1 and (choice := _CHOICE.fullmatch(words[0])):
                self.press(int(choice.group(1)))
            elif words and words[0].lower() == "wait":
                self.wait(words[1:])
            else:
                self.dispatch(parse_command(" ".join(words)))
        except DoesNotFit as exc:
            self.console.lines(tx.does_not_fit_lines(exc.plan))
        except PermissionDenied as exc:
            self.say(f"Refused: {exc}")
        except UserFacingError as exc:
            self.say(str(exc))
        except KeyboardInterrupt:  # Ctrl-C during a slow command: back to the prompt
            self.say("Interrupted. `list` shows where things stand.")
        except Exception:
            log.exception("shell line failed: %s", line[:200])
            self.say(SORRY)
        return True

    # --- commands and buttons (the same service calls as Slack's, through bot.outcomes) ---------------

    def dispatch(self, parsed: Command) -> None:
        self.show(
            oc.run_command(parsed, service=self.service, user_id=self.user_id, channel_id=self.channel_id)
        )

    def show(self, outcome: oc.Outcome) -> None:
        """Print what a command did."""
        now = self.clock.now()
        if isinstance(outcome, oc.Helped):
            self.say(help_text(outcome.topic) + ("" if outcome.topic else "\n" + SHELL_HELP))
        elif isinstance(outcome, oc.Fitted):
            self.console.lines(tx.fit_lines(outcome.plans))
        elif isinstance(outcome, oc.Listed):
            self.console.lines(
                tx.list_lines(outcome.views, now=now, include_terminal=outcome.include_terminal)
            )
        elif isinstance(outcome, oc.Logged):
            self.console.lines([tx.plain(line) for line in tx.log_lines(outcome.name, outcome.events)])
        elif isinstance(outcome, oc.StatsShown):
            self.console.lines([tx.plain(line) for line in tx.stats_lines(outcome.history, contains=outcome.contains)])
        elif isinstance(outcome, oc.PolicyShown):
            self.console.lines(
                [tx.plain(line) for text in outcome.report.lines for line in text.splitlines()]
            )
        elif isinstance(outcome, oc.Shown):
            self.console.lines([tx.plain(line) for line in tx.status_lines(outcome.view, now=now)])
            actions = tx.card_actions(outcome.view)
            if actions:
                self.console.line(tx.choices_line(self.notifier.choices.offer(actions)))
        else:
            self.say(self.reply(outcome))

    def reply(self, outcome: oc.Outcome) -> str:
        """The one-sentence answer to a launch, a stop, an extension or a keep-alive."""
        if isinstance(outcome, oc.Launched):
            return tx.launching_reply(outcome.view)
        if isinstance(outcome, oc.Stopping):
            return tx.stopping_reply(outcome.view)
        if isinstance(outcome, oc.AlreadyOver):
            return tx.already_reply(outcome.view)
        if isinstance(outcome, oc.AlreadyStopping):
            return messaging.already_stopping(outcome.view)
        if isinstance(outcome, oc.KeptAlive):
            return tx.kept_alive_reply(outcome.view)
        if isinstance(outcome, oc.Extended):
            return tx.extended_reply(outcome.view, now=self.clock.now())
        raise TypeError(f"no sentence for {outcome!r}")

    def press(self, number: int) -> None:
        action = self.notifier.choices.get(number)
        if action is None:
            self.say(
                f"There is no choice [{number}]. Choices are the `[N]` numbers printed under cards and DMs; "
                "`status NAME` prints an endpoint's again."
            )
            return
        if action.kind == "stop" and not self.confirm(tx.confirm_stop_question(action.endpoint_name)):
            self.say(f"Kept `{action.endpoint_name}` running.")
            return
        self.say(self.apply(action))

    def confirm(self, question: str) -> bool:
        if not self.console.interactive:
            self.say(question)
        answer = self.console.read(self.reader, tx.plain(question) + " ")
        return (answer or "").strip().lower() in ("y", "yes")

    def apply(self, action: Action) -> str:
        """Apply a button to the endpoint's current state, as the Slack button does."""
        return self.reply(
            oc.press(action.kind, service=self.service, name=action.endpoint_name, user_id=self.user_id)
        )

    # --- waiting --------------------------------------------------------------------------------------

    def wait(self, args: list[str]) -> None:
        """`wait`: until this process has no launch or teardown in flight; `wait NAME`: until NAME's ends."""
        if len(args) > 1:
            self.say("`wait` takes nothing or one endpoint NAME, e.g. `wait qwen-7b`.")
            return
        try:
            if args:
                view = self.service.status(name=args[0].lower())  # NotFound for a typo
                self.wait_until(lambda: not self.service.flows.is_active(view.id))
                view = self.service.status(name=view.name)
                busy = view.state in S.launching() or view.state == S.STOPPING
                elsewhere = " (another bot process is following it)" if busy else ""
                self.say(f"`{view.name}` is {tx.STATE_WORDS[view.state]}{elsewhere}.")
                return
            self.wait_until(lambda: not self.flows_in_flight())
            self.say("Nothing in flight.")
        except KeyboardInterrupt:
            self.say("Stopped waiting; the work goes on.")

    def flows_in_flight(self, kind: str | None = None) -> list[EndpointView]:
        """Live endpoints this process is launching or tearing down right now (`kind`: launch/teardown)."""
        flows = self.service.flows
        return [v for v in self.service.list() if flows.is_active(v.id, kind)]

    def wait_until(self, done: Callable[[], bool]) -> None:
        while not done():
            time.sleep(_WAIT_POLL)
