"""The package's import graph: no cycles (counting imports inside functions too), and the
layers import only downward. Dynamic lookups by name (a dataset spec's ``reader``) are not
imports and are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source (``from a import
    b`` counts ``a.b`` when that is a module, else ``a``)."""
    modules = {_module_name(p): p for p in package.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {resolve(f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {resolve(a.name) for a in node.names}
        # importing a.b.c runs a and a.b first: a module's own packages are not edges
        graph[name] = {t for t in targets if t and t != name and not name.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(("lower", "upper"), [
    ("workbench.evaluation", "workbench.hybrid"),
    ("workbench.evaluation", "workbench.experiments"),
    ("workbench.data", "workbench.content"),
    ("workbench.data", "workbench.collaborative"),
    ("workbench.content", "workbench.enrich"),
    ("workbench.collaborative", "workbench.hybrid"),
    ("workbench.content", "workbench.hybrid"),
])
def test_a_lower_layer_does_not_import_an_upper_one(lower, upper) -> None:
    graph = import_graph()
    offending = {m: sorted(t for t in targets if t == upper or t.startswith(upper + "."))
                 for m, targets in graph.items() if m == lower or m.startswith(lower + ".")}
    assert not {m: t for m, t in offending.items() if t}
