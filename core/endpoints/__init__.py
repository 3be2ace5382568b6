"""The endpoint concept: its states, tables, service functions, flows and messages."""
