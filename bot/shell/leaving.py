"""The end of a shell session: wait for teardowns (and launches when asked), say what is left running."""

from __future__ import annotations

from collections.abc import Sequence

from bot import text as tx
from bot.shell.session import Shell
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView

S = EndpointState


def leave(shell: Shell, *, wait: bool) -> bool:
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
            shell.wait_until(lambda: not shell.flows_in_flight("teardown"))
        launching = shell.flows_in_flight("launch")
        if launching:
            abandon_notice(shell, launching)
            return False
        _running_notice(shell)
        return True
    except KeyboardInterrupt:
        left = shell.flows_in_flight()
        if left:
            abandon_notice(shell, left)
        return not left


def abandon_notice(shell: Shell, views: Sequence[EndpointView]) -> None:
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
