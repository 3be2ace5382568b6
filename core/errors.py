"""Errors written for people.

Every exception that may reach a chat surface derives from `UserFacingError`: its message says
what failed and what to try next, and never contains a secret or a traceback.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose `str()` is a sentence a person can act on."""


class InvalidRequest(UserFacingError):
    """The request was malformed or impossible; nothing was changed."""


class NotFound(UserFacingError):
    """No such endpoint (or model, or GPU)."""


class PermissionDenied(UserFacingError):
    """The actor may not do this (only the owner or an admin may stop or extend)."""


class HubError(UserFacingError):
    """A Hugging Face Hub problem, already explained."""


class GatedModel(HubError):
    """The repository is gated and no token with access was sent."""


class ModelNotFound(HubError):
    """No such model on the Hub (or no such local directory)."""


class HubUnreachable(HubError):
    """The Hub could not be reached."""


class LaunchFailed(UserFacingError):
    """Launching, following or tearing down a cluster failed; the message says why."""


class BudgetExceeded(UserFacingError):
    """A cost cap (endpoint or team-wide) refuses the action."""


class CloudUnreachable(UserFacingError):
    """The cloud (SkyPilot's API server, or the launcher behind it) did not answer the last check."""
