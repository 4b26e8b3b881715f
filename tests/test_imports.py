"""The import drawing has no circles (issue 23): every ``import`` in tbviz, at the
top of a module, inside a function or under ``if TYPE_CHECKING:``, read from
the source."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "tbviz"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: runtime_imports(path, modules) - {name} for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_import_drawing_has_no_circles():
    graph = import_graph()
    assert "tbviz.core.diagnosis" in graph and graph["tbviz.commands.cli"]
    # A package's __init__ re-exporting its modules is not a circle worth naming.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    assert cycles(graph) == []


#: The floors of the house, lowest first: a module may import its own floor and
#: the ones below, never one above (README, Development).
FLOORS = [
    ("tbviz.errors", "tbviz.ray_auth", "tbviz.core"),
    ("tbviz.figures",),
    ("tbviz.logdir",),
    ("tbviz.live", "tbviz.commands", "tbviz.dashboard"),
    ("tbviz.trainer", "tbviz.lightning", "tbviz.ray", "tbviz.transformers"),
    ("tbviz.__main__", "tbviz"),
]


def floor(module: str) -> int:
    for level, prefixes in enumerate(FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    raise AssertionError(f"{module} is on no floor: add it to FLOORS")


def test_dependencies_point_downwards_only():
    upward = [
        f"{module} -> {imported}"
        for module, imports in import_graph().items()
        for imported in imports
        if floor(imported) > floor(module)
    ]
    assert upward == []
