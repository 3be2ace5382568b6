"""Adapters that put the domain in front of people: the Slack app, the shell, and the CLI."""
