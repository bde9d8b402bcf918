"""The package's shape: no import cycle, no module over 400 lines, reporting never trains.

The import graph is read from the source with `ast`: every ``import`` statement, also those inside
functions, except type-only ones under ``if TYPE_CHECKING:``. An edge goes to the module named
(``from a.b import c`` names ``a.b``, and ``a.b.c`` when that is a module), not to the packages
above it: a submodule importing a sibling is not a cycle through their package. What running a
package's ``__init__`` pulls in is checked at run time instead (the last test).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mdico_core"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(name: str) -> set[str]:
    """Modules of the package that module `name` imports."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]  # `from pkg import module`
        found.update(targets)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {m: _imports(m) for m in MODULES}


def _cycle() -> list[str] | None:
    """A cycle of the import graph (as a path ending where it starts), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for n in GRAPH[todo.pop()] - seen:
            seen.add(n)
            todo.append(n)
    return seen


def test_the_graph_walk_sees_lazy_and_relative_imports():
    assert "mdico_core.reporting.core.paper" in GRAPH["mdico_core.reporting.core.compare"]
    assert "mdico_core.methods" in GRAPH["mdico_core.reporting.core.compare"]  # imported inside a function
    assert "mdico_core.experiments.store" in GRAPH["mdico_core.reporting.book.archive"]
    assert "mdico_core.data.dataset" in GRAPH["mdico_core.data"]  # an __init__'s own imports


def test_the_package_has_no_import_cycle():
    assert _cycle() is None, " -> ".join(_cycle() or [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {n} lines: split it by idea"


def test_reporting_neither_trains_nor_sweeps():
    """Reporting reads the store: no module of it imports the fit loop, the runner or the executors."""
    forbidden = {"mdico_core.training", "mdico_core.experiments.executors", "mdico_core.experiments.runner",
                 "mdico_core.stacking"}
    for name in MODULES:
        if name.startswith("mdico_core.reporting"):
            assert not GRAPH[name] & forbidden, f"{name} imports {GRAPH[name] & forbidden}"
            assert not _reachable(name) & (forbidden - {"mdico_core.training"}), name


def test_importing_every_reporting_module_loads_no_sweep():
    """At run time too (a fresh interpreter): the experiments package must not load its executors."""
    mods = [m for m in MODULES if m.startswith("mdico_core.reporting")]
    code = (f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m in ('mdico_core.experiments.executors', "
            "'mdico_core.experiments.runner')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
