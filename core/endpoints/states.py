"""Endpoint states and the one table of legal transitions.

Invariant: a terminal state (STOPPED, FAILED, LOST) means the cluster is confirmed gone, so
reconcile can tear down any cluster whose endpoint is terminal. A failed launch therefore goes
through STOPPING (with `failure_reason` set) and ends in FAILED once the cluster is gone.
"""

from __future__ import annotations

import enum


class EndpointState(enum.StrEnum):
    REQUESTED = "REQUESTED"  # recorded, cluster name reserved; nothing asked of the cloud yet
    PROVISIONING = "PROVISIONING"  # launch submitted; the cloud is finding and booting machines
    STARTING = "STARTING"  # cluster is up; the engine is loading weights and warming up
    READY = "READY"  # a real chat completion succeeded with the endpoint's API key
    STOPPING = "STOPPING"  # teardown asked for (by a person, the watchdog or a failure), not yet confirmed
    STOPPED = "STOPPED"  # cluster confirmed gone after a normal stop
    FAILED = "FAILED"  # launch or readiness failed (see failure_reason); cluster confirmed gone
    LOST = "LOST"  # cluster vanished outside the bot (spot preemption, deleted by hand)

    @classmethod
    def terminal(cls) -> frozenset[EndpointState]:
        """States with no cluster behind them."""
        return frozenset({cls.STOPPED, cls.FAILED, cls.LOST})

    @classmethod
    def live(cls) -> frozenset[EndpointState]:
        """States in which a cluster may exist and bill (everything that is not terminal)."""
        return frozenset(set(cls) - cls.terminal())

    @classmethod
    def launching(cls) -> frozenset[EndpointState]:
        """States of a launch still being followed."""
        return frozenset({cls.REQUESTED, cls.PROVISIONING, cls.STARTING})

    @property
    def is_terminal(self) -> bool:
        return self in EndpointState.terminal()


_S = EndpointState
TRANSITIONS: dict[EndpointState, frozenset[EndpointState]] = {
    _S.REQUESTED: frozenset({_S.PROVISIONING, _S.STOPPING, _S.FAILED}),
    _S.PROVISIONING: frozenset({_S.STARTING, _S.STOPPING, _S.LOST}),
    _S.STARTING: frozenset({_S.READY, _S.STOPPING, _S.LOST}),
    _S.READY: frozenset({_S.STOPPING, _S.LOST}),
    _S.STOPPING: frozenset({_S.STOPPED, _S.FAILED, _S.LOST}),
    _S.STOPPED: frozenset(),
    _S.FAILED: frozenset(),
    _S.LOST: frozenset({_S.REQUESTED}),  # relaunch=yes: the same endpoint launches again
}


class IllegalTransition(Exception):
    """A programming error: a transition the table does not allow."""


def check_transition(current: EndpointState, new: EndpointState) -> None:
    """Raise IllegalTransition unless `current -> new` is in the table."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"{current} -> {new} is not a legal endpoint transition")
