"""The layers, read from the source: core never imports the adapters or Slack, and bot/ has no import circle.

Every `import` statement counts, also one inside a function: an import hidden in a function to dodge a
circle is still a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imported(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (`from a.b import c` counts `a.b.c` when it is a module)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imported(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_core_never_imports_the_adapters_or_slack() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {imported}"
        for path in _modules("core").values()
        for imported in _imported(path)
        if imported.split(".")[0] in ("bot", "slack_bolt", "slack_sdk")
    ]
    assert wrong == []


def test_bot_has_no_import_circle() -> None:
    assert _circles(_graph(_modules("bot"))) == []


def test_slack_listeners_never_import_the_app_that_registers_them() -> None:
    graph = _graph(_modules("bot"))
    listeners = [name for name in graph if name.startswith("bot.slack.listeners")]
    assert len(listeners) >= 7
    assert [name for name in listeners if "bot.slack.app" in graph[name]] == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
