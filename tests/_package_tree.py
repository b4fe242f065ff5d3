"""The package tree as pyproject.toml declares it: every module file of the repository with its dotted name.

One root, ``stablesam``; ``[tool.setuptools] package-dir`` maps the design card's top-level folders
(``theory/``, ``stability/``, ``analysis/``) under it. Read here once, so the layering and packaging tests
follow the declaration instead of repeating it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # tests/_package_tree.py sits at the top of tests/
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGES: list[str] = SETUPTOOLS["packages"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]


def package_folder(package: str) -> Path:
    """The folder of a dotted package name: the nearest mapped ancestor's folder, then the remaining parts."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        mapped = PACKAGE_DIR.get(".".join(parts[:cut]))
        if mapped is not None:
            return ROOT.joinpath(mapped, *parts[cut:])
    return ROOT.joinpath(*parts)


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of every declared package."""
    modules = {}
    for package in PACKAGES:
        for path in sorted(package_folder(package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def package_folders_on_disk() -> set[Path]:
    """Every folder with an ``__init__.py`` under the root package and the mapped folders."""
    tops = [ROOT / "stablesam", *(ROOT / folder for folder in PACKAGE_DIR.values())]
    return {init.parent for top in tops for init in top.rglob("__init__.py")}
