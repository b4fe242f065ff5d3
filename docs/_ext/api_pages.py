"""One API page per package of pyproject's package list, written into ``docs/api/`` at every build.

A page documents the package's public names (its ``__all__``, each once, under the package's name) and then
each of its modules' docstrings, where the narrative, the sources and the examples live. Nothing is listed by
hand: the packages come from ``[tool.setuptools] packages``, the modules from the package folders.
"""

from __future__ import annotations

import importlib
import inspect
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api"


def _packages() -> tuple[list[str], dict[str, str]]:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return setuptools["packages"], setuptools.get("package-dir", {})


def _folder(package: str, mapping: dict[str, str]) -> Path:
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        mapped = mapping.get(".".join(parts[:cut]))
        if mapped is not None:
            return ROOT.joinpath(mapped, *parts[cut:])
    return ROOT.joinpath(*parts)


def _home(obj, packages: list[str]) -> str | None:
    """The deepest listed package that holds the module defining ``obj`` (None for plain values)."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str) or not module.startswith("stablesam"):
        return None
    holders = [p for p in packages if module == p or module.startswith(p + ".")]
    return max(holders, key=len) if holders else None


def _entry(qualified: str, obj) -> list[str]:
    """The autodoc directive for one public name: a class with its members, a function, or a value (shown when
    its ``repr`` is one short line; a long table such as ``METHODS`` is described by its own module)."""
    if inspect.ismodule(obj):  # a room of the package: its own page, listed under "Subpackages"
        return []
    if inspect.isclass(obj):
        return [f".. autoclass:: {qualified}", ""]
    if callable(obj):
        return [f".. autofunction:: {qualified}", ""]
    short = len(repr(obj)) <= 80 and "\n" not in repr(obj)
    return [f".. autodata:: {qualified}", *([] if short else ["   :no-value:"]), ""]


def _page(package: str, packages: list[str], mapping: dict[str, str]) -> str:
    """A class or function that two packages export is documented once, on its home package's page, and
    listed on the other's (Sphinx refuses two descriptions of one object)."""
    title = f"``{package}``"
    public = importlib.import_module(package).__all__
    documented, elsewhere = [], {}
    for name in public:
        home = _home(getattr(importlib.import_module(package), name), packages)
        if home is not None and home != package and name in importlib.import_module(home).__all__:
            elsewhere[name] = home
        else:
            documented.append(name)
    lines = [title, "=" * len(title), "", f".. automodule:: {package}", "   :no-members:", ""]
    module = importlib.import_module(package)
    for name in documented:
        lines += _entry(f"{package}.{name}", getattr(module, name))
    if elsewhere:
        lines += ["Also exported here: " + ", ".join(f":py:obj:`{name} <{home}.{name}>` (from :doc:`{home}`)"
                                                      for name, home in elsewhere.items()) + ".", ""]
    subpackages = [p for p in packages if p.rpartition(".")[0] == package]
    if subpackages:
        lines += ["Subpackages: " + ", ".join(f":doc:`{p}`" for p in subpackages) + ".", ""]
    modules = sorted(
        f"{package}.{path.stem}"
        for path in _folder(package, mapping).glob("*.py")
        if not path.stem.startswith("_")
    )
    if modules:
        lines += ["Modules", "-------", ""]
        for module in modules:
            # The module's docstring only: its public names are documented once, above, under the package.
            lines += [f"``{module.rpartition('.')[2]}``", "~" * (len(module.rpartition(".")[2]) + 4), "",
                      f".. automodule:: {module}", "   :no-members:",
                      # a module named as a public function of the package (theory's ``simulate``) yields the name
                      *(["   :no-index:"] if module.rpartition(".")[2] in public else []), ""]
    return "\n".join(lines)


def write_pages(app=None, out: Path = API) -> list[str]:
    """Write ``docs/api/`` afresh (a removed package leaves no stale page); the package names."""
    packages, mapping = _packages()
    out.mkdir(exist_ok=True)
    for stale in out.glob("*.rst"):
        stale.unlink()
    for package in packages:
        (out / f"{package}.rst").write_text(_page(package, packages, mapping))
    index = ["API reference", "=============", "",
             "Every public name of each package, as its ``__all__`` re-exports it, then each module's own "
             "documentation.", "", ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {package}" for package in packages]
    (out / "index.rst").write_text("\n".join(index) + "\n")
    return packages


def setup(app):
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
