"""Imports run down only: core -> theory -> stability -> analysis -> cli, all under the one root ``stablesam``.

Inside ``analysis`` the rooms run down too: curvature -> plots -> experiments -> figures -> verify (plots only
draw; experiments run and hand their tables to plots; the figure catalogue and ``verify`` read both). No module
imports itself back through a chain of others (no import cycles; typing-only imports under ``TYPE_CHECKING`` are
not imports at run time and do not count).

Every import of every module, at the top or inside a function (a lazy import is still a dependency), is read
with ``ast``; a module may import its own layer and those below it. CLI subcommand modules (listed in
``stablesam.cli.COMMANDS``) do not import each other: what two share lives in a helper module
(``stablesam/cli/_*.py``, ``output.py``). Nothing anywhere imports a bare ``core``, ``theory``, ``stability`` or
``analysis``: with one root, a researcher's own ``analysis/`` folder cannot shadow the toolkit.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from stablesam.cli import COMMANDS
from tests._package_tree import ROOT, module_files

LAYERS = ("stablesam.core", "stablesam.theory", "stablesam.stability", "stablesam.analysis", "stablesam.cli")
ROOMS = tuple(f"stablesam.analysis.{room}" for room in ("curvature", "plots", "experiments", "figures", "verify"))
BARE = {"core", "theory", "stability", "analysis"}
MODULES = module_files()


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Absolute dotted names of everything ``source`` (the module ``module``) imports.

    Relative imports are resolved against the module's package; ``from a import b`` yields ``a`` and ``a.b``
    (``b`` may be a submodule)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    names = set()
    tree = ast.parse(source)
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            imported = ".".join(filter(None, (base, node.module)))
            names.update(f"{imported}.{alias.name}" for alias in node.names)
            names.add(imported)
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _index_in(module: str, layers: tuple[str, ...]) -> int | None:
    for index, layer in enumerate(layers):
        if module == layer or module.startswith(layer + "."):
            return index
    return None


def layer_of(module: str) -> int | None:
    """Index in LAYERS of the layer holding ``module`` (None for the root package itself)."""
    return _index_in(module, LAYERS)


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    return imported_modules(path.read_text(), module, is_package=path.stem == "__init__")


def test_every_layer_has_modules():
    assert {layer_of(m) for m in MODULES} >= set(range(len(LAYERS)))


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) is not None))
def test_imports_run_down_only(module):
    layer = layer_of(module)
    upward = sorted(name for name in _imports(module) if (layer_of(name) or 0) > layer)
    assert not upward, f"{module} (layer {LAYERS[layer]}) imports {upward} from a layer above"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _index_in(m, ROOMS) is not None))
def test_analysis_rooms_import_down_only(module):
    room = _index_in(module, ROOMS)
    upward = sorted(name for name in _imports(module) if (_index_in(name, ROOMS) or 0) > room)
    assert not upward, f"{module} (room {ROOMS[room]}) imports {upward} from a room above"


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

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
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    graph = {m: {n for n in _imports(m) if n in MODULES and n != m} for m in MODULES}
    assert import_cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from stablesam.theory import quadratic\n"
    assert "stablesam.theory.quadratic" not in imported_modules(source, "x")


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommands_do_not_import_each_other(command):
    siblings = {f"stablesam.cli.{other}" for other in COMMANDS if other != command}
    found = sorted(_imports(f"stablesam.cli.{command}") & siblings)
    assert not found, f"stablesam/cli/{command}.py imports the subcommand module(s) {found}"


def _python_sources() -> dict[str, str]:
    """Every Python source of the repository (package, tests, benchmarks, scripts) and every notebook's code."""
    sources = {str(p.relative_to(ROOT)): p.read_text() for p in ROOT.rglob("*.py")
               if not {".venv", "build", "runs", ".git"} & set(p.relative_to(ROOT).parts)}
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        sources[str(notebook.relative_to(ROOT))] = "\n".join(l for l in code.splitlines() if not l.startswith(("%", "!")))
    return sources


@pytest.mark.parametrize("name, source", sorted(_python_sources().items()))
def test_nothing_imports_a_bare_layer_name(name, source):
    bare = sorted(n for n in imported_modules(source, "x") if n.split(".")[0] in BARE)
    assert not bare, f"{name} imports {bare}: import them as stablesam.<layer>"


def test_the_checker_sees_a_violation():
    """The tests can fail: an upward import, even a lazy relative one, and a bare layer name are found."""
    source = "def f():\n    from stablesam.analysis.curvature.hessian import HessianOperator\n    from . import quadratic\n"
    names = imported_modules(source, "stablesam.theory.bad")
    assert "stablesam.analysis.curvature.hessian.HessianOperator" in names and "stablesam.theory.quadratic" in names
    assert layer_of("stablesam.analysis.curvature.hessian") > layer_of("stablesam.theory.bad")
    assert "theory.quadratic" in imported_modules("import theory.quadratic\n", "x")
