"""The domain of endpoint-bot: fit check, model facts, endpoint lifecycle and watchdog.

Nothing in this package imports slack_bolt or slack_sdk; chat surfaces live in `bot/`.
"""
