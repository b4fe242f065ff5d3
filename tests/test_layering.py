"""Imports run down only: core -> theory -> stability -> analysis -> stablesam (the CLI).

Every import of every module, at the top or inside a function (a lazy import is still a dependency), is read
with ``ast``; a module may import its own package and those below it. CLI subcommand modules (listed in
``stablesam.cli.COMMANDS``) do not import each other: what two share lives in a helper module
(``stablesam/cli/_*.py``, ``output.py``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from stablesam.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "theory", "stability", "analysis", "stablesam")
MODULES = sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Absolute dotted names of everything ``path`` imports (relative imports resolved against its package)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            names.update(f"{module}.{alias.name}" for alias in node.names)  # the name may be a submodule
            names.add(module)
    return names


def test_the_layers_are_all_found():
    assert {p.relative_to(ROOT).parts[0] for p in MODULES} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_down_only(path):
    layer = LAYERS.index(path.relative_to(ROOT).parts[0])
    upward = sorted(name for name in imported_modules(path) if name.split(".")[0] in LAYERS[layer + 1:])
    assert not upward, f"{path.relative_to(ROOT)} (layer {LAYERS[layer]}) imports {upward} from a layer above"


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommands_do_not_import_each_other(command):
    siblings = {f"stablesam.cli.{other}" for other in COMMANDS if other != command}
    found = sorted(imported_modules(ROOT / "stablesam" / "cli" / f"{command}.py") & siblings)
    assert not found, f"stablesam/cli/{command}.py imports the subcommand module(s) {found}"


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The test can fail: an upward import, even a lazy relative one, is found."""
    package = tmp_path / "theory"
    package.mkdir()
    (package / "bad.py").write_text("def f():\n    from analysis.hessian import HessianOperator\n    from . import quadratic\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    names = imported_modules(package / "bad.py")
    assert "analysis.hessian.HessianOperator" in names and "theory.quadratic" in names
