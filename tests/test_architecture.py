"""The package's import graph: no cycles, and the layers import only downward.

Every import counts: at the top of a module and inside a function (lazy); for the layers,
also an import by name in a string (``importlib.import_module("workbench.x")``, a dataset
spec's ``reader="workbench.data.movies:read_movies"``). The layers, lowest first, are
:data:`LAYERS`; docs/development.md lists them with the map of the package."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_NAMED = re.compile(r"^workbench(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$")
"""A string that names a module of the package (``workbench.tasks.content`` or
``workbench.data.movies:read_movies``): an import by name."""


def import_graph(package: Path = PACKAGE, by_name: bool = True) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source (``from a import
    b`` counts ``a.b`` when that is a module, else ``a``; with ``by_name``, a string naming a
    module counts as importing it)."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        package_of = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: ``from ..cli import app`` in workbench.data.x
                    anchor = package_of.split(".")[:len(package_of.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets |= {resolve(f"{base}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {resolve(a.name) for a in node.names}
            elif (by_name and isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and _NAMED.match(node.value)):
                targets.add(resolve(node.value.partition(":")[0]))
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
    """Counting imports inside functions; a lookup by name (a dataset spec's ``reader``,
    resolved when it runs) is no cycle, but it is held to the layers below."""
    assert cycles(import_graph(by_name=False)) == []


def test_the_cycle_finder_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("workbench", "workbench.settings", "workbench.storage", "workbench.errors",
                    "workbench.console", "workbench.tracking", "workbench.tracking_server",
                    "workbench.plots", "workbench.ray_connection")),
    ("data", ("workbench.data",)),
    ("engines", ("workbench.content", "workbench.collaborative", "workbench.evaluation",
                 "workbench.segments")),
    ("hybrid", ("workbench.hybrid", "workbench.enrich")),
    ("tasks", ("workbench.tasks", "workbench.serving")),
    ("experiments", ("workbench.experiments",)),
    ("pipeline", ("workbench.tasks.pipeline",)),
    ("entry points", ("workbench.cli", "workbench.dashboard", "workbench.serving_entry",
                      "workbench.__main__")),
]
"""The layers, lowest first: a module imports its own layer and those below, never one above.
A module belongs to the layer with the longest prefix matching its name (so
``workbench.tasks.pipeline``, which runs sweeps, sits above ``workbench.tasks``)."""


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``'s layer (the root package ``workbench``
    names only its ``__init__``: a module at the root must be listed itself)."""
    best, length = None, -1
    for n, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            covers = module == prefix or (prefix != "workbench"
                                          and module.startswith(prefix + "."))
            if covers and len(prefix) > length:
                best, length = n, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to the rules in "
                             f"docs/development.md)")
    return best


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module of a higher layer, as ``a (layer) -> b (layer)``."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                found.append(f"{module} ({LAYERS[layer_of(module)][0]}) -> {target} "
                             f"({LAYERS[layer_of(target)][0]})")
    return found


def test_every_module_is_in_a_layer() -> None:
    for module in import_graph():
        layer_of(module)
    with pytest.raises(AssertionError, match=r"workbench\.newmodule is in no layer"):
        layer_of("workbench.newmodule")  # a new root module must be placed on purpose


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(import_graph()) == []


@pytest.mark.parametrize(("where", "planted"), [
    ("data/schema.py", "\ndef _planted():\n    from workbench.cli import app\n    return app\n"),
    ("evaluation.py", "\nimport importlib\n_PLANTED = importlib.import_module("
                      "'workbench.hybrid.recommender')\n"),
    ("data/splits.py", "\ndef _planted():\n    from ..tasks import pipeline\n"
                       "    return pipeline\n"),
    ("collaborative/base.py", "\n_PLANTED = 'workbench.tasks.collaborative:check_parameters'\n"),
])
def test_an_upward_import_planted_in_a_copy_is_refused(tmp_path, where, planted) -> None:
    """The check can fail: a lazy, a by-name and a string import planted in a copy of the
    package are each found."""
    copy = tmp_path / "workbench"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert upward_imports(import_graph(copy)) == []
    with open(copy / where, "a", encoding="utf-8") as fh:
        fh.write(planted)
    found = upward_imports(import_graph(copy))
    assert len(found) == 1 and found[0].startswith(
        where.removesuffix(".py").replace("/", ".").join(["workbench.", ""])), found


def test_no_module_is_longer_than_600_lines() -> None:
    """Long modules hide several concerns: split them by concern."""
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert long == {}
