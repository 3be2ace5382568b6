"""The layers, read from the source: core never imports the adapters or Slack, bot/ and core/ have no import
circle, core/endpoints never imports core/watchdog, and no import in core/ runs up the layers (`CORE_LAYERS`).

Every `import` statement counts, also one inside a function: an import hidden in a function to dodge a
circle is still a circle. Inside a function, core/ imports only third-party packages that are slow to
import and seldom needed (sky, alembic, huggingface_hub), never its own modules.
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


# The order of core/'s layers, lowest first: a module imports only from its own layer or lower ones.
# A module belongs to the layer of the longest prefix naming it ("core" alone names only core/__init__.py).
CORE_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "core",
            "core.errors",
            "core.echo",
            "core.clock",
            "core.units",
            "core.apikeys",
            "core.private_files",
            "core.tls",
            "core.workers",
            "core.vocabulary",
            "core.policy.model",
            "core.policy.loader",
            "core.settings",
        ),
    ),
    ("hardware and model facts", ("core.gpus", "core.facts", "core.pricing")),
    ("hub", ("core.hub",)),
    ("fit and engines", ("core.fit", "core.engines", "core.readiness")),
    ("launcher and database", ("core.launcher", "core.db", "core.tables")),
    (
        "endpoint records",
        (
            "core.endpoints.states",
            "core.endpoints.views",
            "core.endpoints.records",
            "core.endpoints.models",
            "core.notifier",
            "core.claims",
            "core.replays",
            "core.usage",
        ),
    ),
    ("endpoint lifecycle", ("core.endpoints", "core.outbox", "core.policy")),
    ("watchdog", ("core.watchdog",)),
    ("wiring", ("core.wiring", "core.schema", "core.migrations", "core.settings_doc")),
)


def _imported(path: Path, *, in_functions_only: bool = False) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    if in_functions_only:
        nodes = (
            node
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(function)
        )
    else:
        nodes = ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _graph(
    modules: dict[str, Path],
    *,
    ignoring: frozenset[tuple[str, str]] = frozenset(),
    in_functions_only: bool = False,
) -> dict[str, set[str]]:
    """Module -> the project modules it imports (`from a.b import c` counts `a.b.c` when it is a module)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imported(path, in_functions_only=in_functions_only):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and (name, imported) not in ignoring:
                targets.add(imported)
        graph[name] = targets
    return graph


def _layer(module: str) -> int:
    """The index in CORE_LAYERS of the layer `module` belongs to (by its longest naming prefix)."""
    best: tuple[int, int] | None = None
    for index, (_name, prefixes) in enumerate(CORE_LAYERS):
        for prefix in prefixes:
            names_it = module == prefix or (prefix != "core" and module.startswith(prefix + "."))
            if names_it and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer of CORE_LAYERS: add it where it belongs"
    return best[0]


def _imports_up(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} ({CORE_LAYERS[_layer(module)][0]}) imports {target} ({CORE_LAYERS[_layer(target)][0]})"
        for module, targets in graph.items()
        for target in targets
        if _layer(target) > _layer(module)
    )


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


def test_core_has_no_import_circle() -> None:
    assert _circles(_graph(_modules("core"))) == []


def test_core_endpoints_never_import_the_watchdog() -> None:
    graph = _graph(_modules("core"))
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module == "core.endpoints" or module.startswith("core.endpoints.")
        for target in targets
        if target == "core.watchdog" or target.startswith("core.watchdog.")
    )
    assert wrong == []


def test_no_import_in_core_runs_up_the_layers() -> None:
    assert _imports_up(_graph(_modules("core"))) == []


def test_core_imports_its_own_modules_at_the_top_of_a_module_only() -> None:
    graph = _graph(_modules("core"), in_functions_only=True)
    assert (
        sorted(f"{module} imports {target} inside a function" for module, t in graph.items() for target in t)
        == []
    )


def test_the_layer_check_finds_an_import_up() -> None:
    graph = {"core.units": {"core.watchdog.runner"}, "core.watchdog.runner": {"core.units"}}
    assert _imports_up(graph) == ["core.units (foundation) imports core.watchdog.runner (watchdog)"]
