"""Reporting's layers: imports go one way only, and the notebooks import the package's surface (issue 41).

`mdico_core.reporting` is split by concern into the sub-packages of `LAYERS`, lowest first. A module may
import from its own layer and the layers before it, never from a later one. Every import statement
counts, read from the source with `ast`: those inside functions and under ``if TYPE_CHECKING:`` too.
No module of the package imports the notebooks' surface (`SURFACE`, the package's own names), and the
notebooks import nothing else of it.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import mdico_core.reporting as reporting
from mdico_core.reporting import LAYERS, SURFACE

ROOT = Path(__file__).resolve().parents[1]
REPORTING = ROOT / "mdico_core" / "reporting"
PACKAGE = sorted((ROOT / "mdico_core").rglob("*.py"))


def named(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module or name) of each import statement of `source`, at any depth of the code."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            here = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base = ".".join(here + ([node.module] if node.module else []))
            out.append((node.lineno, base))
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return out


def layer(module: str) -> str | None:
    """The reporting layer a dotted name is in ("" for the package itself), or None outside reporting."""
    parts = module.split(".")
    if parts[:2] != ["mdico_core", "reporting"]:
        return None
    return parts[2] if len(parts) > 2 else ""


def imports_of(path: Path) -> list[tuple[int, str]]:
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    return named(path.read_text(), package)


def test_the_walk_sees_lazy_type_only_and_relative_imports():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a.b import C\n"
              "def f():\n    import d.e\n    from .g import h\n")
    found = {m for _, m in named(source, "x.y")}
    assert {"a.b", "d.e", "x.y.g", "x.y.g.h"} <= found


def test_every_reporting_module_is_in_a_layer():
    layers = {p.parent.name for p in REPORTING.glob("*/__init__.py")}
    assert layers == set(LAYERS), f"the sub-packages of reporting are {sorted(layers)}, LAYERS says {LAYERS}"
    flat = [p.name for p in REPORTING.glob("*.py") if p.name != "__init__.py"]
    assert not flat, f"{flat} in mdico_core/reporting/ itself: move each into the layer of its imports"
    deeper = [str(p.relative_to(REPORTING)) for p in REPORTING.rglob("*.py")
              if len(p.relative_to(REPORTING).parts) > 2]
    assert not deeper, f"{deeper}: a layer holds modules, not packages"


@pytest.mark.parametrize("path", sorted(p for p in REPORTING.rglob("*.py") if p.parent != REPORTING),
                         ids=lambda p: str(p.relative_to(REPORTING)))
def test_imports_go_one_way(path):
    here = path.relative_to(REPORTING).parts[0]
    assert here in LAYERS, f"{path.relative_to(ROOT)} is in {here}/, not a layer of {LAYERS}"
    against = [f"line {n}: {m}" for n, m in imports_of(path)
               if layer(m) in LAYERS and LAYERS.index(layer(m)) > LAYERS.index(here)]
    assert not against, (f"{path.relative_to(ROOT)} (layer {here}) imports a later layer ("
                         f"{' < '.join(LAYERS)}, lowest first): {against}")


@pytest.mark.parametrize("path", PACKAGE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_package_imports_no_surface(path):
    """The surface is the notebooks': code of the package names each module at its layer."""
    if path == REPORTING / "__init__.py":
        return
    wrong = [f"line {n}: {m}" for n, m in imports_of(path) if layer(m) not in (None, "", *LAYERS)]
    assert not wrong, f"{path.relative_to(ROOT)} imports mdico_core.reporting's surface, not a layer: {wrong}"


def notebook_imports(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.split("\n"))
    return [(n, m) for n, m in named(code, "") if layer(m) is not None]


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_import_only_the_surface(path):
    outside = [f"line {n}: {m}" for n, m in notebook_imports(path)
               if m != "mdico_core.reporting" and m.rpartition(".")[2] not in SURFACE]
    deep = [f"line {n}: {m}" for n, m in notebook_imports(path) if m.count(".") > 2]
    assert not outside and not deep, (f"{path.name} imports {outside + deep}: import from mdico_core.reporting "
                                      "(add the name to SURFACE in mdico_core/reporting/__init__.py)")


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_the_surface_resolves(name):
    module, _, attr = SURFACE[name].partition(":")
    assert layer(module) in LAYERS, f"SURFACE[{name!r}] = {SURFACE[name]!r} is not a module of a layer"
    target = importlib.import_module(module)
    assert getattr(reporting, name) is (getattr(target, attr) if attr else target)
    assert name in dir(reporting)
