"""Launchers: how a cluster running an engine is started, found, followed and torn down."""
