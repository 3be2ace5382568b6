"""No function in core/ is longer than 80 lines (issue 11: read one job at a time). Alembic's
migrations are left out: each is one revision's DDL, written once and never edited."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80


def _files() -> list[Path]:
    return sorted(p for p in (ROOT / "core").rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts)


def _long_functions(source: str) -> list[tuple[str, int]]:
    tree = ast.parse(source)
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_over_80_lines(path: Path):
    assert _long_functions(path.read_text()) == []


def test_the_rule_catches_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert _long_functions(f"def long():\n{body}\n") == [("long", MAX_LINES + 1)]
    assert _long_functions(f"def short():\n{body[: body.rfind(chr(10))]}\n") == []
