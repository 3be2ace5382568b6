"""The shell adapter: the bot at a text prompt, through the same service path as Slack.

What plain `endpoint-bot` runs when no Slack token is set, and `endpoint-bot shell`. Modelled on errbot's
text backend and Hubot's shell adapter: a terminal backend that is a real adapter, not a toy.

- Input: standard input, line by line (readline with history when interactive, so `printf ... | endpoint-bot
  shell` works too). Lines are the `/endpoint ...` commands Slack takes (the `/endpoint` is optional),
  parsed by `bot.commands`; plus `help`, a choice's number (`1` or `/1`), `wait [NAME]`, `quit`/`exit`/EOF.
  Lines starting with `#` are comments (handy in piped scripts).
- Output: `ShellNotifier` implements the `core.notifier.Notifier` port. Cards, thread replies and DMs print
  as labelled lines (`[card #qwen-7b]`, `[thread #qwen-7b]`, `[DM to U_SHELL]`) rendered by `bot.text`,
  whole lines under one lock, because launch flows post from worker threads while the prompt waits.
- Buttons are numbered choices, stable for the session: `(action, endpoint)` keeps its number, so a card
  re-printed by a worker thread never renumbers what you are about to type. Pressing one runs the same
  service call as the Slack button, under the same owner/admin rule; Stop asks y/N first.
- Who you are: `settings.shell_user` (ENDPOINT_BOT_SHELL_USER); admins: `settings.admin_user_ids`.
- Errors: a `UserFacingError` prints its sentence, `DoesNotFit` its reasons and suggestions with $/hour,
  anything else a one-line apology; tracebacks go to the log (standard error or `--log-file`), never stdout.
- Leaving: a teardown in flight is always waited for (it is what stops the bill). Launches in flight are
  waited for with `--wait` / ENDPOINT_BOT_SHELL_WAIT; otherwise the process leaves them, as a crash would:
  the next start's reconcile tears down a launch whose API key died with this process, and until then the
  cluster's own deadline caps the bill.

Not here: parsing (`bot.commands`), the service call behind each command and button (`bot.outcomes`, shared
with Slack), wording of cards and plans (`bot.text`), any decision (core).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot import outcomes as oc
from bot import text as tx
from bot.commands import COMMAND, Command, help_text, parse_command
from core.clock import Clock, SystemClock
from core.endpoints import messaging
from core.endpoints.service import DoesNotFit, EndpointService
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.errors import PermissionDenied, UserFacingError
from core.notifier import Action, ActionKind, ChatRef

log = logging.getLogger(__name__)

S = EndpointState
PROMPT = "endpoint-bot> "
SORRY = "Something went wrong on my side and nothing was changed (details are in the log). Please try again."
QUIT_WORDS = frozenset({"quit", "exit", r"\q"})
SHELL_HELP = (
    "In the shell: type a choice's number (`1` or `/1`) to press that button · `wait [NAME]` waits for "
    "launches and teardowns in flight (or NAME's) · `quit`, `exit` or Ctrl-D leaves · lines starting "
    "with `#` are comments."
)
_CHOICE = re.compile(r"/?(\d+)")
_WAIT_POLL = 0.1  # seconds between looks at the store while waiting (a person is watching, not a test)


# --- output -------------------------------------------------------------------------------------------


class Console:
    """Whole lines to one stream under one lock. When interactive, a line printed by a worker thread while
    the prompt waits is written above the prompt, and the prompt and what was typed so far are redrawn."""

    def __init__(self, stream: TextIO, *, interactive: bool = False, prompt: str = PROMPT) -> None:
        self.stream = stream
        self.interactive = interactive
        self.prompt = prompt
        self._lock = threading.RLock()
        self._prompting = False

    def lines(self, lines: Sequence[str]) -> None:
        with self._lock:
            redraw = self.interactive and self._prompting
            out = ("\r\x1b[K" if redraw else "") + "".join(f"{line}\n" for line in lines)
            if redraw:
                out += self.prompt + _line_buffer()
            self.stream.write(out)
            self.stream.flush()

    def line(self, text: str) -> None:
        self.lines([text])

    def read(self, reader: Callable[[str], str | None], prompt: str | None = None) -> str | None:
        """Read one line through `reader` with `prompt`, marking the prompt as shown meanwhile."""
        prompt = self.prompt if prompt is None else prompt
        with self._lock:
            self._prompting = True
            self.prompt, saved = prompt, self.prompt
        try:
            return reader(prompt)
        finally:
            with self._lock:
                self._prompting = False
                self.prompt = saved


def _line_buffer() -> str:
    try:
        import readline

        return readline.get_line_buffer()
    except Exception:
        return ""


# --- buttons as numbers -------------------------------------------------------------------------------


class Choices:
    """Numbers for buttons, stable for the session: the same action on the same endpoint keeps its number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: dict[tuple[ActionKind, str], int] = {}
        self._actions: dict[int, Action] = {}

    def offer(self, actions: Sequence[Action]) -> list[tuple[int, Action]]:
        numbered = []
        with self._lock:
            for action in actions:
                key = (action.kind, action.endpoint_name)
                number = self._numbers.get(key)
                if number is None:
                    number = self._numbers[key] = len(self._numbers) + 1
                self._actions[number] = action  # the latest label wins ("Stop now" from a DM is still Stop)
                numbered.append((number, action))
        return numbered

    def get(self, number: int) -> Action | None:
        with self._lock:
            return self._actions.get(number)


# --- the notifier port --------------------------------------------------------------------------------


class ShellNotifier:
    """`core.notifier.Notifier` for a terminal: every card, thread reply and DM is printed, labelled."""

    def __init__(
        self,
        console: Console,
        *,
        choices: Choices | None = None,
        channel_id: str = "C_SHELL",
        clock: Clock | None = None,
    ) -> None:
        self.console = console
        self.choices = choices or Choices()
        self.channel_id = channel_id
        self.clock = clock or SystemClock()
        self._counter = 0
        self._lock = threading.Lock()

    def _print(self, label: str, lines: Sequence[str], actions: Sequence[Action] = ()) -> None:
        try:
            body = [tx.plain(line) for chunk in lines for line in chunk.splitlines() or [""]]
            if actions:
                body.append(tx.choices_line(self.choices.offer(actions)))
            self.console.lines([f"[{label}] {body[0]}", *(f"[{label}] {line}" for line in body[1:])])
        except Exception:  # a console that went away must never change an endpoint's state
            log.warning("could not print to the shell", exc_info=True)

    def card(self, view: EndpointView) -> None:
        """Print the endpoint's status card, with its Stop/Extend choices while it is live."""
        self._print(f"card #{view.name}", tx.card_lines(view, now=self.clock.now()), tx.card_actions(view))

    def announce(self, endpoint: EndpointView) -> ChatRef | None:
        self.card(endpoint)
        with self._lock:
            self._counter += 1
            return ChatRef(channel_id=self.channel_id, message_ts=str(self._counter))

    def endpoint_changed(self, endpoint: EndpointView) -> None:
        self.card(endpoint)

    def thread_post(self, endpoint: EndpointView, text: str) -> None:
        self._print(f"thread #{endpoint.name}", [text])

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> None:
        self._print(f"thread #{endpoint.name}", tx.ready_lines(endpoint, api_key=api_key))

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> None:
        self._print(f"DM to {user_id}", [text], actions)


# --- the prompt ---------------------------------------------------------------------------------------


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
                self._until(lambda: not self.service.flows.is_active(view.id))
                view = self.service.status(name=view.name)
                busy = view.state in S.launching() or view.state == S.STOPPING
                elsewhere = " (another bot process is following it)" if busy else ""
                self.say(f"`{view.name}` is {tx.STATE_WORDS[view.state]}{elsewhere}.")
                return
            self._until(lambda: not self.flows_in_flight())
            self.say("Nothing in flight.")
        except KeyboardInterrupt:
            self.say("Stopped waiting; the work goes on.")

    def flows_in_flight(self, kind: str | None = None) -> list[EndpointView]:
        """Live endpoints this process is launching or tearing down right now (`kind`: launch/teardown)."""
        flows = self.service.flows
        return [v for v in self.service.list() if flows.is_active(v.id, kind)]

    def _until(self, done: Callable[[], bool]) -> None:
        while not done():
            time.sleep(_WAIT_POLL)


# --- start and stop -----------------------------------------------------------------------------------


def _stdin_reader(interactive: bool, stream: TextIO) -> Callable[[str], str | None]:
    if interactive:

        def read_interactive(prompt: str) -> str | None:
            try:
                return input(prompt)
            except EOFError:
                print(file=sys.stdout)
                return None

        return read_interactive

    def read_piped(_prompt: str) -> str | None:
        line = stream.readline()
        return line if line else None

    return read_piped


def _history_file() -> Path:
    return Path.home() / ".cache" / "endpoint-bot" / "shell_history"


def _setup_readline() -> None:
    """History (like Hubot's shell) and completion of the first word; best effort."""
    try:
        import readline

        words = ["up", "fit", "list", "status", "down", "extend", "help", "wait", "quit", COMMAND]
        readline.set_completer(
            lambda prefix, i: ([w + " " for w in words if w.startswith(prefix)] + [None])[i]
        )
        readline.parse_and_bind("tab: complete")
        history = _history_file()
        if history.exists():
            readline.read_history_file(history)
        readline.set_history_length(1000)
    except Exception:
        log.debug("readline unavailable", exc_info=True)


def _save_history() -> None:
    try:
        import readline

        history = _history_file()
        history.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(history)
    except Exception:
        log.debug("could not save the shell history", exc_info=True)


def _configure_logging(settings: Any, log_file: str | None) -> None:
    # INFO lines from the flows would drown the conversation on a terminal: stderr gets warnings and up
    # unless a level was asked for; a log file gets the configured level.
    explicit = "log_level" in settings.model_fields_set
    level = settings.log_level.upper() if (explicit or log_file) else "WARNING"
    target: dict[str, Any] = {"filename": log_file} if log_file else {"stream": sys.stderr}
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True, **target
    )


def run_shell(
    *,
    wait: bool | None = None,
    log_file: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the shell until `quit` or the end of input; the exit code is 0, or 1 when the bot cannot start."""
    from core.settings import load_settings
    from core.wiring import build_runtime

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        settings = load_settings()
    except Exception as exc:  # pydantic's message names the variable and the bad value
        print(f"The settings are not valid: {exc}", file=sys.stderr)
        return 1
    _configure_logging(settings, log_file)
    wait = settings.shell_wait if wait is None else wait
    interactive = stdin.isatty() and stdout.isatty()
    console = Console(stdout, interactive=interactive)
    clock = SystemClock()
    notifier = ShellNotifier(console, channel_id=settings.shell_channel, clock=clock)
    try:
        runtime = build_runtime(settings, notifier=notifier, clock=clock)
        runtime.start()  # migrate, resume what a previous process left, reconcile periodically, watchdog
    except Exception as exc:
        log.exception("the shell could not start")
        print(
            f"The bot could not start ({type(exc).__name__}); the log says why. Check ENDPOINT_BOT_DB_PATH / "
            "ENDPOINT_BOT_DATABASE_URL and ENDPOINT_BOT_LAUNCHER.",
            file=sys.stderr,
        )
        return 1
    if interactive:
        _setup_readline()
        console.line(
            f"endpoint-bot shell: you are {settings.shell_user} in #{settings.shell_channel}. "
            "Type `help`, or `quit` to leave."
        )
    shell = Shell(
        service=runtime.service,
        notifier=notifier,
        user_id=settings.shell_user,
        channel_id=settings.shell_channel,
        reader=_stdin_reader(interactive, stdin),
        clock=clock,
    )
    abandon = False
    try:
        shell.run()
        abandon = not _leave(shell, wait=wait)
    except KeyboardInterrupt:
        console.line("Interrupted.")
        abandon = bool(shell.flows_in_flight())
        if abandon:
            _abandon_notice(shell, shell.flows_in_flight())
    finally:
        if interactive:
            _save_history()
        runtime.close(wait=not abandon)
    if abandon:
        # Worker threads still following a launch would keep the interpreter alive until it ends; leave
        # the way a crash does (the store already holds the intent; reconcile picks it up at the next start).
        stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)
    return 0


def _leave(shell: Shell, *, wait: bool) -> bool:
    """At the end of input: wait for teardowns always and for launches when asked.
    Returns False when launches are left in flight (the caller then exits without joining them)."""
    try:
        if wait and shell.flows_in_flight():
            names = ", ".join(f"`{v.name}`" for v in shell.flows_in_flight())
            shell.say(f"Waiting for {names} (launch or teardown in flight); Ctrl-C to leave.")
            shell.wait([])
        tearing = shell.flows_in_flight("teardown")
        if tearing:
            names = ", ".join(f"`{v.name}`" for v in tearing)
            shell.say(f"Waiting for the teardown of {names}: a half-done teardown keeps billing.")
            shell._until(lambda: not shell.flows_in_flight("teardown"))
        launching = shell.flows_in_flight("launch")
        if launching:
            _abandon_notice(shell, launching)
            return False
        _running_notice(shell)
        return True
    except KeyboardInterrupt:
        left = shell.flows_in_flight()
        if left:
            _abandon_notice(shell, left)
        return not left


def _abandon_notice(shell: Shell, views: Sequence[EndpointView]) -> None:
    for view in views:
        shell.say(
            f"Leaving `{view.name}` {tx.STATE_WORDS[view.state]}: its API key lives only in this process, so "
            f"the next `endpoint-bot` start tears it down; until then its cluster's own deadline "
            f"({tx.utc(view.expires_at)}) caps the bill. Use `wait` before `quit`, or `--wait`, to see it through."
        )


def _running_notice(shell: Shell) -> None:
    live = [v for v in shell.service.list() if v.state == S.READY]
    if live:
        names = ", ".join(f"`{v.name}` ({tx.price(v)})" for v in live)
        shell.say(
            f"Still running and billing: {names}. Each stops at its deadline; while no bot runs, nothing "
            "stops them for being idle. Start the shell again to watch them, or `down` them."
        )
