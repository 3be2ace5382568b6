"""Benchmarks: scripts that print the figures the issues name (run them with .venv/bin/python -m benchmarks.NAME)."""
