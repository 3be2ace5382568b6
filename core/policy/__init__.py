"""Team policy: who may launch what, where, and how much (ENDPOINT_BOT_POLICY_FILE).

`model` (the file's shape, validated with pydantic), `loader` (YAML with line numbers in every
error, reloaded when the file changes), `rules` (pure evaluation: a request and a person's current
use in, a typed `Decision` out), `usage` (what a person or group uses now, read from the store) and
`admission` (the limits checked inside the transaction that records a launch). Group membership is
plain data handed in by the adapter (`Membership`); core never asks Slack.
"""

from core.policy.loader import PolicyError, PolicySource, load_policy
from core.policy.model import Policy
from core.policy.rules import Decision, Membership, PolicyRefused

__all__ = ["Decision", "Membership", "Policy", "PolicyError", "PolicyRefused", "PolicySource", "load_policy"]
