"""Bolt listeners, one package per kind (commands, actions, events), each exposing `register(app, deps)`."""
